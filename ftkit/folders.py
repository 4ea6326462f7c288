"""The learner's own photos: an image folder (one subfolder per class) as a few-shot target.

The folder is checked once, before any training, and every problem is reported at once with
its fix; nothing in the folder is ever moved or changed. The walk (links, loops, hidden and
non-image files) is ``ftkit.folder_scan``; decoding (modes, bit depths, orientation, size
limits) is ``ftkit.images``. An exact copy of an image within its class is used once (a copy
could land in training and test); a copy in two classes is an error.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from ftkit import checks
from ftkit.data import Splits, TensorImageDataset, stratified_indices
from ftkit.folder_scan import (
    IMAGE_EXTENSIONS,
    FolderScan,
    ImageFolderError,
    ImageFolderWarning,
    listing,
    scan_folder,
)
from ftkit.images import ImageFileError, load_rgb, read_rgb

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFolderError",
    "ImageFolderWarning",
    "find_unreadable",
    "image_folder_splits",
    "load_rgb",
    "open_image_folder",
    "scan_folder",
]


class _ScannedFolder(ImageFolder):
    """torchvision's ``ImageFolder`` over the samples of a checked scan (no second walk)."""

    def __init__(self, scan: FolderScan, transform=None) -> None:
        self._scan = scan
        super().__init__(str(scan.root), transform=transform, loader=load_rgb)

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        return list(self._scan.classes), {c: i for i, c in enumerate(self._scan.classes)}

    def make_dataset(self, directory, class_to_idx, extensions=None, is_valid_file=None, **kw):
        return list(self._scan.samples)


def open_image_folder(root: str | Path) -> ImageFolder:
    """An ``ImageFolder`` over ``root`` (RGB images) after checking its layout and links."""
    scan = _checked_scan(root)
    counts = scan.counts()
    empty = [f"{c}: no images{_skipped_in(scan, c)}" for c, n in zip(scan.classes, counts) if not n]
    if empty:
        raise ImageFolderError(_too_few(scan.root, empty, "at least 1 image"))
    _two_classes(scan.root, [c for c, n in zip(scan.classes, counts) if n])
    return _ScannedFolder(scan)


def _checked_scan(root: str | Path) -> FolderScan:
    scan = scan_folder(root)
    scan.raise_problems()
    if not scan.classes:
        loose = [s for s in scan.skipped if s.endswith("(not inside a class folder)")]
        raise ImageFolderError(
            f"{scan.root} has no class subfolders; got {len(loose)} loose file(s). Fix: arrange "
            f"images as my_photos/cat/001.jpg, my_photos/dog/001.jpg, ...; if {scan.root} is one "
            f"class, point at its parent {scan.root.parent} instead."
        )
    scan.warn_skipped()
    return scan


def _skipped_in(scan: FolderScan, name: str) -> str:
    prefix = str(scan.root / name)
    mine = [s for s in scan.skipped if s.startswith(prefix)]
    return f" ({len(mine)} file(s) skipped, e.g. {mine[0]})" if mine else ""


def _too_few(root: Path, lines: list[str], need: str) -> str:
    return (
        f"{len(lines)} class folder(s) in {root} have too few images; got:\n{listing(lines)}\n"
        f"Each class needs {need}. Fix: add images to these folders (JPEG or PNG), or move the "
        "folders out of the dataset."
    )


def _two_classes(root: Path, with_images: list[str]) -> None:
    if len(with_images) < 2:
        raise ImageFolderError(
            f"{root} holds images of only one class; got {with_images}. Fix: a classifier "
            "needs at least two class subfolders with images in each."
        )


def find_unreadable(dataset: ImageFolder) -> list[str]:
    """Every file of the dataset that cannot be decoded as an image, with the reason."""
    bad = []
    for path, _ in dataset.samples:
        try:
            read_rgb(path)
        except ImageFileError as exc:
            bad.append(str(exc))
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
    image_size = checks.whole_number(
        "image_size", image_size, fix="use the backbone's input size, info.image_size."
    )
    fractions = [
        checks.fraction(n, v)
        for n, v in (("val_fraction", val_fraction), ("test_fraction", test_fraction))
    ]
    if sum(fractions) >= 1:
        raise checks.fail(
            "val_fraction + test_fraction must be below 1 (training needs images)",
            sum(fractions),
            "e.g. val_fraction=0.2, test_fraction=0.2.",
        )
    checks.seed_value("seed", seed)
    scan = _checked_scan(root)
    _memory_check(len(scan.samples), image_size)
    images, labels, problems = _decode_all(scan, image_size)
    n_val, n_test, short = _split_sizes(scan, labels, fractions)
    problems += [short] if short else []
    if problems:  # every kind of problem at once, so that one round of fixes is enough
        head = f"{len(problems)} kinds of problem in {scan.root}:\n\n" if len(problems) > 1 else ""
        raise ImageFolderError(head + "\n\n".join(problems) + _UNTOUCHED)
    classes = scan.classes
    full = TensorImageDataset(torch.stack(images), torch.tensor(labels), classes)
    test, val, train = _split_per_class(np.array(labels), n_test, n_val, seed)
    return Splits(full.subset(train), full.subset(val), full.subset(test), classes)


