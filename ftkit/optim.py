"""Optimizer param groups by layer group: discriminative LRs, no weight decay on norm and bias.

Each layer group (``models.layer_groups``) becomes its own param group with a ``name``, so one
LR per group is a dict away and frozen groups simply are not there. ``ftkit.training``
re-exports these; ``fit`` builds its optimizer with them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ftkit import freezing, models
from ftkit.regularization import no_decay_split

OPTIMIZERS = ("sgd", "adam", "adamw")


def _groups_for(
    model: nn.Module, groups: Mapping[str, nn.Module] | None, lr: float | Mapping[str, float]
) -> OrderedDict[str, nn.Module]:
    if groups is None and not isinstance(lr, Mapping):
        try:
            return models.layer_groups(model)
        except TypeError:  # an architecture ftkit does not know: one group is all a float lr needs
            return OrderedDict(model=model)
    return freezing.resolve_groups(model, groups)


def param_groups(
    model: nn.Module,
    lr: float | Mapping[str, float],
    *,
    weight_decay: float = 0.0,
    groups: Mapping[str, nn.Module] | None = None,
) -> list[dict]:
    """Optimizer param groups, one per layer group (and per decay / no-decay when decaying).

    Each dict has ``name`` (``"layer3"``, or ``"layer3/no_decay"`` for its norm and bias
    parameters when ``weight_decay > 0``), ``params``, ``lr`` and ``weight_decay``. Only
    trainable parameters appear, each exactly once; fully frozen groups are left out. ``lr`` is
    one float or a dict by group name (it may name frozen groups; it must cover the others).
    """
    named = _groups_for(model, groups, lr)
    if isinstance(lr, Mapping) and (extra := set(lr) - set(named) - {"other"}):
        raise ValueError(
            f"lr names unknown group(s) {sorted(extra)}; valid names: {', '.join(named)}"
        )
    seen: set[int] = set()
    out: list[dict] = []
    for name, module in [*named.items(), ("other", model)]:
        decay, no_decay = (
            [p for p in part if id(p) not in seen] for part in no_decay_split(module)
        )
        seen.update(id(p) for p in decay + no_decay)
        if not decay and not no_decay:
            continue
        if isinstance(lr, Mapping) and name not in lr:
            raise ValueError(
                f"lr has no entry for trainable group {name!r}; give one, or freeze it"
            )
        group_lr = float(lr[name] if isinstance(lr, Mapping) else lr)
        out += _split(name, decay, no_decay, group_lr, weight_decay)
    return out


def _split(name: str, decay: list, no_decay: list, lr: float, weight_decay: float) -> list[dict]:
    """One param group, or two when decaying: ``name`` and ``name/no_decay`` (norms, biases)."""
    if weight_decay == 0:
        return [{"name": name, "params": decay + no_decay, "lr": lr, "weight_decay": 0.0}]
    parts = [(name, decay, weight_decay), (f"{name}/no_decay", no_decay, 0.0)]
    return [
        {"name": part, "params": params, "lr": lr, "weight_decay": wd}
        for part, params, wd in parts
        if params
    ]


def discriminative_lrs(
    model_or_group_names: nn.Module | Mapping[str, nn.Module] | Sequence[str],
    head_lr: float,
    factor: float = 2.6,
) -> dict[str, float]:
    """Per-group LRs spaced geometrically from the head down: ``head_lr``, ``head_lr/factor``, ...

    Early layers hold general features that need little change, the head is new. ``2.6`` is
    ULMFiT's factor (Howard & Ruder, 2018).

    >>> discriminative_lrs(["stem", "layer1", "head"], 1e-2, factor=10)
    {'stem': 0.0001, 'layer1': 0.001, 'head': 0.01}
    """
    if isinstance(model_or_group_names, nn.Module):
        names = list(models.layer_groups(model_or_group_names))
    else:
        names = list(model_or_group_names)
    depth = len(names) - 1
    return {name: head_lr / factor ** (depth - i) for i, name in enumerate(names)}


def make_optimizer(
    groups: list[dict], optimizer: str = "sgd", *, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum), Adam or AdamW over ready-made param groups."""
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=momentum, nesterov=momentum > 0)
    if optimizer == "adam":
        return torch.optim.Adam(groups, lr=groups[0]["lr"])
    if optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=groups[0]["lr"])
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
