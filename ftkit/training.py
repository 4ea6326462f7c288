"""One training loop, ``fit``, with the knobs fine-tuning needs, and the recipes built on it.

``fit(model, train_loader, val_loader, ...) -> History``. Optimizer param groups follow the
model's layer groups (``ftkit.optim``, re-exported here), so each group can have its own LR
and frozen groups simply are not there. The loop keeps per-batch work on the device: losses
and correct counts accumulate as tensors and are read once per epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ftkit import freezing, inference
from ftkit.devices import resolve_device, to_device
from ftkit.fit_config import FitConfig, check_batch, check_labels, check_loader_not_empty
from ftkit.history import DivergenceError, History, concat_histories
from ftkit.optim import OPTIMIZERS, discriminative_lrs, make_optimizer, param_groups
from ftkit.regularization import L2SP
from ftkit.schedules import make_scheduler
from ftkit.stopping import DivergenceGuard, EarlyStopping

__all__ = [
    "OPTIMIZERS",
    "DivergenceError",
    "FitConfig",
    "History",
    "discriminative_lrs",
    "evaluate",
    "fit",
    "gradual_unfreeze",
    "lp_ft",
    "make_optimizer",
    "param_groups",
    "resolve_device",
]

# --- evaluation ----------------------------------------------------------------------------


def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: str | torch.device | None = None,
    *,
    label_smoothing: float = 0.0,
) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy over ``loader``, in eval mode (each module's mode
    restored after), read from the device once."""
    out, y = inference.logits(model, loader, device)  # (N, C), (N,)
    loss = nn.functional.cross_entropy(out, y, label_smoothing=label_smoothing)
    accuracy = (out.argmax(1) == y).double().mean()
    loss_value, accuracy_value = torch.stack([loss.double(), accuracy]).tolist()
    return loss_value, accuracy_value


# --- fit -----------------------------------------------------------------------------------


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: Iterable | None = None,
    *,
    config: FitConfig | None = None,
    **options: Any,
) -> History:
    """Train ``model`` in place; return its per-epoch ``History``. ``options``: ``FitConfig``.

    It ends with the last completed epoch's weights (the best epoch's under early stopping),
    also after a divergence, an error or Ctrl-C, and with each module's mode as it was before.
    An error propagates with the epochs completed so far as ``exc.history``.
    """
    cfg = FitConfig.build(config, options)  # every option checked before any work
    _check_loaders(train_loader, val_loader, cfg)
    device = _prepare(model, cfg)
    step = TrainStep(model, cfg, steps_per_epoch=len(train_loader))
    history, guard = History(monitor=cfg.monitor), DivergenceGuard(model, cfg.max_loss)
    stopper = EarlyStopping(model, cfg.monitor, cfg.early_stopping)
    try:
        with inference.preserved_modes(model):
            for epoch in _progress(range(1, cfg.epochs + 1), cfg.progress, "fit"):
                start = time.perf_counter()
                train = step.epoch(_progress(train_loader, cfg.progress, f"epoch {epoch}"), device)
                if guard.diverged(train.worst, train.loss, train.num_classes):
                    history.diverged = True
                    guard.restore()
                    if cfg.on_divergence == "raise":
                        raise DivergenceError(_divergence_message(step.lrs(), epoch, train, guard))
                    break
                val = _validate(model, val_loader, device)
                seconds = time.perf_counter() - start
                history.append(
                    epoch=epoch, **train.metrics(), **val, lr=step.lrs(), seconds=seconds
                )
                guard.commit()
                if val_loader is not None and stopper.update(epoch, val[cfg.monitor]):
                    history.stopped_early = True
                    break
    except BaseException as exc:  # Ctrl-C too: leave a known state, never half an epoch
        if not stopper.restore_best():
            guard.restore()
        exc.history = history
        raise
    finally:
        history.best_epoch = stopper.best_epoch
    stopper.restore_best()
    return history