def _decode_all(scan: FolderScan, image_size: int):
    """Every image decoded once, resized; unreadable files and cross-class copies listed."""
    resize = v2.Compose([v2.PILToTensor(), v2.Resize(image_size), v2.CenterCrop(image_size)])
    images, labels, bad, seen, copies, clashes = [], [], [], {}, [], []
    for path, label in scan.samples:
        try:
            picture, digest = read_rgb(path)
        except ImageFileError as exc:
            bad.append(str(exc))
            continue
        first = seen.setdefault(digest, (label, path))
        if first[1] != path:
            if first[0] == label:
                copies.append(f"{path} (an exact copy of {first[1]}, used once)")
            else:
                a, b = scan.classes[first[0]], scan.classes[label]
                clashes.append(f"{path} ({b!r}) is an exact copy of {first[1]} ({a!r})")
            continue
        images.append(resize(picture))  # (3, S, S) uint8
        labels.append(label)
    problems = []
    if bad:
        problems.append(
            f"{len(bad)} file(s) in {scan.root} cannot be read as images; got:\n{listing(bad)}\n"
            "Fix: re-save them or move them out of the folder."
        )
    if clashes:
        problems.append(
            f"{len(clashes)} image(s) in {scan.root} appear in two classes; got:\n"
            f"{listing(clashes)}\nFix: keep each picture in the one class it belongs to."
        )
    if copies:
        warnings.warn(
            f"{len(copies)} duplicate image(s):\n{listing(copies)}",
            ImageFolderWarning,
            stacklevel=3,
        )
    return images, labels, problems


_UNTOUCHED = "\n(ftkit changes nothing in the folder.)"


def _split_sizes(scan: FolderScan, labels: list[int], fractions: list[float]):
    classes = scan.classes
    counts = np.bincount(labels, minlength=len(classes))
    if len(classes) < 2:
        _two_classes(scan.root, classes)
    n_val = [max(1, round(c * fractions[0])) for c in counts]
    n_test = [max(1, round(c * fractions[1])) for c in counts]
    short = [i for i, c in enumerate(counts) if c - n_val[i] - n_test[i] < 1]
    if short:
        need = (
            f"at least {_minimum(fractions)}: one or more each for train, validation and "
            f"test with val_fraction={fractions[0]:g}, test_fraction={fractions[1]:g}"
        )
        found = scan.counts()
        lines = [
            f"{classes[i]}: {counts[i]} usable image(s)"
            if counts[i] or found[i]
            else f"{classes[i]}: no images{_skipped_in(scan, classes[i])}"
            for i in short
        ]
        return n_val, n_test, _too_few(scan.root, lines, need)
    return n_val, n_test, None


def _minimum(fractions: list[float]) -> int:
    """The fewest images a class may have to get one train, one val and one test image."""
    return next(
        c
        for c in range(3, 100_000)
        if c - max(1, round(c * fractions[0])) - max(1, round(c * fractions[1])) >= 1
    )


def _memory_check(n: int, image_size: int) -> None:
    needed = n * 3 * image_size * image_size
    try:
        import psutil

        available = psutil.virtual_memory().available
    except ImportError:
        return
    if needed > available / 2:
        raise checks.fail(
            f"{n} images at image_size={image_size} would take {needed / 1e9:.1f} GB of memory, "
            f"more than half of the {available / 1e9:.1f} GB free",
            image_size,
            f"use a smaller image_size (the backbone's info.image_size), e.g. "
            f"{max(1, math.isqrt(int(available / 4 / (3 * max(n, 1)))))} or less.",
        )


def _split_per_class(labels: np.ndarray, n_test: list[int], n_val: list[int], seed: int):
    parts: list[list[int]] = [[], [], []]
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        test, val, train = stratified_indices(labels[idx], [n_test[c], n_val[c], -1], seed)
        for part, chosen in zip(parts, (test, val, train)):
            part.extend(idx[chosen].tolist())
    return [np.sort(np.array(p)) for p in parts]
