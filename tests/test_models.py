import time
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from ftkit import models


def test_embedded_backbone_has_torchvision_resnet_anatomy():
    model, info = models.load_backbone("embedded")
    names = [n for n, _ in model.named_children()]
    assert names == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "fc",
    ]
    assert info.image_size == 32 and len(info.mean) == 3
    assert model.fc.out_features == len(info.source_classes) == 86
    assert 200_000 < models.count_parameters(model) < 1_000_000
    out = model.eval()(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 86)


def test_embedded_weights_load_fast_and_differ_from_random_init():
    start = time.perf_counter()
    model, _ = models.load_backbone("embedded")
    assert time.perf_counter() - start < 1.0
    fresh, _ = models.load_backbone("embedded", pretrained=False)
    assert not torch.equal(model.conv1.weight, fresh.conv1.weight)
    assert torch.equal(model.bn1.running_mean, model.bn1.running_mean)
    assert model.bn1.running_var.ne(1).any()  # pretrained statistics, not the defaults


def test_corrupt_checkpoint_is_refused(tmp_path):
    src = models.weights_dir() / models.CHECKPOINT_FILE
    bad = tmp_path / models.CHECKPOINT_FILE
    data = bytearray(src.read_bytes())
    data[-100] ^= 0xFF
    bad.write_bytes(bytes(data))
    (tmp_path / (bad.name + ".sha256")).write_text(
        (src.parent / (src.name + ".sha256")).read_text()
    )
    with pytest.raises(models.ChecksumError, match="changed since it was saved.*ftkit pretrain"):
        models.load_checkpoint(bad)


def test_missing_checkpoint_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="ftkit pretrain"):
        models.load_checkpoint(tmp_path / "nothing.pt")


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_torchvision_backbone_loads_from_the_hub_cache(tmp_path, monkeypatch, name):
    """The online path, exercised with a weights file placed where torchvision looks for it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference = torchvision.models.get_model(name, weights=None)
    path = models.cached_weights_path(name)
    assert path.parent == Path(torch.hub.get_dir()) / "checkpoints"
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    model, info = models.load_backbone(name)
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert info.image_size == 224 and len(info.source_classes) == 1000


def test_torchvision_backbone_offline_without_cache_explains_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(models.WeightsUnavailableError) as err:
        models.load_backbone("resnet18")
    message = str(err.value)
    assert "resnet18" in message and "no route to host" in message
    assert str(models.cached_weights_path("resnet18")) in message
    assert "load_backbone('embedded')" in message


def test_unknown_backbone_lists_choices():
    with pytest.raises(ValueError, match="embedded"):
        models.load_backbone("resnet9000")


def test_layer_groups_cover_resnet_and_mobilenet():
    model, _ = models.load_backbone("embedded")
    groups = models.layer_groups(model)
    assert list(groups) == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    grouped = {id(p) for g in groups.values() for p in g.parameters()}
    assert grouped == {id(p) for p in model.parameters()}
    mobile = torchvision.models.mobilenet_v3_small(weights=None)
    mgroups = models.layer_groups(mobile)
    assert next(iter(mgroups)) == "stem" and list(mgroups)[-1] == "head" and len(mgroups) == 6
    assert {id(p) for g in mgroups.values() for p in g.parameters()} == {
        id(p) for p in mobile.parameters()
    }
    with pytest.raises(TypeError, match="OrderedDict"):
        models.layer_groups(torch.nn.Linear(3, 3))


def test_replace_head_keeps_backbone_and_sets_classes():
    model, _ = models.load_backbone("embedded")
    conv = model.conv1.weight.clone()
    models.replace_head(model, 10, dropout=0.3)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    assert isinstance(model.fc[0], torch.nn.Dropout) and model.fc[0].p == 0.3
    assert torch.equal(conv, model.conv1.weight)
    mobile = models.replace_head(torchvision.models.mobilenet_v3_small(weights=None), 5)
    assert mobile.classifier[-1].out_features == 5
    with pytest.raises(ValueError, match="at least 2"):
        models.replace_head(model, 1)
