"""Data augmentation helpers for lesson 05: compare pipelines and time them.

The augmentation pipelines themselves live in ``ftkit.data`` (``train_transforms``,
``standard_augmentation``); this module holds the small tools a lesson needs around them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from ftkit import data, plots
from ftkit import widgets as ftwidgets
from ftkit.models import BackboneInfo


def same_output(
    transform: Callable | None,
    reference: Callable,
    image: torch.Tensor,
    *,
    draws: int = 8,
    seed: int = 0,
) -> bool:
    """Whether ``transform`` and ``reference`` give identical tensors for ``draws`` random draws.

    Both are run from the same seed, so two random pipelines with the same steps and parameters
    in the same order agree exactly. Never raises: a missing or broken ``transform`` is ``False``.

    >>> from torchvision.transforms import v2
    >>> flip = v2.RandomHorizontalFlip(0.5)
    >>> same_output(flip, flip, torch.zeros(3, 4, 4))
    True
    """
    if not callable(transform):
        return False
    try:
        with torch.random.fork_rng(devices=[]):
            outputs = []
            for t in (transform, reference):
                torch.manual_seed(seed)
                outputs.append([t(image) for _ in range(draws)])
        return all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(*outputs))
    except Exception:  # noqa: BLE001 -- an answer that cannot run is simply not the same
        return False


def seconds_per_image(transform: Callable, image: torch.Tensor, *, repeats: int = 200) -> float:
    """Mean wall time of ``transform(image)`` over ``repeats`` calls (RNG state restored)."""
    with torch.random.fork_rng(devices=[]):
        transform(image)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            transform(image)
        return (time.perf_counter() - start) / repeats


def augmentation_preview(
    image: torch.Tensor,
    info: BackboneInfo,
    *,
    rotation: float = 0.0,
    scale: float = 0.0,
    translate: float = 0.0,
    hflip: bool = False,
    color_jitter: float = 0.0,
    n: int = 7,
    seed: int = 0,
) -> Figure:
    """``n`` augmented views of ``image`` (3, H, W uint8) under ``data.train_transforms``;
    ``scale`` is the half-width of the zoom range ``(1 - scale, 1 + scale)``."""
    transform = data.train_transforms(
        info,
        rotation=rotation,
        scale=(1 - scale, 1 + scale),
        translate=translate,
        hflip_prob=0.5 if hflip else 0.0,
        color_jitter=color_jitter,
    )
    return plots.augmentation_grid(image, transform, n, mean=info.mean, std=info.std, seed=seed)


def augmentation_explorer(
    image: torch.Tensor, info: BackboneInfo, *, n: int = 7
) -> widgets.interactive:
    """Sliders for rotation, zoom, shift, flip and colour jitter over ``augmentation_preview``."""
    slider = {"continuous_update": False}
    return ftwidgets.explorer(
        augmentation_preview,
        image=widgets.fixed(image),
        info=widgets.fixed(info),
        rotation=widgets.FloatSlider(
            value=0, min=0, max=90, step=5, description="rotation°", **slider
        ),
        scale=widgets.FloatSlider(
            value=0, min=0, max=0.5, step=0.05, description="zoom ±", **slider
        ),
        translate=widgets.FloatSlider(
            value=0, min=0, max=0.3, step=0.02, description="shift", **slider
        ),
        hflip=widgets.Checkbox(value=False, description="h-flip"),
        color_jitter=widgets.FloatSlider(
            value=0, min=0, max=0.8, step=0.1, description="colour", **slider
        ),
        n=widgets.fixed(n),
        seed=widgets.IntSlider(value=0, min=0, max=20, description="seed", **slider),
    )
