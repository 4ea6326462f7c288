"""evaluation: predictions, accuracy, confusions, forgetting, weight change."""

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from ftkit import evaluation as ev
from ftkit import models
from ftkit.data import TensorImageDataset


class FixedPredictions(nn.Module):
    """Predicts ``answers[i]`` for the image whose first pixel is ``i``."""

    def __init__(self, answers: list[int], num_classes: int) -> None:
        super().__init__()
        self.answers = torch.tensor(answers)
        self.num_classes = num_classes
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idx = x[:, 0, 0, 0].long()
        return nn.functional.one_hot(self.answers[idx], self.num_classes).float() * self.scale


def indexed_loader(labels: list[int], classes: list[str]) -> DataLoader:
    images = torch.zeros(len(labels), 3, 2, 2, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(len(labels), dtype=torch.uint8)
    dataset = TensorImageDataset(images, torch.tensor(labels), classes, lambda im: im.float())
    return DataLoader(dataset, batch_size=3)


LABELS = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
ANSWERS = [0, 0, 0, 1, 1, 1, 2, 0, 0, 2]  # 6 of 10 right
CLASSES = ["a", "b", "c", "d"]  # "d" never appears


@pytest.fixture
def model_and_loader():
    return FixedPredictions(ANSWERS, 4).train(), indexed_loader(LABELS, CLASSES)


def test_predict_and_accuracy(model_and_loader):
    model, loader = model_and_loader
    preds, labels = ev.predict(model, loader)
    assert preds.tolist() == ANSWERS and labels.tolist() == LABELS
    assert ev.accuracy(model, loader) == pytest.approx(0.6)
    assert model.training  # mode restored


def test_per_class_accuracy(model_and_loader):
    result = ev.per_class_accuracy(*model_and_loader, CLASSES)
    assert result["a"] == pytest.approx(0.75)
    assert result["b"] == pytest.approx(2 / 3)
    assert result["c"] == pytest.approx(1 / 3)
    assert np.isnan(result["d"])


def test_confusion_and_most_confused(model_and_loader):
    cm = ev.confusion(*model_and_loader)
    expected = np.array([[3, 1, 0, 0], [0, 2, 1, 0], [2, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(cm, expected)
    assert ev.most_confused(cm, CLASSES, n=5) == [("c", "a", 2), ("a", "b", 1), ("b", "c", 1)]
    assert ev.most_confused(cm, CLASSES, n=1) == [("c", "a", 2)]


@pytest.fixture(scope="module")
def pretrained():
    model, info = models.load_backbone("embedded")
    loader = ev.source_loader(info, per_class=2)
    return model, info, loader


def test_source_task_accuracy_reads_the_backbone_through_the_kept_head(pretrained):
    model, info, loader = pretrained
    model = copy.deepcopy(model)
    direct = ev.accuracy(model, loader)  # the pretrained model, as it came
    assert len(loader.dataset) == 2 * 86 and direct > 0.5
    source_head = ev.keep_source_head(model)
    assert not any(p.requires_grad for p in source_head.parameters())
    models.replace_head(model, 10, seed=0)
    new_head = model.fc
    assert ev.source_task_accuracy(model, source_head, info, loader=loader) == pytest.approx(direct)
    assert model.fc is new_head  # restored
    with torch.no_grad():  # forgetting: damaging the backbone lowers source accuracy
        model.layer4[0].conv1.weight.normal_()
    assert ev.source_task_accuracy(model, source_head, info, loader=loader) < direct - 0.2


def test_swapped_head_restores_on_error(pretrained):
    model = copy.deepcopy(pretrained[0])
    own = model.fc
    with pytest.raises(RuntimeError):
        ev.source_task_accuracy(model, nn.Linear(7, 86), pretrained[1], loader=pretrained[2])
    assert model.fc is own


def test_weight_change_per_group():
    torch.manual_seed(0)
    model = models.SmallResNet(5, widths=(4, 8, 8, 8))
    reference = copy.deepcopy(model.state_dict())
    assert set(ev.weight_change(model, reference).values()) == {0.0}
    with torch.no_grad():
        model.layer2[0].conv1.weight.mul_(1.5)  # one of layer2's weights
    w = model.layer2[0].conv1.weight
    expected = (0.5 * w / 1.5).norm() / torch.cat(
        [reference[n].flatten() for n, _ in model.layer2.named_parameters(prefix="layer2")]
    ).norm()
    changes = ev.weight_change(model, reference)
    assert list(changes) == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert changes["layer2"] == pytest.approx(expected.item(), rel=1e-5)
    assert changes["layer1"] == 0.0 and changes["layer4"] == 0.0
    models.replace_head(model, 3)  # a new head has no pretrained counterpart
    assert "head" not in ev.weight_change(model, reference)


def test_shift_accuracy_uses_the_fixed_shift_test_set():
    from ftkit import data

    model, info = models.load_backbone("embedded")
    splits = data.load_target("shift", k=3, seed=5)
    models.replace_head(model, len(splits.classes), seed=0)
    loader = DataLoader(splits.test.with_transform(data.eval_transforms(info)), batch_size=256)
    assert ev.shift_accuracy(model, info) == pytest.approx(ev.accuracy(model, loader))
