"""Tiny models and synthetic data shared by the training-side tests (fast on 2 CPU cores)."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ftkit.models import SmallResNet


def tiny_resnet(num_classes: int = 3, seed: int = 0) -> SmallResNet:
    """A SmallResNet with 4-8 channels: every layer group, BN included, in a few thousand params."""
    torch.manual_seed(seed)
    return SmallResNet(num_classes, widths=(4, 8, 8, 8))


def eval_resnet_with_bn_stats(num_classes: int = 3) -> SmallResNet:
    """``tiny_resnet`` in eval mode with non-trivial batch-norm statistics, so that a runtime
    which ignored eval mode (or the running statistics) would give different logits."""
    m = tiny_resnet(num_classes)
    for module in m.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return m.eval()


def mlp(in_features: int = 8, num_classes: int = 3, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(in_features, 16), nn.ReLU(), nn.Linear(16, num_classes))


def mlp_groups(model: nn.Sequential) -> OrderedDict[str, nn.Module]:
    return OrderedDict(body=model[0], head=model[2])


def blobs(
    n_per_class: int = 40, num_classes: int = 3, dim: int = 8, seed: int = 0, spread: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Separable Gaussian blobs: class c is centred on 3 * e_c."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(num_classes).repeat_interleave(n_per_class)
    centres = 3 * torch.eye(num_classes, dim)
    x = centres[y] + spread * torch.randn(len(y), dim, generator=g)
    return x, y


def images(
    n_per_class: int = 16, num_classes: int = 3, size: int = 8, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, size, size) images whose class sets which colour channel is bright."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(num_classes).repeat_interleave(n_per_class)
    x = 0.5 * torch.randn(len(y), 3, size, size, generator=g)
    x[torch.arange(len(y)), y % 3] += 2.0
    return x, y


def loader(
    x: torch.Tensor, y: torch.Tensor, batch_size: int = 16, shuffle: bool = True, seed: int = 0
) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=g)


def image_loaders(seed: int = 0, batch_size: int = 16) -> tuple[DataLoader, DataLoader]:
    train = loader(*images(seed=seed), batch_size=batch_size, seed=seed)
    val = loader(*images(n_per_class=8, seed=seed + 100), batch_size=64, shuffle=False)
    return train, val


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], keys=None) -> bool:
    keys = a.keys() if keys is None else keys
    return all(torch.equal(a[k], b[k]) for k in keys)
