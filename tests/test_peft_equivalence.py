"""The lesson's hand-written BitFit and LoRA against ftkit.adapters and Hugging Face peft.

The LoRA classes are taken from lesson 09's own code cell, so the code a learner reads is the
code tested here: same trainable parameter count as peft, same outputs from the same state.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import peft
import pytest
import torch
from torch import nn

from ftkit import adapters, evaluation, models

LESSON = Path(__file__).resolve().parents[1] / "lessons" / "09_parameter_efficient.ipynb"


@pytest.fixture(scope="module")
def lesson_lora() -> dict:
    """``LoRALinear``, ``LoRAConv2d`` and ``add_lora`` as the lesson defines them."""
    cells = json.loads(LESSON.read_text())["cells"]
    source = next(
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code" and "class LoRAConv2d" in "".join(c["source"])
    )
    namespace = {"nn": nn, "torch": torch}
    exec(compile(source, "lesson 09: LoRA by hand", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def backbone() -> nn.Module:
    return models.load_backbone("embedded")[0]


def fresh(backbone: nn.Module) -> nn.Module:
    return models.replace_head(copy.deepcopy(backbone), 10, seed=0).eval()


def copy_into_peft(by_hand: nn.Module, with_peft: peft.PeftModel, names: list[str]) -> None:
    """Give both the same nonzero A and B (as after training): peft's copy from the lesson's."""
    inner = with_peft.get_base_model()
    torch.manual_seed(1)
    with torch.no_grad():
        for name in names:
            mine, theirs = by_hand.get_submodule(name), inner.get_submodule(name)
            mine.B.weight.normal_(0, 0.1)
            theirs.lora_A["default"].weight.copy_(mine.A.weight)
            theirs.lora_B["default"].weight.copy_(mine.B.weight)


def test_hand_written_lora_equals_peft_on_the_backbones_convolutions(lesson_lora, backbone):
    names = adapters.target_modules(backbone)
    assert len(names) == 12 and "conv1" in names and "layer2.0.downsample.0" in names
    plain = fresh(backbone)
    by_hand = lesson_lora["add_lora"](fresh(backbone), names, r=4, alpha=8).eval()  # scale 2
    with_peft = adapters.lora(fresh(backbone), 4, alpha=8).eval()
    # same trainable parameters: 4 * (c_in * k * k + c_out) per convolution, plus the head
    expected = sum(
        4 * (m.in_channels * m.kernel_size[0] * m.kernel_size[1] + m.out_channels)
        for n, m in backbone.named_modules()
        if n in names
    ) + models.count_parameters(plain.fc)
    assert adapters.trainable_parameters(by_hand) == expected
    assert adapters.trainable_parameters(with_peft) == expected
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        # B = 0: both start as the pretrained model, exactly
        assert torch.equal(by_hand(x), plain(x)) and torch.equal(with_peft(x), plain(x))
        copy_into_peft(by_hand, with_peft, names)
        mine, theirs = by_hand(x), with_peft(x)
        assert (mine - plain(x)).abs().max() > 0.1  # the update does something
        assert torch.allclose(mine, theirs, atol=1e-5, rtol=0)
        merged = copy.deepcopy(with_peft).merge_and_unload()  # W + (alpha/r) B A, in place
        assert type(merged) is type(plain)
        assert torch.allclose(merged(x), mine, atol=1e-4, rtol=0)


def test_hand_written_lora_equals_peft_on_linear_layers(lesson_lora):
    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hidden, self.fc = nn.Linear(20, 32), nn.Linear(32, 5)

        def forward(self, x):
            return self.fc(torch.relu(self.hidden(x)))

    torch.manual_seed(0)
    base = MLP()
    by_hand = lesson_lora["add_lora"](copy.deepcopy(base), ["hidden"], r=3, alpha=6)
    config = peft.LoraConfig(r=3, lora_alpha=6, target_modules=["hidden"], modules_to_save=["fc"])
    with_peft = peft.get_peft_model(copy.deepcopy(base), config)
    assert adapters.trainable_parameters(by_hand) == 3 * (20 + 32) + 32 * 5 + 5
    assert adapters.trainable_parameters(with_peft) == adapters.trainable_parameters(by_hand)
    copy_into_peft(by_hand, with_peft, ["hidden"])
    x = torch.randn(16, 20)
    with torch.no_grad():
        assert torch.allclose(by_hand(x), with_peft(x), atol=1e-6, rtol=0)
        assert (by_hand(x) - base(x)).abs().max() > 0.01


def test_target_modules_are_exact_names_not_suffixes(backbone):
    config = adapters.lora_config(backbone, 2, layers="stem")
    assert adapters.target_modules(backbone, "stem") == ["conv1"]
    model = peft.get_peft_model(fresh(backbone), config)
    adapted = [n for n, m in model.named_modules() if isinstance(m, peft.tuners.lora.LoraLayer)]
    assert adapted == ["base_model.model.conv1"]
    # the pitfall the regular expression avoids: a list matches by suffix
    by_suffix = peft.get_peft_model(fresh(backbone), peft.LoraConfig(r=2, target_modules=["conv1"]))
    assert sum(isinstance(m, peft.tuners.lora.LoraLayer) for m in by_suffix.modules()) == 5
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        adapters.lora_config(backbone, 0)
    with pytest.raises(ValueError, match="valid names"):
        adapters.lora_config(backbone, 2, layers="layer9")


def test_bitfit_trains_norms_biases_and_the_head_only(backbone):
    model = adapters.bitfit(fresh(backbone))
    norms = sum(
        p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()
    )
    assert adapters.trainable_parameters(model) == norms + 128 * 10 + 10
    assert not any(
        p.requires_grad for m in model.modules() if isinstance(m, nn.Conv2d) for p in m.parameters()
    )
    with pytest.raises(TypeError, match="no fc/classifier/head"):
        adapters.bitfit(nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2)))


def test_task_bytes_count_what_a_task_changes(backbone):
    with_peft = adapters.lora(fresh(backbone), 4)
    assert adapters.task_bytes(with_peft) == 4 * adapters.trainable_parameters(with_peft)
    model = fresh(backbone)
    reference = copy.deepcopy(model.state_dict())
    assert adapters.task_bytes(model, reference) == 0
    with torch.no_grad():
        model.layer4[0].bn2.bias.add_(1.0)
    assert adapters.task_bytes(model, reference) == 4 * 128
    everything = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert adapters.task_bytes(model, {}) == everything
    with pytest.raises(ValueError, match="reference"):
        adapters.task_bytes(model)


def test_forgetting_is_measured_through_the_peft_wrapper(backbone):
    _, info = models.load_backbone("embedded")
    loader = evaluation.source_loader(info, per_class=2)
    source_head = evaluation.keep_source_head(backbone)
    before = evaluation.source_task_accuracy(backbone, source_head, info, loader=loader)
    with_peft = adapters.lora(fresh(backbone), 4)  # B = 0: the pretrained backbone
    assert evaluation.source_task_accuracy(with_peft, source_head, info, loader=loader) == before
    assert isinstance(with_peft.get_base_model().fc, peft.utils.ModulesToSaveWrapper)  # restored


def test_adapters_swap_and_merge(backbone):
    torch.manual_seed(0)
    model = adapters.lora(fresh(backbone), 2, adapter_name="digits")
    one = adapters.trainable_parameters(model)
    model.add_adapter("near", model.peft_config["digits"])
    model.set_adapter("near")
    assert adapters.trainable_parameters(model) == one  # only the active adapter trains
    inner = model.get_base_model()
    with torch.no_grad():
        for m in inner.modules():
            if isinstance(m, peft.tuners.lora.LoraLayer):
                m.lora_B["near"].weight.normal_(0, 0.1)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        out_near = model.eval()(x)
        model.set_adapter("digits")
        out_digits = model(x)
        assert (out_digits - out_near).abs().max() > 0.01
        model.set_adapter("near")
        merged = copy.deepcopy(model).merge_and_unload()
        assert torch.allclose(merged.eval()(x), out_near, atol=1e-4, rtol=0)
