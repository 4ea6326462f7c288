"""Freeze and unfreeze a model by layer group, and decide what frozen batch-norm layers do.

Freezing means ``requires_grad = False``: the optimizer never sees the parameter and autograd
stops at the first frozen layer it does not need. It says nothing about batch-norm *buffers*:
a BatchNorm layer in train mode keeps updating its running mean and variance even when its
weight and bias are frozen. That is the batch-norm policy, and ftkit makes it explicit:

- ``"frozen_eval"`` (the default, timm's and Keras's choice): BN layers whose parameters are all
  frozen run in eval mode, so a frozen group computes exactly the pretrained function. With a
  few labelled images per class, batch statistics are noisy and differ from the source data's;
  letting them drift would change the "frozen" features under the head while it trains.
- ``"train"`` (Lightning's and fastai's choice): frozen BN layers still update their running
  statistics, which adapts normalisation to the target domain (useful under a domain shift).

A layer counts as frozen when none of its parameters requires grad, so the policy also follows a
freeze written by hand (``for p in model.layer1.parameters(): p.requires_grad = False``).
``model.train()`` switches every layer back to train mode, so ``fit`` re-applies the policy at
the start of every epoch; call ``apply_bn_policy`` yourself after ``model.train()`` in your loop.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

from torch import nn

from ftkit import models

BN_POLICIES = ("frozen_eval", "train")
Groups = Mapping[str, nn.Module]


def resolve_groups(model: nn.Module, groups: Groups | None = None) -> OrderedDict[str, nn.Module]:
    """The layer groups to act on: ``groups`` if given, else ``models.layer_groups(model)``."""
    return OrderedDict(groups) if groups is not None else models.layer_groups(model)


def select_groups(groups: Groups, names: str | Iterable[str]) -> list[nn.Module]:
    """The modules of the named groups; an unknown name raises ``ValueError`` listing valid ones."""
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in groups]
    if unknown:
        raise ValueError(
            f"unknown layer group(s) {', '.join(map(repr, unknown))}; "
            f"valid names: {', '.join(groups)}"
        )
    return [groups[n] for n in names]


def _set_requires_grad(
    module_or_groups: nn.Module | Groups, names: str | Iterable[str] | None, flag: bool
) -> None:
    if names is None:
        modules = (
            list(module_or_groups.values())
            if isinstance(module_or_groups, Mapping)
            else [module_or_groups]
        )
    else:
        groups = (
            module_or_groups
            if isinstance(module_or_groups, Mapping)
            else models.layer_groups(module_or_groups)
        )
        modules = select_groups(groups, names)
    for module in modules:
        for p in module.parameters():
            p.requires_grad_(flag)


def freeze(module_or_groups: nn.Module | Groups, names: str | Iterable[str] | None = None) -> None:
    """Stop gradient updates: the whole module, or only the named layer groups.

    >>> model = models.SmallResNet(10, widths=(4, 8, 8, 8))
    >>> freeze(model, ["stem", "layer1"])
    >>> model.layer1[0].conv1.weight.requires_grad, model.layer2[0].conv1.weight.requires_grad
    (False, True)
    """
    _set_requires_grad(module_or_groups, names, False)


def unfreeze(
    module_or_groups: nn.Module | Groups, names: str | Iterable[str] | None = None
) -> None:
    """Make parameters trainable again: the whole module, or only the named layer groups."""
    _set_requires_grad(module_or_groups, names, True)


def freeze_to(model: nn.Module, n: int, groups: Groups | None = None) -> None:
    """Freeze the first ``n`` layer groups (from the input) and unfreeze the rest.

    ``n=0`` freezes nothing; ``n=-1`` freezes all but the last group (the head), like fastai.
    """
    groups = resolve_groups(model, groups)
    count = len(groups)
    if not -count <= n <= count:
        raise ValueError(f"n must be between {-count} and {count} for {count} groups, got {n}")
    n = n % count if n < 0 else n
    for i, module in enumerate(groups.values()):
        for p in module.parameters():
            p.requires_grad_(i >= n)


# --- batch norm ----------------------------------------------------------------------------


def set_bn_eval_in_frozen(model: nn.Module) -> int:
    """Put every BN layer whose parameters are all frozen into eval mode; return how many.

    BN layers without affine parameters cannot be told frozen or not and are left alone.
    """
    count = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                m.eval()
                count += 1
    return count


def apply_bn_policy(model: nn.Module, policy: str) -> None:
    """Apply a batch-norm policy after ``model.train()``: ``"frozen_eval"`` or ``"train"``."""
    if policy not in BN_POLICIES:
        raise ValueError(f"bn_policy must be one of {BN_POLICIES}, got {policy!r}")
    if policy == "frozen_eval":
        set_bn_eval_in_frozen(model)


# --- summaries -----------------------------------------------------------------------------


def trainable_summary(model: nn.Module, groups: Groups | None = None) -> list[dict]:
    """Per layer group: ``name``, ``params``, ``trainable`` (counts) and ``status``.

    ``status`` is ``"frozen"``, ``"partial"`` or ``"trainable"``. Parameters outside every group
    (rare) appear in a final ``"other"`` row so the counts always add up to the model's.
    """
    rows, seen = [], set()
    named = list(resolve_groups(model, groups).items())
    for name, module in named:
        params = [p for p in module.parameters() if id(p) not in seen]
        seen.update(id(p) for p in params)
        rows.append(_row(name, params))
    rest = [p for p in model.parameters() if id(p) not in seen]
    if rest:
        rows.append(_row("other", rest))
    return rows


def _row(name: str, params: list[nn.Parameter]) -> dict:
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    status = "frozen" if trainable == 0 else "trainable" if trainable == total else "partial"
    return {"name": name, "params": total, "trainable": trainable, "status": status}


def format_summary(rows: list[dict]) -> str:
    """A fixed-width table of ``trainable_summary`` rows, with a total line."""
    total = sum(r["params"] for r in rows)
    trainable = sum(r["trainable"] for r in rows)
    lines = [f"{'group':<12}{'params':>10}{'trainable':>11}  status"]
    lines += [
        f"{r['name']:<12}{r['params']:>10,}{r['trainable']:>11,}  {r['status']}" for r in rows
    ]
    share = 100 * trainable / max(total, 1)
    lines.append(f"{'total':<12}{total:>10,}{trainable:>11,}  {share:.1f}% trainable")
    return "\n".join(lines)
