"""Do the data and the model fit together? Checked on one batch before any training.

``check_compatible(model, loader)`` looks at one batch without disturbing anything: it reads the
first items of the dataset directly (the loader's shuffling generator is not advanced), runs the
model on two images in eval mode without gradients (modes restored), and leaves torch's, numpy's
and Python's random states as they were.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, Subset, TensorDataset

from ftkit import inference
from ftkit.checks import fail, shown, whole_number
from ftkit.devices import device_of

_EVAL_FIX = (
    "add v2.ToDtype(torch.float32, scale=True) and v2.Normalize to the dataset's transform, "
    "as data.eval_transforms(info) does."
)


def loader_size(name: str, loader: Iterable) -> int | None:
    """Batches per pass (``None`` if the loader cannot tell); refuses a loader with none."""
    try:
        batches = len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None
    if batches > 0:
        return batches
    if isinstance(loader, DataLoader) and not isinstance(loader.dataset, IterableDataset):
        images = len(loader.dataset)
        if images and loader.drop_last:
            raise fail(
                f"{name} yielded no batch: drop_last=True drops the only, incomplete batch",
                shown(f"{images} image(s) with batch_size={loader.batch_size}"),
                f"use drop_last=False, or batch_size={images} or less.",
            )
        raise fail(f"{name} yielded no batch: its dataset is empty", shown("0 images"), EMPTY_FIX)
    raise fail(f"{name} yielded no batch", shown("len(loader) == 0"), EMPTY_FIX)


EMPTY_FIX = "check the split or the folder that made it (every class needs images in it)."


@contextmanager
def untouched_random_state():
    """Run a block without changing torch's (CPU), numpy's or Python's global random state."""
    state_py, state_np = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(state_py)
            np.random.set_state(state_np)


def peek_batch(name: str, loader: Iterable) -> tuple | None:
    """A batch of up to two items made as the loader makes them, without advancing it.

    A ``DataLoader`` is looked at through its dataset (the sampler and its generator are not
    touched); a list of batches by its first one; any other iterable is not looked at.
    """
    with untouched_random_state():
        try:
            if isinstance(loader, DataLoader):
                dataset = loader.dataset
                if isinstance(dataset, IterableDataset) or len(dataset) == 0:
                    return None
                if loader.batch_size is None:  # the dataset yields whole batches
                    return loader.collate_fn(dataset[0])
                return loader.collate_fn([dataset[i] for i in range(min(2, len(dataset)))])
            if isinstance(loader, (list, tuple)):  # batches held in memory
                return loader[0] if loader else None
            return None  # any other iterable: looking at it could consume or count a batch
        except Exception as exc:
            raise fail(
                f"{name} cannot make a batch of images and labels",
                shown(f"{type(exc).__name__}: {exc}"),
                "each item must be (image tensor (3, H, W), integer label): " + _EVAL_FIX,
            ) from exc


def check_batch(name: str, batch: object, model: nn.Module | None = None) -> None:
    """Images (B, C, H, W) float with the model's channels; labels (B,) integer class indices."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise fail(f"{name} must yield (images, labels) pairs", shown(type(batch).__name__), "")
    x, y = batch
    if not isinstance(x, torch.Tensor):
        raise fail(f"{name} yields images that are not tensors", shown(type(x).__name__), _EVAL_FIX)
    channels = _input_channels(model) if model is not None else None
    if channels is not None:  # an image model (its first layer is a Conv2d)
        _check_images(name, x, channels)
    labels_fix = "labels must be class indices 0, 1, 2, ... as a (B,) integer tensor"
    if not isinstance(y, torch.Tensor) or y.is_floating_point() or y.ndim != 1:
        what = f"{y.dtype} of shape {tuple(y.shape)}" if isinstance(y, torch.Tensor) else type(y)
        extra = " (one-hot? use labels.argmax(1))" if getattr(y, "ndim", 0) == 2 else ""
        raise fail(
            f"{name} yields labels that are not class indices",
            shown(f"{what}{extra}"),
            labels_fix + ", e.g. labels.long().",
        )
    if y.dtype in (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32):
        raise fail(
            f"{name} yields {y.dtype} labels; the loss needs int64 class indices",
            shown(str(y.dtype)),
            "convert them with labels.long().",
        )
    if len(y) != len(x):
        raise fail(
            f"{name} yields different numbers of images and labels",
            shown(f"{len(x)} images, {len(y)} labels"),
            "give one label per image.",
        )


def _check_images(name: str, x: torch.Tensor, channels: int) -> None:
    """Float images (B, C, H, W) with the channels the model's first convolution takes."""
    seen = shown(f"{x.dtype} images of shape {tuple(x.shape[1:])} each")
    if not x.is_floating_point():
        raise fail(
            f"{name} yields {x.dtype} images (raw 0-255 pixel values); models need float input",
            seen,
            _EVAL_FIX,
        )
    if x.ndim != 4:
        raise fail(
            f"{name} must yield images as (batch, channels, height, width)",
            seen,
            "add a channel axis: a grayscale batch (B, H, W) becomes x.unsqueeze(1).expand(-1, 3, "
            "-1, -1); or load images with folders.image_folder_splits, which makes them RGB.",
        )
    if x.shape[1] != channels:
        if x.shape[-1] == channels:
            fix = "the channels are last (B, H, W, C): use x.permute(0, 3, 1, 2)."
        elif x.shape[1] == 1:
            fix = f"repeat the one channel: x.expand(-1, {channels}, -1, -1) or v2.RGB()."
        else:
            fix = f"give the model {channels}-channel images (RGB) as (B, {channels}, H, W)."
        raise fail(
            f"the model takes {channels}-channel images (B, {channels}, H, W); {name} gives others",
            seen,
            fix,
        )


