"""The one checksummed save/load: tampering is caught before unpickling, writes are atomic."""

import hashlib

import pytest
import torch

from ftkit import checkpoints, deploy, models
from ftkit.checkpoints import ChecksumError


def blob():
    return {"state_dict": {"w": torch.arange(6.0).view(2, 3)}, "classes": ["a", "b"]}


def test_round_trip_and_the_sha256_file_is_sha256sum_format(tmp_path):
    path = tmp_path / "m.pt"
    digest = checkpoints.save(blob(), path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (tmp_path / "m.pt.sha256").read_text() == f"{digest}  m.pt\n"
    loaded = checkpoints.load(path)
    assert torch.equal(loaded["state_dict"]["w"], blob()["state_dict"]["w"])
    assert loaded["classes"] == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.sha256"]  # no temp left


def test_a_tampered_file_is_refused_before_torch_load_sees_it(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    checkpoints.save(blob(), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    path.write_bytes(bytes(data))

    def never(*args, **kwargs):
        raise AssertionError("torch.load must not run on an unverified file")

    monkeypatch.setattr(torch, "load", never)
    with pytest.raises(ChecksumError, match="changed since it was saved"):
        checkpoints.load(path)
    assert models.ChecksumError is ChecksumError  # the name lesson 08 catches


def test_a_missing_or_empty_sha256_file_is_refused(tmp_path):
    path = tmp_path / "m.pt"
    checkpoints.save(blob(), path)
    (tmp_path / "m.pt.sha256").write_text("")
    with pytest.raises(ChecksumError, match="nothing"):
        checkpoints.load(path)
    (tmp_path / "m.pt.sha256").unlink()
    with pytest.raises(FileNotFoundError, match=r"m\.pt\.sha256"):
        checkpoints.load(path)


def test_an_existing_file_is_kept_unless_overwrite(tmp_path):
    path = tmp_path / "m.pt"
    first = checkpoints.save(blob(), path)
    with pytest.raises(ValueError, match="already exists.*overwrite=True"):
        checkpoints.save({"other": torch.zeros(1)}, path)
    assert checkpoints.sha256_of(path) == first
    second = checkpoints.save({"other": torch.zeros(1)}, path, overwrite=True)
    assert second != first and checkpoints.load(path).keys() == {"other"}


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    digest = checkpoints.save(blob(), path)

    def broken(obj, f, *args, **kwargs):
        open(f, "wb").write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        checkpoints.save(blob(), path, overwrite=True)
    assert checkpoints.verify(path) == digest  # the previous save is intact and still verifies
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.sha256"]


def test_models_and_deploy_write_the_same_format(tmp_path):
    model = models.SmallResNet(3, widths=(4, 8, 8, 8))
    info = models.BackboneInfo("embedded", 32, (0.5,) * 3, (0.25,) * 3)
    d1 = deploy.save_weights(model, tmp_path / "d.pt", classes=["a", "b", "c"], info=info)
    config = {"classes": ["a", "b", "c"], "widths": [4, 8, 8, 8], "blocks": [1, 1, 1, 1]}
    d2 = models.save_checkpoint(model, config, tmp_path / "m.pt")
    assert (
        checkpoints.verify(tmp_path / "d.pt") == d1 and checkpoints.verify(tmp_path / "m.pt") == d2
    )
    restored, _ = models.load_checkpoint(tmp_path / "m.pt")
    for name, tensor in model.state_dict().items():
        assert torch.equal(restored.state_dict()[name], tensor)


def test_the_bytes_are_those_of_a_plain_torch_save(tmp_path):
    """torch.save records the file's name inside the archive: the atomic write must not change
    it, or re-made checkpoints would stop matching their published sha256."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    torch.save(blob(), tmp_path / "a" / "model.pt")
    checkpoints.save(blob(), tmp_path / "b" / "model.pt")
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()