def _prepare(model: nn.Module, cfg: FitConfig) -> torch.device:
    """Seed (only when asked), choose the device once and move the model there once."""
    if cfg.seed is not None:
        torch.manual_seed(cfg.seed)  # dropout and augmentations draw from the global RNG
    device = resolve_device(cfg.device)
    model.to(device)  # batches follow with non_blocking copies
    return device


def _check_loaders(train_loader: Iterable, val_loader: Iterable | None, cfg: FitConfig) -> None:
    check_loader_not_empty("train_loader", train_loader)
    if val_loader is not None:
        check_loader_not_empty("val_loader", val_loader)
    elif cfg.early_stopping is not None:
        raise ValueError("early_stopping needs a val_loader to monitor; pass one, or None")


@dataclass(frozen=True)
class EpochTotals:
    """One epoch of training, read from the device once: mean loss, accuracy, worst batch loss."""

    loss: float
    acc: float
    worst: float
    num_classes: int

    def metrics(self) -> dict[str, float]:
        return {"train_loss": self.loss, "train_acc": self.acc}


class TrainStep:
    """One optimisation step, as lesson 07 writes it by hand, and an epoch of them.

    Built from a ``FitConfig``: param groups (one LR per layer group), the optimizer (a name or
    a factory), the per-batch LR schedule, the criterion, L2-SP and gradient clipping.
    """

    def __init__(self, model: nn.Module, cfg: FitConfig, *, steps_per_epoch: int) -> None:
        self.bn_policy = cfg.bn_policy
        groups = param_groups(model, cfg.lr, weight_decay=cfg.weight_decay, groups=cfg.groups)
        if not groups:
            raise ValueError("no trainable parameters: everything is frozen (freezing.unfreeze)")
        self.model, self.clip = model, cfg.clip_grad_norm
        self.params = [p for g in groups for p in g["params"]]
        factory = cfg.optimizer if callable(cfg.optimizer) else None
        self.opt = factory(groups) if factory else make_optimizer(groups, cfg.optimizer)
        total, warmup = cfg.epochs * steps_per_epoch, round(cfg.warmup_epochs * steps_per_epoch)
        self.scheduler = make_scheduler(self.opt, cfg.schedule, total, warmup_steps=warmup)
        self.criterion = cfg.criterion or nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.checks = cfg.criterion is None  # class-index labels, checked against the head
        head = list(cfg.groups.values())[-1] if cfg.groups is not None else None
        self.penalty = L2SP(model, alpha=cfg.l2sp, head=head) if cfg.l2sp else None

    def lrs(self) -> dict[str, float]:
        return {g.get("name", str(i)): g["lr"] for i, g in enumerate(self.opt.param_groups)}

    def __call__(self, x: torch.Tensor, y: torch.Tensor, host_y: torch.Tensor | None = None):
        logits = self.model(x)  # (B, num_classes)
        if host_y is not None:
            check_labels(host_y, logits.shape[1])
        loss = self.criterion(logits, y)
        self.opt.zero_grad(set_to_none=True)
        (loss + self.penalty(self.model) if self.penalty is not None else loss).backward()
        if self.clip is not None:
            nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return logits.detach(), loss.detach()

    def epoch(self, batches: Iterable, device: torch.device) -> EpochTotals:
        """A pass over ``batches`` in train mode (with the batch-norm policy); sums stay on the
        device and are read once at the end."""
        self.model.train()
        freezing.apply_bn_policy(self.model, self.bn_policy)
        loss_sum = torch.zeros((), device=device)
        worst = torch.zeros((), device=device)  # the largest batch loss: the divergence check
        correct = torch.zeros((), dtype=torch.long, device=device)
        seen = num_classes = 0
        for x, y in batches:
            if self.checks:
                check_batch(x, torch.as_tensor(y))  # on the host: no device sync
            xd, yd = to_device(x, y, device)
            logits, loss = self(xd, yd, torch.as_tensor(y) if self.checks else None)
            loss_sum += loss * yd.shape[0]
            worst = torch.maximum(worst, loss)
            correct += (logits.argmax(1) == yd).sum()
            seen, num_classes = seen + yd.shape[0], logits.shape[1]
        if seen == 0:
            raise ValueError("train_loader yielded no batch")
        total, hits, top = torch.stack(
            [loss_sum.double(), correct.double(), worst.double()]
        ).tolist()
        return EpochTotals(total / seen, hits / seen, top, num_classes)  # one host sync above


