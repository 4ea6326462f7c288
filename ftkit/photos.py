"""Real photographs as few-shot targets, read from where they are installed (nothing copied).

- ``tux``: Tux Paint's photo stamps (Debian ``tuxpaint-stamps-default``, GPL-2), six categories;
  each RGBA cut-out is cropped to its opaque part and composited on white.
- ``fashion``: Fashion-MNIST (Debian ``dataset-fashion-mnist``, MIT): 28x28 grayscale articles
  of clothing, upsampled and repeated over 3 channels.
- ``textures``: patches of scikit-image's brick, grass and gravel photos; training and
  validation patches come from the left half of each photo, test patches from the right half.

Each loader returns a ``PhotoPool`` whose ``part`` fixes, independently of any experiment's
seed, which images may be drawn for training, which validate and which test; ``data.load_target``
draws the k training images per class. Files are read on first use and the decoded pools kept
per process (``lru_cache``), so a second call costs nothing.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

TARGETS = ("tux", "fashion", "textures")
TRAIN, VAL, TEST = 0, 1, 2  # values of PhotoPool.part
TUX_ROOT = Path("/usr/share/tuxpaint/stamps")
FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")
#: class -> folder under the stamps root (searched recursively, drawings included)
TUX_CATEGORIES = {
    "mammals": "animals/mammals",
    "fruit": "food/fruit",
    "birds": "animals/birds",
    "flowers": "plants/flowers",
    "insects": "animals/insects",
    "vegetables": "food/vegetables",
}
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
TEXTURES = ("brick", "grass", "gravel")
SAMPLE_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
_SEED = 0  # which images are training candidates, validation and test: fixed


class DatasetUnavailableError(RuntimeError):
    """A real dataset's files are not installed on this machine."""


@dataclass(frozen=True)
class PhotoPool:
    """Images with labels and a fixed role per image (``part``: TRAIN, VAL or TEST)."""

    images: torch.Tensor  # uint8 (N, 3, S, S)
    labels: torch.Tensor  # int64 (N,)
    classes: tuple[str, ...]
    part: torch.Tensor  # int64 (N,)


def photo_pool(name: str, image_size: int) -> PhotoPool:
    """The pool of target ``name`` (one of ``TARGETS``) at ``image_size`` pixels."""
    if name == "tux":
        return tux_pool(image_size)
    if name == "fashion":
        return fashion_pool(image_size)
    if name == "textures":
        return textures_pool(image_size)
    raise ValueError(f"unknown photo target {name!r}; choose one of {TARGETS}")


def _roles(labels: np.ndarray, n_train: int, n_val: int, n_test: int | None) -> np.ndarray:
    """Per class (seeded shuffle): ``n_train`` candidates, ``n_val`` validation, then ``n_test``
    test images (``None``: all the rest)."""
    rng = np.random.default_rng(_SEED)
    part = np.full(len(labels), -1, dtype=np.int64)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        stop = None if n_test is None else n_train + n_val + n_test
        part[members[:n_train]] = TRAIN
        part[members[n_train : n_train + n_val]] = VAL
        part[members[n_train + n_val : stop]] = TEST
    return part


# --- Tux Paint stamps --------------------------------------------------------------------------


def tux_files(root: Path = TUX_ROOT) -> list[tuple[Path, int]]:
    """Every stamp image of the six categories, with its class index (sorted, stable)."""
    if not root.is_dir():
        raise DatasetUnavailableError(
            f"Tux Paint's stamps are not installed (no folder {root}). Install them with "
            "`sudo apt-get install tuxpaint-stamps-default` (Debian/Ubuntu), or use any folder "
            "of your own photos, one sub-folder per class, with folders.image_folder_splits()."
        )
    return [
        (path, label)
        for label, folder in enumerate(TUX_CATEGORIES.values())
        for path in sorted((root / folder).rglob("*.png"))
    ]


