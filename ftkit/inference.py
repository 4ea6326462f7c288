"""Running a model for its outputs: one helper, so every caller gets the modes right.

Inference runs in eval mode (dropout off, batch norm on its running statistics) under
``torch.inference_mode()`` (no autograd bookkeeping). Afterwards each module gets back *its
own* previous mode. ``model.train(was_training)`` would not do: it sets every submodule to the
model's flag, so a frozen batch-norm layer kept in eval inside a training model
(``freezing.apply_bn_policy``) would silently start updating its statistics again.

>>> model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
>>> _ = model[1].eval()  # a frozen BN inside a model in train mode
>>> with eval_mode(model):
...     model[0].training
False
>>> model.training, model[1].training
(True, False)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ftkit.devices import device_of, resolve_device, to_device

__all__ = ["eval_mode", "logits", "predictions", "preserved_modes"]


@contextmanager
def preserved_modes(model: nn.Module) -> Iterator[nn.Module]:
    """On exit (also on error or Ctrl-C), give every module back the ``training`` flag it had."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        yield model
    finally:
        for module, mode in modes:
            module.training = mode


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model.eval()`` inside the block; each module's own mode restored after it."""
    with preserved_modes(model):
        model.eval()
        yield model


def logits(
    model: nn.Module, loader: Iterable, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, C) and labels (N,) of every batch of ``loader``, on ``device``.

    ``device`` defaults to where the model is. Outputs stay on the device until the end (no
    per-batch copy to the host); they are ordinary tensors, usable outside inference mode.
    """
    device = device_of(model) if device is None else resolve_device(device)
    outputs, labels = [], []
    with eval_mode(model), torch.inference_mode():
        for x, y in loader:
            x, y = to_device(x, y, device)
            outputs.append(model(x))  # (B, C)
            labels.append(y)
    if not outputs:
        raise ValueError(
            "the loader yielded no batch: check that its dataset is not empty and, with "
            "drop_last=True, that it holds at least one full batch"
        )
    return torch.cat(outputs), torch.cat(labels)  # outside inference mode: normal tensors


def predictions(
    model: nn.Module, loader: Iterable, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true labels (N,), on the CPU."""
    out, labels = logits(model, loader, device)
    return out.argmax(1).cpu(), labels.cpu()
