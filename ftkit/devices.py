"""Where tensors live: choose the device once, move the model once, move batches without waiting.

The lowest layer of the core (it imports nothing from ftkit), so that every loop
(``training``, ``lr_finder``, ``features``, ``inference``) shares one rule for "which device".

>>> resolve_device("cpu")
device(type='cpu')
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

__all__ = ["device_of", "resolve_device", "to_device"]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device``, or CUDA when available, else the CPU: one code path for laptop and GPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_of(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (or buffer); the CPU when it has neither."""
    tensor = next(itertools.chain(module.parameters(), module.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def to_device(
    x: torch.Tensor, y: torch.Tensor | object, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch ``(x, y)`` on ``device`` (labels as a tensor).

    ``non_blocking=True`` lets a copy from pinned memory overlap with the GPU's work; on the CPU
    it is a no-op.
    """
    y = torch.as_tensor(y)
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)
