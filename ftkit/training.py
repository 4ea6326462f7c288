"""One training loop, ``fit``, with the knobs fine-tuning needs, and the recipes built on it.

``fit(model, train_loader, val_loader, **options) -> History`` reads like the loop a learner
writes by hand: per epoch, train (``train_step.TrainStep``), guard against divergence, validate,
record, maybe stop early (``ftkit.stopping``). Its options are a typed, checked ``FitConfig``.
Optimizer param groups follow the model's layer groups (``ftkit.optim``, re-exported here), so
each group can have its own LR and frozen groups simply are not there. Per-batch work stays on
the device: losses and correct counts accumulate as tensors and are read once per epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ftkit import freezing, inference, preflight
from ftkit.devices import resolve_device
from ftkit.fit_config import FitConfig, check_loader_not_empty
from ftkit.history import DivergenceError, History, concat_histories
from ftkit.optim import OPTIMIZERS, discriminative_lrs, make_optimizer, param_groups
from ftkit.stopping import DivergenceGuard, EarlyStopping
from ftkit.train_step import EpochTotals, TrainStep

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
    preflight.loaders(model, train_loader, val_loader)  # shapes, channels, labels vs the head
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
