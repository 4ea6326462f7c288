"""Real photo targets: Tux Paint's stamps and Fashion-MNIST from Debian packages, textures from
scikit-image. Without the Debian packages these tests skip with the install command, except
under CI (``CI=true``), where a missing package fails them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ftkit import data, photos

APT = "sudo apt-get install dataset-fashion-mnist tuxpaint-stamps-default"
TUX_COUNTS = [67, 41, 38, 25, 20, 18]  # mammals, fruit, birds, flowers, insects, vegetables


def require(path) -> None:
    if path.is_dir():
        return
    reason = f"{path} is missing; install the Debian packages: {APT}"
    if os.environ.get("CI", "").lower() in {"true", "1", "yes"}:
        pytest.fail(reason + " (.ci/install-datasets does it); CI must run these", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def tux():
    require(photos.TUX_ROOT)
    return photos.tux_pool(96)


@pytest.fixture
def fashion():
    require(photos.FASHION_ROOT)
    return photos.fashion_pool(64)


def _disjoint(splits: data.Splits) -> None:
    """No image appears in two of train, validation and test (compared by pixels)."""
    keys = [{bytes(im.numpy()) for im in s.images} for s in (splits.train, splits.val, splits.test)]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])


def test_tux_stamps_by_category(tux):
    assert tux.classes == ("mammals", "fruit", "birds", "flowers", "insects", "vegetables")
    assert torch.bincount(tux.labels).tolist() == TUX_COUNTS
    assert tux.images.dtype == torch.uint8 and tux.images.shape == (209, 3, 96, 96)
    corners = tux.images[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == 255).float().mean() > 0.9  # cut-outs on white
    splits = data.load_target("tux", k=5, seed=0, image_size=96)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (30, 24, 125)
    assert torch.bincount(splits.test.labels).tolist() == [n - 14 for n in TUX_COUNTS]
    _disjoint(splits)


def test_tux_seeds_change_only_the_training_images(tux):
    a, b = (data.load_target("tux", k=5, seed=s, image_size=96) for s in (0, 1))
    assert torch.equal(a.val.images, b.val.images) and torch.equal(a.test.images, b.test.images)
    assert not torch.equal(a.train.images, b.train.images)
    full = data.load_target("tux", k=10, seed=0, image_size=96)
    assert full.k == 10 and len(full.train) == 60
    with pytest.raises(ValueError, match="1 to 10"):
        data.load_target("tux", k=11, image_size=96)


def test_tux_is_decoded_once_per_size(tux):
    assert photos.tux_pool(96) is tux  # cached per process
    small = photos.tux_pool(32)
    assert small.images.shape == (209, 3, 32, 32) and torch.equal(small.labels, tux.labels)


def test_fashion_mnist_few_shot(fashion):
    assert len(fashion.classes) == 10 and fashion.classes[9] == "Ankle boot"
    assert fashion.images.shape == (2200, 3, 64, 64)
    assert torch.equal(fashion.images[:, 0], fashion.images[:, 2])  # grayscale on 3 channels
    splits = data.load_target("fashion", k=10, seed=0, image_size=64)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (100, 200, 1000)
    assert torch.bincount(splits.test.labels).tolist() == [100] * 10
    _disjoint(splits)
    with pytest.raises(ValueError, match="1 to 100"):
        data.load_target("fashion", k=101, image_size=64)


def test_fashion_idx_files_decode_to_the_documented_shapes(fashion):
    images = photos.read_idx(photos.FASHION_ROOT / "t10k-images-idx3-ubyte.gz")
    labels = photos.read_idx(photos.FASHION_ROOT / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
    assert np.bincount(labels).tolist() == [1000] * 10


def test_textures_test_patches_come_from_the_other_half():
    pool = photos.textures_pool(96)
    assert pool.classes == ("brick", "grass", "gravel")
    counts = [int((pool.part == p).sum()) for p in (photos.TRAIN, photos.VAL, photos.TEST)]
    assert counts == [180, 60, 150]
    import skimage.data

    brick = torch.from_numpy(skimage.data.brick())
    test_brick = pool.images[(pool.part == photos.TEST) & (pool.labels == 0)][:, 0]
    left, right = brick[:, :256], brick[:, 256:]
    patch = test_brick[0]  # 96x96 source pixels, unresized at 96 px: found in the right half
    assert _contains(right, patch) and not _contains(left, patch)
    splits = data.load_target("textures", k=5, seed=0, image_size=64)
    assert splits.train.images.shape == (15, 3, 64, 64)
    _disjoint(splits)


def _contains(photo: torch.Tensor, patch: torch.Tensor) -> bool:
    """Whether ``patch`` is a crop of ``photo``: match its first row, then the whole patch."""
    size = patch.shape[0]
    ys, xs = torch.nonzero(photo.unfold(1, size, 1).eq(patch[0]).all(-1), as_tuple=True)
    return any(
        torch.equal(photo[y : y + size, x : x + size], patch)
        for y, x in zip(ys.tolist(), xs.tolist())
        if y + size <= photo.shape[0]
    )


def test_missing_debian_data_names_the_install_command_and_the_alternative(tmp_path, monkeypatch):
    monkeypatch.setenv("FTKIT_TUX_STAMPS", str(tmp_path / "none"))
    with pytest.raises(photos.DatasetUnavailableError, match="apt-get install tuxpaint-stamps"):
        data.load_target("tux", k=5)
    with pytest.raises(data.DatasetUnavailableError, match="image_folder_splits"):
        data.load_target("tux", k=5)
    monkeypatch.setenv("FTKIT_FASHION_MNIST", str(tmp_path))
    with pytest.raises(photos.DatasetUnavailableError, match="apt-get install dataset-fashion"):
        data.load_target("fashion", k=5)
    with pytest.raises(photos.DatasetUnavailableError, match="FashionMNIST"):
        data.load_target("fashion", k=5)


def test_unknown_target_lists_the_real_ones():
    with pytest.raises(ValueError, match="tux.*fashion.*textures"):
        data.load_target("imagenet", k=5)


def test_ci_and_binder_install_the_debian_packages():
    root = Path(__file__).resolve().parents[1]
    apt = (root / "binder" / "apt.txt").read_text().split("\n")
    listed = {line.strip() for line in apt if line.strip() and not line.startswith("#")}
    assert listed == {"dataset-fashion-mnist", "tuxpaint-stamps-default"}
    script = (root / ".ci" / "install-datasets").read_text()
    assert "apt-get update" in script and all(p in script for p in listed)
    assert "bash .ci/install-datasets" in (root / ".ci" / "run").read_text()
