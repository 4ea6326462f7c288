"""The real ImageNet model: SqueezeNet 1.1 with ftkit's shipped weights, offline.

Checks the shipped file's checksum, what the network predicts on scikit-image's photos, that
torchvision's own weights give the same architecture and parameter names, and that the course's
plumbing (heads, layer groups, freezing, features, fit) works on it.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torchvision
from torch.utils.data import DataLoader, TensorDataset

from ftkit import features, freezing, imagenet, models, photos, training

SHIPPED_SHA256 = "eb84a560750873ff8cdeb56bb9fc8cb7f835a6c239838a037869ecd94e0afc11"
CATS = {"tabby", "tiger cat", "Egyptian cat"}


@pytest.fixture(scope="module")
def pretrained():
    return models.load_backbone("squeezenet1_1")


def test_the_shipped_file_is_the_converted_one():
    path = models.weights_dir() / imagenet.WEIGHTS_FILE
    assert models.sha256_of(path) == SHIPPED_SHA256
    sha_file = path.with_name(path.name + ".sha256").read_text()
    assert sha_file.split() == [SHIPPED_SHA256, imagenet.WEIGHTS_FILE]


def test_backbone_and_info(pretrained):
    model, info = pretrained
    assert isinstance(model, torchvision.models.SqueezeNet)
    assert models.count_parameters(model) == 1_235_496
    assert (info.name, info.image_size) == ("squeezenet1_1", 224)
    assert info.mean == (0.485, 0.456, 0.406) and info.std == (0.229, 0.224, 0.225)
    assert len(info.source_classes) == 1000
    assert info.source_classes[281] == "tabby" and info.source_classes[967] == "espresso"


def test_predictions_on_scikit_image_photos(pretrained):
    model, info = pretrained
    shown = photos.sample_photos(("chelsea", "coffee", "astronaut", "rocket"))
    preds = models.imagenet_predictions(model, list(shown.values()), info, top=5)
    chelsea, coffee = preds[0], preds[1]
    assert {name for name, _ in chelsea[:3]} <= CATS  # all three are cat classes
    assert sum(p for name, p in chelsea if name in CATS) > 0.9
    assert coffee[0][0] == "espresso" and coffee[0][1] > 0.9
    for row in preds:  # 5 distinct classes, probabilities sorted
        assert len({n for n, _ in row}) == 5
        assert [p for _, p in row] == sorted((p for _, p in row), reverse=True)


def test_predictions_take_tensors_and_restore_the_mode(pretrained):
    model, info = pretrained
    cat = torch.from_numpy(photos.sample_photos(("chelsea",))["chelsea"]).permute(2, 0, 1)
    model.train()
    (row,) = models.imagenet_predictions(model, cat, info, top=3)
    assert model.training and row[0][0] in CATS
    with pytest.raises(ValueError, match="uint8 RGB image"):
        models.imagenet_predictions(model, cat.float(), info)


def test_predictions_refuse_a_replaced_head(pretrained):
    model, info = models.load_backbone("squeezenet1_1")
    models.replace_head(model, 6, seed=0)
    cat = photos.sample_photos(("chelsea",))["chelsea"]
    with pytest.raises(ValueError, match="6 outputs but 1000 class names"):
        models.imagenet_predictions(model, cat, info)


def test_random_init_is_the_same_network_seeded_by_the_caller(pretrained):
    torch.manual_seed(3)
    a, info = models.load_backbone("squeezenet1_1", pretrained=False)
    torch.manual_seed(3)
    b, _ = models.load_backbone("squeezenet1_1", pretrained=False)
    ref = pretrained[0].state_dict()
    assert list(a.state_dict()) == list(ref) and info.name == "squeezenet1_1"
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in ref)
    assert not torch.equal(a.features[0].weight, ref["features.0.weight"])


def test_torchvision_weights_give_the_same_architecture_and_names(tmp_path, monkeypatch):
    """The online path, with a weights file placed where torchvision looks for it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = models.cached_weights_path("squeezenet1_1")
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.squeezenet1_1().state_dict(), path)
    theirs, their_info = models.load_backbone("squeezenet1_1", weights="torchvision")
    ours, our_info = models.load_backbone("squeezenet1_1", weights="ftkit")
    shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in theirs.state_dict().items()} == shapes
    assert type(theirs) is type(ours)
    assert their_info.source_classes == our_info.source_classes
    assert (their_info.mean, their_info.std) == (our_info.mean, our_info.std)
    assert not torch.equal(theirs.features[0].weight, ours.features[0].weight)


