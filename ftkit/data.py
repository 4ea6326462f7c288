"""Offline datasets, few-shot splits, image folders, loaders and transform presets.

Every target is held in memory as uint8 images (N, 3, S, S) with a fixed validation and test
split; only the k labelled training images per class depend on the seed. Transforms are
torchvision ``transforms.v2`` pipelines applied per sample, at train time only for augmentation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from ftkit import checks, photos
from ftkit.models import BackboneInfo
from ftkit.photos import DatasetUnavailableError  # noqa: F401  (raised by load_target)
from ftkit.source import glyphs

TARGETS = ("digits", "near", "shift", *photos.TARGETS)
TEST_PER_CLASS = 50
VAL_PER_CLASS = 20
_POOL_SEED = 20_000  # the generated targets' images: fixed, whatever the experiment's seed
_SOURCE_EVAL_SEED = 30_000  # the held-out source-task images used to measure forgetting
_SPLIT_SEED = 0  # which images are validation and test: fixed, so results compare across seeds


class TensorImageDataset(Dataset):
    """uint8 images (N, 3, H, W) with integer labels; ``transform`` maps one image to a tensor."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        classes: list[str],
        transform: Callable | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        labels = checks.label_tensor(labels, len(images))
        self.images, self.labels, self.classes, self.transform = (
            images,
            labels.long(),
            list(classes),
            transform,
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = self.images[i]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[i])

    def with_transform(self, transform: Callable | None) -> TensorImageDataset:
        """The same images seen through another transform (no copy of the pixels)."""
        return TensorImageDataset(self.images, self.labels, self.classes, transform)

    def subset(self, indices: torch.Tensor | np.ndarray | list[int]) -> TensorImageDataset:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return TensorImageDataset(self.images[idx], self.labels[idx], self.classes, self.transform)


@dataclass(frozen=True)
class Splits:
    """A target task: k-shot training set, fixed validation and test sets, class names."""

    train: TensorImageDataset
    val: TensorImageDataset
    test: TensorImageDataset
    classes: list[str]

    @property
    def k(self) -> int:
        return int(torch.bincount(self.train.labels).min())


def stratified_indices(labels: np.ndarray, counts: list[int], seed: int) -> list[np.ndarray]:
    """Disjoint index sets holding ``counts[j]`` images of every class each (``-1``: the rest)."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in counts]
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        needed = sum(n for n in counts if n > 0)
        if needed > len(members):
            raise checks.fail(
                f"class {c} has fewer images than asked for",
                checks.shown(f"{len(members)} images, {needed} asked for"),
                "ask for fewer per class (k, val_per_class, test_per_class), or add images.",
            )
        start = 0
        for j, n in enumerate(counts):
            stop = len(members) if n < 0 else start + n
            parts[j].extend(members[start:stop].tolist())
            start = stop
    return [np.sort(np.array(p, dtype=np.int64)) for p in parts]


def few_shot_splits(
    pool: TensorImageDataset,
    k: int,
    seed: int,
    *,
    val_per_class: int = VAL_PER_CLASS,
    test_per_class: int = TEST_PER_CLASS,
) -> Splits:
    """Fixed test and validation sets, then ``k`` training images per class chosen by ``seed``."""
    checks.seed_value("seed", seed)
    checks.whole_number("val_per_class", val_per_class)
    checks.whole_number("test_per_class", test_per_class)
    labels = pool.labels.numpy()
    test, val, rest = stratified_indices(labels, [test_per_class, val_per_class, -1], _SPLIT_SEED)
    available = int(np.bincount(labels[rest]).min())
    checks.whole_number("k", k, maximum=available, fix=_k_fix(available))
    (train_in_rest,) = stratified_indices(labels[rest], [k], seed)
    return Splits(
        pool.subset(rest[train_in_rest]), pool.subset(val), pool.subset(test), pool.classes
    )


@lru_cache(maxsize=2)
def digits_pool(image_size: int = 32) -> TensorImageDataset:
    """scikit-learn's 1,797 real handwritten digits (8x8 scans), drawn at the glyphs' scale."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    ink = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16  # (N, 1, 8, 8)
    inner = round(image_size * 0.75)  # glyphs fill about 3/4 of the canvas too
    ink = F.interpolate(ink, size=inner, mode="bilinear", align_corners=False)
    pad = (image_size - inner) // 2
    ink = F.pad(ink, (pad, image_size - inner - pad, pad, image_size - inner - pad))
    images = (ink.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    return TensorImageDataset(images, torch.tensor(digits.target), [str(d) for d in range(10)])


@lru_cache(maxsize=4)
def glyph_pool(style: str, image_size: int = 32, per_class: int = 120) -> TensorImageDataset:
    """The held-out glyph classes (never seen in pretraining): ``plain`` or ``stripes``."""
    images, labels = glyphs.glyph_set(
        glyphs.HELDOUT_CHARS, per_class, _POOL_SEED, image_size=image_size, style=style
    )
    return TensorImageDataset(images, labels, list(glyphs.HELDOUT_CHARS))


def load_target(name: str, *, k: int, seed: int = 0, image_size: int = 32) -> Splits:
    """A few-shot target task: ``"digits"`` (real scans), ``"near"`` (new glyph classes,
    near transfer), ``"shift"`` (the same new classes on stripes: a domain shift), or a real
    photo target (``ftkit.photos``): ``"tux"`` (Tux Paint's photo stamps, 6 classes, k <= 10),
    ``"fashion"`` (Fashion-MNIST, 10 classes, k <= 100), ``"textures"`` (brick, grass, gravel
    patches, k <= 60). Those read installed files and raise ``DatasetUnavailableError``, naming
    the install command, when they are missing.

    >>> splits = load_target("digits", k=10, seed=0)
    >>> len(splits.train), len(splits.val), len(splits.test)
    (100, 200, 500)
    """
    checks.whole_number("image_size", image_size, minimum=4, fix="e.g. image_size=32.")
    checks.seed_value("seed", seed)
    if name in photos.TARGETS:
        return photo_splits(photos.photo_pool(name, image_size), k, seed)
    if name == "digits":
        pool = digits_pool(image_size)
    elif name == "near":
        pool = glyph_pool("plain", image_size)
    elif name == "shift":
        pool = glyph_pool("stripes", image_size)
    else:
        raise checks.fail(
            "unknown target",
            name,
            f"choose one of {TARGETS}, or folders.image_folder_splits() for your own.",
        )
    return few_shot_splits(pool, k, seed)


def _k_fix(available: int) -> str:
    return (
        f"this pool has 1 to {available} labelled training images per class: pick k in that "
        "range (k=10 is a typical few-shot setting)."
    )


def photo_splits(pool: photos.PhotoPool, k: int, seed: int) -> Splits:
    """The pool's fixed validation and test images, and ``k`` of its training candidates per
    class chosen by ``seed``."""
    data = TensorImageDataset(pool.images, pool.labels, list(pool.classes))
    candidates = np.flatnonzero(pool.part.numpy() == photos.TRAIN)
    available = int(np.bincount(pool.labels.numpy()[candidates]).min())
    checks.whole_number("k", k, maximum=available, fix=_k_fix(available))
    (chosen,) = stratified_indices(pool.labels.numpy()[candidates], [k], seed)
    val, test = (torch.nonzero(pool.part == p).flatten() for p in (photos.VAL, photos.TEST))
    return Splits(
        data.subset(candidates[chosen]), data.subset(val), data.subset(test), data.classes
    )


def source_eval_set(per_class: int = 10, *, image_size: int = 32) -> TensorImageDataset:
    """Held-out images of the source task (86 glyph classes), to measure forgetting."""
    checks.whole_number("per_class", per_class)
    checks.whole_number("image_size", image_size, minimum=4, fix="e.g. image_size=32.")
    images, labels = glyphs.glyph_set(
        glyphs.SOURCE_CHARS, per_class, _SOURCE_EVAL_SEED, image_size=image_size, style="source"
    )
    return TensorImageDataset(images, labels, list(glyphs.SOURCE_CHARS))


# --- transforms ----------------------------------------------------------------------------


def eval_transforms(info: BackboneInfo) -> v2.Compose:
    """uint8 image -> float, normalised with the backbone's source statistics."""
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(info.mean, info.std)])