def _input_channels(model: nn.Module) -> int | None:
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return first.in_channels if first is not None else None


def all_labels(dataset: object) -> torch.Tensor | None:
    """Every label of a dataset when it keeps them (ftkit's, ImageFolder, TensorDataset)."""
    if isinstance(dataset, Subset):
        inner = all_labels(dataset.dataset)
        return (
            inner[torch.as_tensor(dataset.indices, dtype=torch.long)] if inner is not None else None
        )
    for attr in ("labels", "targets"):
        found = getattr(dataset, attr, None)
        if found is not None:
            return torch.as_tensor(found)
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) == 2:
        return dataset.tensors[1]
    return None


@torch.no_grad()
def output_width(model: nn.Module, images: torch.Tensor, name: str) -> int:
    """How many logits the model gives per image (a forward on two images, in eval mode)."""
    try:
        with inference.eval_mode(model), untouched_random_state():
            logits = model(images[:2].to(device_of(model)))
    except RuntimeError as exc:
        raise fail(
            f"the model cannot run on the batches {name} yields",
            shown(f"{images.dtype} of shape {tuple(images.shape)}: {str(exc).splitlines()[0]}"),
            "give it float images of the backbone's input size (info.image_size), RGB, as "
            "(B, 3, H, W); data.eval_transforms(info) makes them.",
        ) from exc
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        what = f"shape {tuple(logits.shape)}" if isinstance(logits, torch.Tensor) else type(logits)
        raise fail(
            "the model must return logits (batch, classes)",
            shown(str(what)),
            "put a classifier head on it (models.replace_head).",
        )
    return logits.shape[1]


def check_label_range(name: str, labels: torch.Tensor, width: int, what: str) -> None:
    """Every label in ``0 .. width - 1``."""
    if labels.numel() == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0:
        raise fail(
            f"{name} has a negative label", shown(f"label {low}"), "use class indices 0, 1, 2, ..."
        )
    if high >= width:
        raise fail(
            f"{name} has labels up to {high}, but {what} has {width} outputs "
            f"(classes 0..{width - 1})",
            shown(f"label {high}"),
            f"the data has at least {high + 1} classes: use models.replace_head(model, "
            f"{high + 1}) (or num_classes={high + 1}), or fix the labels.",
        )


def check_compatible(
    model: nn.Module,
    loader: Iterable,
    num_classes: int | None = None,
    *,
    name: str = "train_loader",
    head: bool = True,
    run_model: bool = True,
) -> None:
    """Refuse, before any work, a loader that is empty or whose batches the model cannot train on.

    Checks: at least one batch; float images (B, C, H, W) with the model's channels; integer
    labels (B,); the model runs on them (``run_model``); every label below the head's width
    (``head=True``) or below ``num_classes`` (a head still to be trained, as in a probe).
    """
    loader_size(name, loader)
    batch = peek_batch(name, loader)
    if batch is None:
        return  # an iterable that cannot be looked at without consuming it
    check_batch(name, batch, model)
    images, labels = batch
    width = output_width(model, images, name) if run_model or head else None
    dataset = getattr(loader, "dataset", None)
    everything = all_labels(dataset) if dataset is not None else None
    labels = everything if everything is not None else labels
    if num_classes is not None:
        whole_number("num_classes", num_classes, minimum=2)
        check_label_range(name, labels, num_classes, f"a head with num_classes={num_classes}")
    if head:
        check_label_range(name, labels, width, "the model's head")
