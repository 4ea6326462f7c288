"""Checks run before training starts: do the data and the model fit together, and is every
number in range? One call near the top of ``fit``, ``lr_range_test`` and the probes, so that a
mistake costs a second, not an epoch.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ftkit.checks import (
    fail,
    is_tensor,
    learning_rate,
    non_negative,
    optional,
    seed_value,
    shown,
    whole_number,
)
from ftkit.compatibility import EMPTY_FIX, check_compatible, check_label_range


def loaders(model: nn.Module, train_loader: Iterable, val_loader: Iterable | None = None) -> None:
    """The loaders ``fit`` and ``lr_range_test`` are given, checked against the model before the
    first step (the numbers are ``fit_config.FitConfig``'s and ``lr_range_test``'s own checks):
    not empty, float images with the model's channels, integer labels below the head's width.
    A bad validation loader is found now, not after a full training epoch."""
    check_compatible(model, train_loader, name="train_loader")
    if val_loader is not None:
        check_compatible(model, val_loader, name="val_loader")


def probe_features(
    train_feats: object,
    train_labels: object,
    val_feats: object = None,
    val_labels: object = None,
    *,
    num_classes: object,
    epochs: object = 100,
    lr: object = 0.05,
    weight_decay: object = 0.0,
    batch_size: object = None,
    seed: object = 0,
    **_others: object,
) -> None:
    """Everything ``train_linear_probe`` is given: features (N, D), labels (N,), numbers."""
    classes = whole_number("num_classes", num_classes, minimum=2)
    whole_number("epochs", epochs, minimum=1)
    learning_rate("lr", lr)
    non_negative("weight_decay", weight_decay)
    optional(whole_number, "batch_size", batch_size, minimum=1)
    optional(seed_value, "seed", seed)
    for split, feats, labels in (
        ("train", train_feats, train_labels),
        ("val", val_feats, val_labels),
    ):
        if feats is None and labels is None and split == "val":
            continue
        if (feats is None) != (labels is None):
            raise fail(
                f"{split} features and labels go together",
                shown("only one of them"),
                f"pass both {split}_feats and {split}_labels, or neither.",
            )
        _feature_pair(split, feats, labels, classes)
    if val_feats is not None and val_feats.shape[1] != train_feats.shape[1]:
        raise fail(
            "train and val features must have the same width",
            shown(f"{train_feats.shape[1]} and {val_feats.shape[1]}"),
            "extract both at the same layer of the same backbone.",
        )


def _feature_pair(split: str, feats: object, labels: object, classes: int) -> None:
    is_tensor(f"{split}_feats", feats, ndim=2, floating=True)
    is_tensor(f"{split}_labels", labels, ndim=1)
    if len(feats) == 0:
        raise fail(f"{split}_feats is empty", shown("0 rows"), EMPTY_FIX)
    if len(feats) != len(labels):
        raise fail(
            f"{split} features and labels differ in length",
            shown(f"{len(feats)} and {len(labels)}"),
            "give one label per feature row.",
        )
    if not torch.isfinite(feats).all():
        raise fail(
            f"{split}_feats holds NaN or inf",
            shown("non-finite values"),
            "check the backbone (a diverged model gives NaN features).",
        )
    check_label_range(f"{split}_labels", labels, classes, f"a head with num_classes={classes}")


def probe_loaders(
    backbone: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    *,
    num_classes: object,
    probe_kwargs: dict | None = None,
    **others: object,
) -> None:
    """What a probe on a backbone is given: its numbers (checked before the features are
    extracted) and its loaders (non-empty, usable, labels below ``num_classes``)."""
    classes = whole_number("num_classes", num_classes, minimum=2)
    numbers = {**others, **(probe_kwargs or {})}
    whole_number("epochs", numbers.get("epochs", 1), minimum=1)
    learning_rate("lr", numbers.get("lr", 0.05))
    non_negative("weight_decay", numbers.get("weight_decay", 0.0))
    optional(whole_number, "batch_size", numbers.get("batch_size"), minimum=1)
    optional(seed_value, "seed", numbers.get("seed", 0))
    for name, loader in (("train_loader", train_loader), ("val_loader", val_loader)):
        if loader is not None:
            check_compatible(backbone, loader, classes, name=name, head=False, run_model=False)