def test_torchvision_weights_offline_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("FTKIT_OFFLINE", "1")
    with pytest.raises(models.WeightsUnavailableError, match="weights='ftkit'"):
        models.load_backbone("squeezenet1_1", weights="torchvision")


def test_weights_choice_is_checked():
    with pytest.raises(ValueError, match="not available for 'resnet18'"):
        models.load_backbone("resnet18", weights="ftkit")


def test_a_corrupt_copy_is_refused(tmp_path, monkeypatch):
    src = models.weights_dir() / imagenet.WEIGHTS_FILE
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / src.name).write_bytes(bytes(data))
    (tmp_path / (src.name + ".sha256")).write_text(f"{SHIPPED_SHA256}  {src.name}\n")
    monkeypatch.setattr(models, "weights_dir", lambda: tmp_path)
    with pytest.raises(models.ChecksumError, match="convert-squeezenet"):
        models.load_backbone("squeezenet1_1")


def test_anatomy_head_and_groups():
    torch.manual_seed(0)
    model, _ = models.load_backbone("squeezenet1_1", pretrained=False)
    assert models.num_features(model) == 512  # the conv10 classifier's input channels
    groups = models.layer_groups(model)
    assert list(groups) == ["stem", "fire2_3", "fire4_5", "fire6_7", "fire8_9", "head"]
    covered = [id(p) for g in groups.values() for p in g.parameters()]
    assert sorted(covered) == sorted(id(p) for p in model.parameters())  # each exactly once
    models.replace_head(model, 6, dropout=0.3, seed=0)
    kinds = [type(m).__name__ for m in model.classifier]
    assert kinds == ["AdaptiveAvgPool2d", "Flatten", "Dropout", "Linear"]
    assert model.classifier[2].p == 0.3 and models.num_features(model) == 512
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 6)
    models.replace_head(model, 4)  # a second replacement keeps the pooled layout
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 4)


def test_features_freezing_and_fit_on_tiny_inputs():
    torch.manual_seed(0)
    model, _ = models.load_backbone("squeezenet1_1")
    images, labels = torch.randn(12, 3, 48, 48), torch.arange(12) % 3
    loader = DataLoader(TensorDataset(images, labels), batch_size=4)
    feats, got = features.extract_features(model, loader)
    with torch.no_grad():
        expected = model.features(images).mean(dim=(2, 3))
    assert feats.shape == (12, 512) and torch.equal(got, labels)
    torch.testing.assert_close(feats, expected)
    models.replace_head(model, 3, seed=0)
    feats_after, _ = features.extract_features(model, loader)
    torch.testing.assert_close(feats_after, expected)  # the head does not change the features
    fire2 = features.extract_features(model, loader, layer="fire2_3")[0]
    assert fire2.shape == (12, 128)
    freezing.freeze_to(model, 5)  # everything but the head
    trunk = [p.clone() for p in model.features.parameters()]
    history = training.fit(model, loader, loader, epochs=2, lr=1e-4, seed=0, progress=False)
    assert len(history.train_loss) == 2
    assert all(torch.equal(a, b) for a, b in zip(trunk, model.features.parameters()))
    assert OrderedDict(models.layer_groups(model))["head"] is model.classifier


def test_load_verified_names_the_remedy(tmp_path):
    with pytest.raises(FileNotFoundError, match="do this"):
        models.load_verified(Path(tmp_path) / "none.pt", "do this")