def _validate(model: nn.Module, val_loader, device: torch.device) -> dict[str, float]:
    loss, acc = evaluate(model, val_loader, device) if val_loader else (math.nan, math.nan)
    return {"val_loss": loss, "val_acc": acc}


def _progress(items: Iterable, progress: bool, desc: str) -> Iterable:
    return tqdm(items, desc=desc, leave=desc == "fit") if progress else items


def _divergence_message(lrs: dict, epoch: int, train: EpochTotals, guard: DivergenceGuard) -> str:
    shown = ", ".join(f"{n}={v:.3g}" for n, v in lrs.items())
    return (
        f"Training diverged in epoch {epoch}: a batch loss reached {train.worst:.4g} "
        f"(limit {guard.limit(train.num_classes):.3g}, or NaN/inf). The learning rate is the "
        f"likely cause ({shown}); try 10x smaller, e.g. lr={max(lrs.values()) / 10:.3g}. The "
        f"weights were restored to the start of epoch {epoch} (or to the best epoch under "
        "early stopping), so nothing learned before is lost."
    )


# --- recipes -------------------------------------------------------------------------------


def gradual_unfreeze(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: Iterable | None,
    *,
    epochs_per_stage: int,
    lr: float | Mapping[str, float],
    groups: Mapping[str, nn.Module] | None = None,
    stages: int | None = None,
    seed: int | None = None,
    **fit_kwargs,
) -> History:
    """ULMFiT's gradual unfreezing: train the head alone, then unfreeze one more group per stage.

    Stage ``s`` (0-based) trains the top ``s + 1`` groups for ``epochs_per_stage`` epochs with a
    fresh optimizer; by default there are as many stages as groups, ending fully unfrozen. The
    histories are concatenated and each epoch records its ``stage``.
    """
    named = freezing.resolve_groups(model, groups)
    stages = len(named) if stages is None else stages
    if not 1 <= stages <= len(named):
        raise ValueError(f"stages must be between 1 and {len(named)}, got {stages}")
    parts = []
    for stage in range(stages):
        freezing.freeze_to(model, len(named) - 1 - stage, named)
        part = fit(
            model,
            train_loader,
            val_loader,
            epochs=epochs_per_stage,
            lr=lr,
            groups=named,
            seed=None if seed is None else seed + stage,
            **fit_kwargs,
        )
        parts.append(part)
        if part.diverged:
            break
    return concat_histories(parts)


def lp_ft(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: Iterable | None,
    *,
    probe_epochs: int,
    probe_lr: float,
    finetune_epochs: int,
    finetune_lr: float | Mapping[str, float],
    groups: Mapping[str, nn.Module] | None = None,
    seed: int | None = None,
    **fit_kwargs,
) -> History:
    """Linear probe, then fine-tune (LP-FT, Kumar et al. 2022).

    Stage 0 trains only the head on the frozen backbone; stage 1 unfreezes everything at a small
    LR. Starting the fine-tune from a good head keeps large random-head gradients from
    distorting the pretrained features.
    """
    named = freezing.resolve_groups(model, groups)
    freezing.freeze_to(model, -1, named)
    probe = fit(
        model,
        train_loader,
        val_loader,
        epochs=probe_epochs,
        lr=probe_lr,
        groups=named,
        seed=seed,
        **fit_kwargs,
    )
    if probe.diverged:
        return concat_histories([probe])
    freezing.freeze_to(model, 0, named)
    tune = fit(
        model,
        train_loader,
        val_loader,
        epochs=finetune_epochs,
        lr=finetune_lr,
        groups=named,
        seed=None if seed is None else seed + 1,
        **fit_kwargs,
    )
    return concat_histories([probe, tune])