def train_transforms(
    info: BackboneInfo,
    *,
    rotation: float = 0.0,
    scale: tuple[float, float] = (1.0, 1.0),
    translate: float = 0.0,
    crop_padding: int = 0,
    hflip_prob: float = 0.0,
    vflip_prob: float = 0.0,
    color_jitter: float = 0.0,
) -> v2.Compose:
    """Augmentation then the eval transform. Every knob off by default (no augmentation)."""
    checks.augmentation(
        rotation, scale, translate, crop_padding, hflip_prob, vflip_prob, color_jitter
    )
    steps: list[Callable] = []
    if rotation or translate or scale != (1.0, 1.0):
        steps.append(
            v2.RandomAffine(degrees=rotation, translate=(translate, translate), scale=scale)
        )
    if crop_padding:
        steps.append(v2.RandomCrop(info.image_size, padding=crop_padding))
    if hflip_prob:
        steps.append(v2.RandomHorizontalFlip(hflip_prob))
    if vflip_prob:
        steps.append(v2.RandomVerticalFlip(vflip_prob))
    if color_jitter:
        steps.append(
            v2.ColorJitter(color_jitter, color_jitter, color_jitter, min(0.5, color_jitter / 2))
        )
    return v2.Compose([*steps, eval_transforms(info)])


def standard_augmentation(info: BackboneInfo) -> v2.Compose:
    """The label-preserving default for characters: small rotation, scale, shift and colour."""
    return train_transforms(info, rotation=10, scale=(0.9, 1.1), translate=0.08, color_jitter=0.3)


def make_loaders(
    splits: Splits,
    info: BackboneInfo,
    *,
    batch_size: int = 32,
    seed: int = 0,
    train_transform: Callable | None = None,
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train (shuffled by ``seed``), validation and test loaders; eval transforms by default."""
    checks.whole_number("batch_size", batch_size, fix="e.g. batch_size=32.")
    checks.seed_value("seed", seed)
    evaluate = eval_transforms(info)
    train = splits.train.with_transform(train_transform or evaluate)
    g = torch.Generator().manual_seed(seed)
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True, generator=g),
        DataLoader(splits.val.with_transform(evaluate), batch_size=256),
        DataLoader(splits.test.with_transform(evaluate), batch_size=256),
    )


def replace_transform(splits: Splits, transform: Callable | None) -> Splits:
    """The same splits with one transform on all three sets."""
    return replace(
        splits,
        train=splits.train.with_transform(transform),
        val=splits.val.with_transform(transform),
        test=splits.test.with_transform(transform),
    )
