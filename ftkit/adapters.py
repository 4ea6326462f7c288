"""Parameter-efficient fine-tuning: train a few parameters, keep the pretrained weights intact.

- **BitFit** (Ben Zaken et al., 2022) selects existing parameters: only biases and the scales
  and shifts of normalisation layers train (our convolutions have no bias, so that is batch
  norm), plus the new head.
- **LoRA** (Hu et al., 2022) adds a trainable low-rank update beside each chosen frozen weight,
  ``W x + (alpha / r) B A x``, with ``B`` zero at the start so training starts from the
  pretrained function. It is built by Hugging Face ``peft`` (``LoraConfig`` +
  ``get_peft_model``), which works on any torch model; this module only turns ftkit's layer
  groups into peft's ``target_modules`` and keeps the new head trainable
  (``modules_to_save``).
- What a task costs: its trainable parameters, and the bytes that must be stored for it beside
  a shared backbone (``task_bytes``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import torch
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from torch import nn

from ftkit import freezing, models

#: Layers whose parameters are a scale and a shift of the activations (trained by BitFit).
NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)
#: Layers LoRA can adapt here (peft supports more: embeddings, 1d/3d convolutions ...).
LORA_TYPES = (nn.Conv2d, nn.Linear)


def bitfit(model: nn.Module) -> nn.Module:
    """Freeze every weight except biases, normalisation parameters and the head (in place).

    >>> model = bitfit(models.replace_head(models.SmallResNet(86), 10))
    >>> model.bn1.weight.requires_grad, model.conv1.weight.requires_grad
    (True, False)
    """
    _, head = models.head_of(model)
    model.requires_grad_(False)
    for module in model.modules():
        if isinstance(module, NORM_TYPES):
            module.requires_grad_(True)  # its scale (weight) and shift (bias)
        elif isinstance(getattr(module, "bias", None), nn.Parameter):
            module.bias.requires_grad_(True)
    head.requires_grad_(True)
    return model


def target_modules(
    model: nn.Module,
    layers: str | Iterable[str] | None = None,
    *,
    groups: Mapping[str, nn.Module] | None = None,
) -> list[str]:
    """Qualified names of the ``Conv2d``/``Linear`` modules inside the named layer groups.

    ``layers=None`` means every group but the head (the head is trained in full).

    >>> target_modules(models.SmallResNet(86), "layer4")
    ['layer4.0.conv1', 'layer4.0.conv2', 'layer4.0.downsample.0']
    """
    named = freezing.resolve_groups(model, groups)
    head_name = list(named)[-1]
    chosen = [n for n in named if n != head_name] if layers is None else layers
    modules = freezing.select_groups(named, chosen)
    wanted = {id(m) for group in modules for m in group.modules() if isinstance(m, LORA_TYPES)}
    return [name for name, m in model.named_modules() if id(m) in wanted]


def lora_config(
    model: nn.Module,
    rank: int,
    *,
    layers: str | Iterable[str] | None = None,
    alpha: float = 8.0,
    dropout: float = 0.0,
    groups: Mapping[str, nn.Module] | None = None,
) -> LoraConfig:
    """peft's ``LoraConfig`` for the ``Conv2d``/``Linear`` modules of ``layers``.

    ``alpha`` defaults to peft's 8. Keep it fixed when you vary the rank: with an Adam-type
    optimizer every entry of ``A`` and ``B`` moves by about the LR per step, so ``B A`` grows
    with ``r`` and the scale ``alpha / r`` cancels that (Hu et al. 2022 fix ``alpha`` for the same
    reason: no LR to retune per rank). ``target_modules`` is given as a
    regular expression of the exact names: peft matches a *list* by suffix, so ``"conv1"`` (the
    stem) would also catch every ``layerN.0.conv1``. The head is in ``modules_to_save``: trained
    in full, one copy per adapter.
    """
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be a positive integer, got {rank!r}; try 1, 4 or 16")
    names = target_modules(model, layers, groups=groups)
    if not names:
        raise ValueError(
            f"no Conv2d or Linear module in layers {layers!r}; LoRA has nothing to adapt"
        )
    head_name, _ = models.head_of(model)
    return LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules="|".join(re.escape(n) for n in names),
        modules_to_save=[head_name],
    )


def lora(
    model: nn.Module,
    rank: int,
    *,
    layers: str | Iterable[str] | None = None,
    alpha: float = 8.0,
    adapter_name: str = "default",
    groups: Mapping[str, nn.Module] | None = None,
) -> PeftModel:
    """``model`` with LoRA adapters of ``rank`` on ``layers`` (peft's ``get_peft_model``).

    Everything else is frozen; the head trains in full. The adapters start with ``B = 0``, so
    the returned model computes exactly what ``model`` did.
    """
    config = lora_config(model, rank, layers=layers, alpha=alpha, groups=groups)
    return get_peft_model(model, config, adapter_name=adapter_name)


def base_model(model: nn.Module) -> nn.Module:
    """The torch model inside a peft wrapper (with the adapters injected), else ``model``.

    Swap heads on this one: setting ``fc`` on the wrapper would not reach the forward pass.
    """
    return model.get_base_model() if isinstance(model, PeftModel) else model


def trainable_parameters(model: nn.Module) -> int:
    """How many parameters the optimizer will update."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def task_state(
    model: nn.Module, reference: Mapping[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """What must be stored for this task beside the shared pretrained backbone.

    A peft model: its active adapter's weights and head (``get_peft_model_state_dict``, what
    ``save_pretrained`` writes). Any other model: every state entry (weights *and* buffers such
    as batch-norm statistics) that is new or differs from ``reference``, the pretrained state.
    """
    if isinstance(model, PeftModel):
        return dict(get_peft_model_state_dict(model, adapter_name=model.active_adapter))
    if reference is None:
        raise ValueError("pass reference=the pretrained state_dict to tell what the task changed")
    return {
        k: v
        for k, v in model.state_dict().items()
        if k not in reference or reference[k].shape != v.shape or not torch.equal(reference[k], v)
    }


def task_bytes(model: nn.Module, reference: Mapping[str, torch.Tensor] | None = None) -> int:
    """Bytes of ``task_state``: the storage one more task costs."""
    return sum(t.numel() * t.element_size() for t in task_state(model, reference).values())
