"""The learner's own photos: an image folder (one subfolder per class) as a few-shot target.

Built on ``torchvision.datasets.ImageFolder``. Problems are found before any training starts
and reported all at once, with the fix; nothing in the folder is ever moved or changed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms import v2

from ftkit.data import Splits, TensorImageDataset, stratified_indices

_LAYOUT = "my_photos/cat/001.jpg, my_photos/cat/002.jpg, my_photos/dog/001.jpg, ..."


class ImageFolderError(ValueError):
    """The folder cannot be used as a dataset; the message says why and how to fix it."""


def load_rgb(path: str) -> Image.Image:
    """Open any image as RGB (grayscale and RGBA converted), naming the file if it is unreadable."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode == "RGBA" or (image.mode == "P" and "transparency" in image.info):
                white = Image.new("RGBA", image.size, (255, 255, 255, 255))
                return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageFolderError(
            f"cannot read image {path}: {exc}. Re-save it as JPEG/PNG or move it out of the folder."
        ) from exc


def open_image_folder(root: str | Path) -> ImageFolder:
    """``ImageFolder`` over ``root`` after checking the layout, with RGB conversion."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ImageFolderError(
            f"folder {root} does not exist (resolved to {root.resolve()}). Point at a folder with "
            f"one subfolder per class, like {_LAYOUT}"
        )
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ImageFolderError(f"{root} has no class subfolders. Arrange images as {_LAYOUT}")
    try:
        dataset = ImageFolder(str(root), loader=load_rgb)
    except FileNotFoundError as exc:
        raise ImageFolderError(
            f"{root} has class folders {classes} but no images in them (accepted extensions: "
            f"{', '.join(IMG_EXTENSIONS)}). Arrange images as {_LAYOUT}"
        ) from exc
    used = sorted({dataset.classes[t] for t in dataset.targets})
    if len(used) < 2:
        raise ImageFolderError(
            f"{root} holds images of only one class ({used[0]!r}); a classifier needs at least two "
            f"class subfolders with images in each."
        )
    return dataset


def find_unreadable(dataset: ImageFolder) -> list[str]:
    """Every file in the folder that PIL cannot decode, with the reason."""
    bad = []
    for path, _ in dataset.samples:
        try:
            with Image.open(path) as image:
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            bad.append(f"{path} ({type(exc).__name__}: {exc})")
    return bad


def image_folder_splits(
    root: str | Path,
    *,
    image_size: int,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Splits:
    """Load, check and split an image folder into stratified train / validation / test sets.

    Images are resized (shorter side) and centre-cropped to ``image_size`` and held in memory
    as uint8, so they use the same loaders, transforms and training code as the built-in targets.
    """
    dataset = open_image_folder(root)
    bad = find_unreadable(dataset)
    if bad:
        raise ImageFolderError(
            f"{len(bad)} file(s) in {root} cannot be read as images:\n  "
            + "\n  ".join(bad)
            + "\nRe-save them or move them out of the folder (ftkit changes nothing there)."
        )
    labels = np.array(dataset.targets)
    counts = np.bincount(labels, minlength=len(dataset.classes))
    n_val = [max(1, round(c * val_fraction)) for c in counts]
    n_test = [max(1, round(c * test_fraction)) for c in counts]
    if (counts - np.array(n_val) - np.array(n_test) < 1).any():
        few = [dataset.classes[i] for i in np.flatnonzero(counts < 3)]
        raise ImageFolderError(
            f"classes {few} have fewer than 3 images: need one each for train, "
            "validation and test. Add images to them."
        )
    resize = v2.Compose([v2.PILToTensor(), v2.Resize(image_size), v2.CenterCrop(image_size)])
    images = torch.stack([resize(load_rgb(path)) for path, _ in dataset.samples])  # (N, 3, S, S)
    full = TensorImageDataset(images, torch.tensor(labels), dataset.classes)
    test, val, train = _split_per_class(labels, n_test, n_val, seed)
    return Splits(full.subset(train), full.subset(val), full.subset(test), dataset.classes)


def _split_per_class(labels: np.ndarray, n_test: list[int], n_val: list[int], seed: int):
    parts: list[list[int]] = [[], [], []]
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        test, val, train = stratified_indices(labels[idx], [n_test[c], n_val[c], -1], seed)
        for part, chosen in zip(parts, (test, val, train)):
            part.extend(idx[chosen].tolist())
    return [np.sort(np.array(p)) for p in parts]
