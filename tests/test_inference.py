"""The one inference helper: eval mode inside, each module's own mode restored after.

The case that matters: a model in train mode whose frozen batch-norm layer is kept in eval
(``freezing.apply_bn_policy``). ``model.train(was_training)`` would flip that layer back to
train; every inference entry point must leave it exactly as it was.
"""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ftkit import deploy, evaluation, features, freezing, inference, training
from ftkit.models import BackboneInfo, SmallResNet


def mixed_mode_model() -> SmallResNet:
    torch.manual_seed(0)
    model = SmallResNet(3, widths=(4, 8, 8, 8))
    for m in model.modules():  # non-trivial running statistics, so train vs eval differ
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    model.train()
    model.bn1.eval()  # one frozen BN, as the frozen_eval policy leaves it
    return model


def modes(model: nn.Module) -> dict[str, bool]:
    return {name: m.training for name, m in model.named_modules()}


def loader() -> DataLoader:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10, 3, 16, 16, generator=g)
    return DataLoader(TensorDataset(x, torch.arange(10) % 3), batch_size=4)


ENTRY_POINTS = {
    "inference.logits": lambda m: inference.logits(m, loader()),
    "evaluation.predict": lambda m: evaluation.predict(m, loader()),
    "evaluation.accuracy": lambda m: evaluation.accuracy(m, loader()),
    "training.evaluate": lambda m: training.evaluate(m, loader()),
    "features.extract_features": lambda m: features.extract_features(m, loader()),
    "features.extract_features(layer2)": lambda m: features.extract_features(
        m, loader(), layer="layer2"
    ),
    "deploy.probabilities": lambda m: deploy.probabilities(m, loader()),
}


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_each_module_keeps_its_own_mode(name):
    model = mixed_mode_model()
    before = modes(model)
    assert before[""] and not before["bn1"] and before["layer1.0.bn1"]
    ENTRY_POINTS[name](model)
    assert modes(model) == before


def test_deploy_predict_keeps_modes(tmp_path):
    from PIL import Image

    model = mixed_mode_model()
    before = modes(model)
    Image.new("RGB", (20, 20), (200, 10, 10)).save(tmp_path / "x.png")
    info = BackboneInfo("tiny", 16, (0.5,) * 3, (0.25,) * 3)
    name, prob = deploy.predict(model, tmp_path / "x.png", info=info, classes=["a", "b", "c"])
    assert name in "abc" and 0 < prob <= 1
    assert modes(model) == before


def test_the_frozen_bn_policy_survives_evaluation_between_epochs():
    model = mixed_mode_model()
    model.train()
    freezing.freeze(model, "stem")
    freezing.apply_bn_policy(model, "frozen_eval")
    before = modes(model)
    assert not before["bn1"]
    evaluation.accuracy(model, loader())
    assert modes(model) == before


def test_outputs_are_computed_in_eval_mode_and_match_a_plain_forward():
    model = mixed_mode_model()
    out, labels = inference.logits(model, loader())
    reference = SmallResNet(3, widths=(4, 8, 8, 8))
    reference.load_state_dict(model.state_dict())
    reference.eval()
    with torch.no_grad():
        expected = torch.cat([reference(x) for x, _ in loader()])
    assert torch.allclose(out, expected, atol=1e-6)
    assert labels.tolist() == (torch.arange(10) % 3).tolist()
    assert not out.is_inference() and not out.requires_grad  # usable by ordinary code


def test_modes_are_restored_when_the_forward_fails():
    model = mixed_mode_model()
    before = modes(model)
    bad = DataLoader(TensorDataset(torch.randn(2, 5), torch.zeros(2)), batch_size=2)
    with pytest.raises(RuntimeError):
        inference.logits(model, bad)
    assert modes(model) == before


def test_predictions_and_an_empty_loader():
    model = mixed_mode_model()
    preds, labels = inference.predictions(model, loader())
    out, _ = inference.logits(model, loader())
    assert torch.equal(preds, out.argmax(1)) and preds.device.type == "cpu"
    empty = DataLoader(TensorDataset(torch.randn(0, 3, 16, 16), torch.zeros(0)), batch_size=2)
    with pytest.raises(ValueError, match="yielded no batch"):
        inference.logits(model, empty)
