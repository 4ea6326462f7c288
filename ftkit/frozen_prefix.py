"""A frozen prefix computed once: train only the layers after it, on its cached outputs.

Frozen layers in eval mode compute the same function every epoch, so without augmentation their
outputs for a fixed dataset never change. Running them once and training the rest on the cached
activations gives the same batches, the same gradients and the same trained weights as training
through them (``tests/test_frozen_prefix.py`` checks it), for the cost of the trainable part.
It generalises the cached features of a linear probe (``ftkit.features``) to any depth, for
models whose forward is their layer groups applied in order (SqueezeNet; not a ResNet, whose
forward has functional glue between its groups).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ftkit import models


def split(model: nn.Module, n: int, example: torch.Tensor) -> tuple[nn.Sequential, nn.Sequential]:
    """The first ``n`` layer groups (to freeze and run once) and the rest (to train), sharing
    the model's modules. Checked on ``example``: ``rest(prefix(x))`` must equal ``model(x)``,
    else ``ValueError``."""
    groups = list(models.layer_groups(model).values())
    if not 1 <= n < len(groups):
        raise ValueError(f"n must be between 1 and {len(groups) - 1} frozen groups, got {n}")

    def chain(parts: Sequence[nn.Module]) -> nn.Sequential:
        flat = [m for g in parts for m in (g if isinstance(g, nn.ModuleList) else [g])]
        return nn.Sequential(*flat)

    prefix, rest = chain(groups[:n]), chain(groups[n:])
    was = model.training
    model.eval()
    with torch.no_grad():
        try:
            ok = torch.allclose(rest(prefix(example)), model(example), atol=1e-5)
        except RuntimeError:  # e.g. a linear head fed an unpooled feature map
            ok = False
    model.train(was)
    if not ok:
        raise ValueError(
            f"{type(model).__name__}'s forward is not its layer groups applied in order; "
            "split it by hand, or fine-tune it whole"
        )
    return prefix, rest


@torch.no_grad()
def cache(prefix: nn.Module, loader: DataLoader) -> TensorDataset:
    """``prefix``'s outputs (eval mode, no gradients) and the labels of every item of
    ``loader``'s dataset, in index order."""
    was = prefix.training
    prefix.eval()
    ordered = DataLoader(loader.dataset, batch_size=loader.batch_size or 256)
    acts, labels = zip(*[(prefix(x), torch.as_tensor(y)) for x, y in ordered])
    prefix.train(was)
    return TensorDataset(torch.cat(acts), torch.cat(labels))


def loaders(
    train: TensorDataset, val: TensorDataset, test: TensorDataset, *, batch_size: int, seed: int
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Loaders over cached activations, shuffled exactly like ``data.make_loaders(...,
    batch_size=batch_size, seed=seed)``: a run on the cache sees the same batches as a run
    through the frozen layers."""
    g = torch.Generator().manual_seed(seed)
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True, generator=g),
        DataLoader(val, batch_size=256),
        DataLoader(test, batch_size=256),
    )