def stamp_on_white(path: Path, image_size: int) -> torch.Tensor:
    """One stamp: cropped to its opaque pixels, on white, padded square, resized; uint8
    (3, S, S)."""
    from PIL import Image

    with Image.open(path) as im:
        rgba = im.convert("RGBA")
    box = rgba.getchannel("A").getbbox() or (0, 0, *rgba.size)
    rgba = rgba.crop(box)
    side = max(rgba.size)
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.alpha_composite(rgba, ((side - rgba.width) // 2, (side - rgba.height) // 2))
    small = canvas.convert("RGB").resize((image_size, image_size), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(small).copy()).permute(2, 0, 1)


def tux_pool(image_size: int = 96) -> PhotoPool:
    """The six stamp categories: 10 training candidates and 4 validation images per class, the
    rest (125 images, imbalanced: use balanced accuracy) for testing. ``$FTKIT_TUX_STAMPS``
    overrides the stamps folder."""
    return _tux_pool(os.environ.get("FTKIT_TUX_STAMPS", str(TUX_ROOT)), image_size)


@lru_cache(maxsize=4)
def _tux_pool(root: str, image_size: int) -> PhotoPool:
    files = tux_files(Path(root))
    labels = np.array([label for _, label in files])
    images = torch.stack([stamp_on_white(path, image_size) for path, _ in files])
    part = _roles(labels, n_train=10, n_val=4, n_test=None)
    return PhotoPool(
        images, torch.from_numpy(labels), tuple(TUX_CATEGORIES), torch.from_numpy(part)
    )


# --- Fashion-MNIST -----------------------------------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """An idx file (gzipped) as a uint8 array: (N,) labels or (N, 28, 28) images."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


@lru_cache(maxsize=1)
def _fashion_gray(root: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """120 images per class from the official training file (100 candidates + 20 validation)
    and 100 per class from the official test file: (N, 28, 28) images, labels, parts."""
    directory = Path(root)
    names = ("train-images", "train-labels", "t10k-images", "t10k-labels")
    paths = [directory / f"{n}-idx{3 if 'images' in n else 1}-ubyte.gz" for n in names]
    if not all(p.exists() for p in paths):
        raise DatasetUnavailableError(
            f"Fashion-MNIST is not installed (no idx files in {directory}). Install it with "
            "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or, online, download "
            "it with torchvision.datasets.FashionMNIST(root, download=True)."
        )
    train_x, train_y, test_x, test_y = (read_idx(p) for p in paths)
    train_part = _roles(train_y, n_train=100, n_val=20, n_test=0)
    test_part = _roles(test_y, n_train=0, n_val=0, n_test=100)
    keep_train, keep_test = train_part >= 0, test_part >= 0
    images = np.concatenate([train_x[keep_train], test_x[keep_test]])
    labels = np.concatenate([train_y[keep_train], test_y[keep_test]]).astype(np.int64)
    return images, labels, np.concatenate([train_part[keep_train], test_part[keep_test]])


def fashion_pool(image_size: int = 64) -> PhotoPool:
    """Fashion-MNIST: 100 training candidates, 20 validation and 100 test images per class.
    ``$FTKIT_FASHION_MNIST`` overrides the folder of the four idx files."""
    return _fashion_pool(os.environ.get("FTKIT_FASHION_MNIST", str(FASHION_ROOT)), image_size)


@lru_cache(maxsize=2)
def _fashion_pool(root: str, image_size: int) -> PhotoPool:
    gray, labels, part = _fashion_gray(root)
    x = torch.from_numpy(gray).float().unsqueeze(1)  # (N, 1, 28, 28)
    x = F.interpolate(x, size=image_size, mode="bilinear", align_corners=False, antialias=True)
    images = x.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    return PhotoPool(images, torch.from_numpy(labels), FASHION_CLASSES, torch.from_numpy(part))


# --- textures ------------------------------------------------------------------------------


def _patches(photo: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], n: int, size: int,
             rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """``n`` random ``size`` x ``size`` patches lying wholly inside the given rows and cols."""
    ys = rng.integers(rows[0], rows[1] - size + 1, n)
    xs = rng.integers(cols[0], cols[1] - size + 1, n)
    return np.stack([photo[y : y + size, x : x + size] for y, x in zip(ys, xs)])


@lru_cache(maxsize=2)
def textures_pool(image_size: int = 96, patch: int = 96) -> PhotoPool:
    """Brick, grass and gravel (512x512 photos): 60 training candidates from the left half's
    top 3/4, 20 validation patches from its bottom quarter, 50 test patches from the right
    half, per class; ``patch`` source pixels resized to ``image_size``."""
    import skimage.data

    rng = np.random.default_rng(_SEED)
    regions = (((0, 384), (0, 256), 60), ((384, 512), (0, 256), 20), ((0, 512), (256, 512), 50))
    chunks, labels, parts = [], [], []
    for label, name in enumerate(TEXTURES):
        photo = getattr(skimage.data, name)()
        for part, (rows, cols, n) in enumerate(regions):
            chunks.append(_patches(photo, rows, cols, n, patch, rng))
            labels += [label] * n
            parts += [part] * n
    x = torch.from_numpy(np.concatenate(chunks)).float().unsqueeze(1)  # (N, 1, P, P)
    x = F.interpolate(x, size=image_size, mode="bilinear", align_corners=False, antialias=True)
    images = x.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    return PhotoPool(images, torch.tensor(labels), TEXTURES, torch.tensor(parts))


def sample_photos(names: tuple[str, ...] = SAMPLE_PHOTOS) -> dict[str, np.ndarray]:
    """scikit-image's bundled colour photos (uint8 (H, W, 3)), e.g. for ImageNet predictions.

    >>> sample_photos(("chelsea",))["chelsea"].shape
    (300, 451, 3)
    """
    import skimage.data

    return {name: getattr(skimage.data, name)() for name in names}
