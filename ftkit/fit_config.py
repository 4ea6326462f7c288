"""Every knob of ``fit`` in one typed object, checked before any work is done.

``fit(model, train_loader, val_loader, epochs=10, lr=0.01)`` builds a ``FitConfig`` from its
keywords; a bad value is refused by name, with the value seen and the fix, before the first
batch (a typo must not cost an epoch). Batches are checked as they arrive, on the host and
without a device sync: floating-point images, labels inside the head's range.

>>> FitConfig(epochs=3, lr=0.01).schedule
'constant'
>>> FitConfig(epochs=1.5)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ftkit.checks.InputError: epochs must be a whole number, at least 1; got 1.5. Fix: pass epochs=2 ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ftkit import checks
from ftkit.freezing import BN_POLICIES
from ftkit.optim import OPTIMIZERS
from ftkit.schedules import SCHEDULES

OptimizerFactory = Callable[[list[dict]], torch.optim.Optimizer]


@dataclass(frozen=True, kw_only=True)
class FitConfig:
    """The settings of one ``fit`` call (see ``fit`` for what each does)."""

    epochs: int
    lr: float | Mapping[str, float] = 1e-3  # one LR, or one per layer group (discriminative)
    optimizer: str | OptimizerFactory = "sgd"  # a name in OPTIMIZERS, or param_groups -> optim
    weight_decay: float = 0.0  # not on norms and biases (optim.param_groups)
    schedule: str = "constant"  # "constant", "cosine" or "onecycle", stepped per batch
    warmup_epochs: float = 0  # linear warm-up, converted to steps
    label_smoothing: float = 0.0  # of the default cross-entropy criterion
    criterion: nn.Module | None = None  # a loss module instead of the default cross-entropy
    l2sp: float = 0.0  # L2-SP strength, around the weights at the start of the call
    early_stopping: int | None = None  # patience in epochs on ``monitor``
    monitor: str = "val_acc"  # or "val_loss"
    clip_grad_norm: float | None = None  # max global gradient norm
    bn_policy: str = "frozen_eval"  # or "train" (ftkit.freezing)
    groups: Mapping[str, nn.Module] | None = None  # layer groups, by default the model's
    seed: int | None = None  # reseeds torch's global RNG; None leaves it alone
    device: str | torch.device | None = None  # default: CUDA when available, else the CPU
    progress: bool = False  # tqdm bars per epoch and per batch
    max_loss: float | None = None  # divergence limit; default 10 x ln(num_classes)
    on_divergence: str = "raise"  # or "stop": return the history with diverged=True

    def __post_init__(self) -> None:
        checks.whole_number("epochs", self.epochs)
        _check_lr(self.lr)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS, allow_callable=True)
        for name, choices in (
            ("schedule", SCHEDULES),
            ("monitor", ("val_acc", "val_loss")),
            ("on_divergence", ("raise", "stop")),
            ("bn_policy", BN_POLICIES),
        ):
            checks.one_of(name, getattr(self, name), tuple(choices))
        checks.non_negative("weight_decay", self.weight_decay, fix="e.g. weight_decay=1e-4.")
        checks.real_number(
            "warmup_epochs", self.warmup_epochs, low=0, high=self.epochs, fix="at most epochs."
        )
        checks.real_number(
            "label_smoothing",
            self.label_smoothing,
            low=0,
            high=1,
            high_open=True,
            fix="e.g. label_smoothing=0.1.",
        )
        checks.non_negative("l2sp", self.l2sp, fix="e.g. l2sp=0.01.")
        for name in ("clip_grad_norm", "max_loss"):
            checks.optional(
                checks.positive, name, getattr(self, name), fix="a number above 0, or None."
            )
        checks.optional(checks.whole_number, "early_stopping", self.early_stopping)
        checks.optional(checks.seed_value, "seed", self.seed)
        if self.criterion is not None and self.label_smoothing:
            raise checks.fail(
                "pass label_smoothing or a criterion, not both",
                checks.shown(f"label_smoothing={self.label_smoothing} and a criterion"),
                "build the criterion with it: nn.CrossEntropyLoss(label_smoothing=0.1).",
            )

    @classmethod
    def build(cls, config: FitConfig | None, options: dict[str, Any]) -> FitConfig:
        """``config`` updated with ``options`` (fit's keywords); unknown names are refused."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise TypeError(f"fit got unknown keyword(s) {unknown}; its keywords: {names}")
        return dataclasses.replace(config, **options) if config is not None else cls(**options)


def _check_lr(lr: float | Mapping[str, float]) -> None:
    """One LR or a dict by layer group, each finite and 0 or more (0 keeps a group still)."""
    fix = "a learning rate is a small number such as lr=1e-3 (fine-tuning) or lr=0.05 (a head)."
    for group, value in lr.items() if isinstance(lr, Mapping) else [(None, lr)]:
        checks.non_negative("lr" if group is None else f"lr[{group!r}]", value, fix=fix)


def _check_choice(name: str, value: Any, choices: tuple, allow_callable: bool = False) -> None:
    if (allow_callable and callable(value)) or value in choices:
        return
    also = " or a function param_groups -> torch.optim.Optimizer" if allow_callable else ""
    raise ValueError(f"{name} must be one of {choices}{also}, got {value!r}")


def check_loader_not_empty(name: str, loader: object) -> None:
    """A loader that yields nothing is found now, not after a full training epoch."""
    if hasattr(loader, "__len__") and len(loader) == 0:
        dataset = getattr(loader, "dataset", None)
        size = f" (its dataset holds {len(dataset)} items)" if hasattr(dataset, "__len__") else ""
        raise ValueError(
            f"{name} yields no batch{size}. With drop_last=True a dataset smaller than one "
            "batch gives none: use drop_last=False or a smaller batch_size."
        )


def check_batch(x: torch.Tensor, y: torch.Tensor) -> None:
    """Float images and 1-D integer labels, checked on the host before the batch moves."""
    if not torch.is_floating_point(x):
        raise ValueError(
            f"a training batch holds {x.dtype} images of shape {tuple(x.shape)}; models need "
            "floats: add v2.ToDtype(torch.float32, scale=True) to the transforms (as "
            "data.train_transforms does)"
        )
    if torch.is_floating_point(y) or y.ndim != 1:
        raise ValueError(
            f"labels must be a 1-D tensor of class indices (int64), got {y.dtype} of shape "
            f"{tuple(y.shape)}"
        )


def check_labels(y: torch.Tensor, num_classes: int) -> None:
    """Every label in ``[0, num_classes)``: else the head is too narrow for the data."""
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"a batch has label {high if high >= num_classes else low}, but the head has "
            f"{num_classes} outputs (labels must be 0..{num_classes - 1}). Give the model one "
            "output per class: models.replace_head(model, num_classes)"
        )
