"""Data augmentation helpers for lesson 05: compare pipelines and time them.

The augmentation pipelines themselves live in ``ftkit.data`` (``train_transforms``,
``standard_augmentation``); this module holds the small tools a lesson needs around them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def same_output(transform: Callable | None, reference: Callable, image: torch.Tensor, *,
                draws: int = 8, seed: int = 0) -> bool:
    """Whether ``transform`` and ``reference`` give identical tensors for ``draws`` random draws.

    Both are run from the same seed, so two random pipelines with the same steps and parameters
    in the same order agree exactly. Never raises: a missing or broken ``transform`` is ``False``.

    >>> from torchvision.transforms import v2
    >>> same_output(v2.RandomHorizontalFlip(0.5), v2.RandomHorizontalFlip(0.5), torch.zeros(3, 4, 4))
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
