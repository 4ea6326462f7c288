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

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ftkit import freezing, inference
from ftkit.devices import resolve_device, to_device
from ftkit.history import DivergenceError, History, concat_histories
from ftkit.optim import OPTIMIZERS, discriminative_lrs, make_optimizer, param_groups
from ftkit.regularization import L2SP
from ftkit.schedules import make_scheduler

__all__ = [
    "OPTIMIZERS",
    "DivergenceError",
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

DIVERGENCE_FACTOR = 10.0  # a batch loss above 10 x ln(num_classes) (10 x chance) is divergence


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
    epochs: int,
    lr: float | Mapping[str, float] = 1e-3,
    optimizer: str = "sgd",
    weight_decay: float = 0.0,
    schedule: str = "constant",
    warmup_epochs: float = 0,
    label_smoothing: float = 0.0,
    l2sp: float = 0.0,
    early_stopping: int | None = None,
    monitor: str = "val_acc",
    clip_grad_norm: float | None = None,
    bn_policy: str = "frozen_eval",
    groups: Mapping[str, nn.Module] | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = False,
    max_loss: float | None = None,
    on_divergence: str = "raise",
) -> History:
    """Train ``model`` in place and return its per-epoch ``History``.

    ``seed`` reseeds torch's global RNG (dropout, augmentations); the batch order comes from the
    loader's own generator, so make fresh loaders (``data.make_loaders``) to repeat a run exactly.

    Args:
        lr: one LR, or a dict by layer group name (see ``discriminative_lrs``).
        schedule: ``"constant"``, ``"cosine"`` or ``"onecycle"``, stepped per batch after a
            linear warm-up of ``warmup_epochs`` (converted to steps).
        l2sp: L2-SP strength alpha, around the weights at the start of this call; the head (the
            model's ``fc``/``classifier``, or the last of ``groups``) is excluded.
        early_stopping: patience in epochs on ``monitor`` (``"val_acc"`` or ``"val_loss"``); the
            best weights are restored at the end.
        bn_policy: ``"frozen_eval"`` or ``"train"``; see ``ftkit.freezing``.
        max_loss: a training batch loss above it (or NaN/inf) is divergence; default
            ``10 * ln(num_classes)``, ten times the loss of guessing. It is checked once per
            epoch (no per-batch sync) and the weights are restored to the start of that epoch,
            the last state known good. ``on_divergence="raise"`` raises ``DivergenceError``,
            ``"stop"`` returns the history with ``diverged=True``.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if early_stopping is not None and val_loader is None:
        raise ValueError("early_stopping needs a val_loader to monitor")
    if monitor not in ("val_acc", "val_loss") or on_divergence not in ("raise", "stop"):
        raise ValueError(f"bad monitor {monitor!r} or on_divergence {on_divergence!r}")
    freezing.apply_bn_policy(model, bn_policy)  # validates the policy name early
    torch.manual_seed(seed)  # dropout and augmentations draw from the global RNG
    device = resolve_device(device)
    model.to(device)
    groups_ = param_groups(model, lr, weight_decay=weight_decay, groups=groups)
    if not groups_:
        raise ValueError("no trainable parameters: everything is frozen")
    opt = make_optimizer(groups_, optimizer)
    params = [p for g in groups_ for p in g["params"]]
    scheduler = make_scheduler(
        opt,
        schedule,
        epochs * len(train_loader),
        warmup_steps=round(warmup_epochs * len(train_loader)),
    )
    criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    head = list(groups.values())[-1] if groups is not None else None  # else models.head_of
    penalty = L2SP(model, alpha=l2sp, head=head) if l2sp else None
    history = History(monitor=monitor)
    live = list(model.state_dict().values())
    snapshot = [t.detach().clone() for t in live]  # the last known-good state, refreshed per epoch
    best_state, best_value, waited = None, None, 0
    bar = tqdm(range(1, epochs + 1), desc="fit", unit="epoch") if progress else range(1, epochs + 1)
    for epoch in bar:
        start = time.perf_counter()
        if epoch > 1:
            _copy(snapshot, live)
        model.train()
        freezing.apply_bn_policy(model, bn_policy)
        batches = (
            tqdm(train_loader, leave=False, desc=f"epoch {epoch}") if progress else train_loader
        )
        loss_sum, correct, worst, seen, num_classes = _train_epoch(
            model, batches, opt, criterion, scheduler, penalty, clip_grad_norm, params, device
        )
        limit = max_loss if max_loss is not None else DIVERGENCE_FACTOR * math.log(num_classes)
        worst_value, train_loss = worst.item(), loss_sum.item() / seen
        if not (math.isfinite(worst_value) and math.isfinite(train_loss)) or worst_value > limit:
            _copy(live, snapshot)
            history.diverged = True
            if on_divergence == "raise":
                raise DivergenceError(_divergence_message(opt, epoch, worst_value, limit))
            break
        val_loss, val_acc = (
            evaluate(model, val_loader, device) if val_loader is not None else (math.nan, math.nan)
        )
        history.append(
            epoch=epoch,
            train_loss=train_loss,
            train_acc=correct.item() / seen,
            val_loss=val_loss,
            val_acc=val_acc,
            seconds=time.perf_counter() - start,
            lr={g["name"]: g["lr"] for g in opt.param_groups},
        )
        if progress:
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", val_acc=f"{val_acc:.3f}")
        value = val_acc if monitor == "val_acc" else -val_loss
        if val_loader is not None and (best_value is None or value > best_value):
            best_value, waited, history.best_epoch = value, 0, epoch
            if early_stopping is not None:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif early_stopping is not None:
            waited += 1
            if waited >= early_stopping:
                history.stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def _train_epoch(
    model: nn.Module,
    batches: Iterable,
    opt: torch.optim.Optimizer,
    criterion: nn.Module,
    scheduler,
    penalty: L2SP | None,
    clip: float | None,
    params: list[nn.Parameter],
    device: torch.device,
):
    """One pass over the batches; sums stay on the device (no per-batch sync)."""
    loss_sum = torch.zeros((), device=device)
    worst = torch.zeros((), device=device)  # the largest batch loss: the divergence check
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = num_classes = 0
    for x, y in batches:
        x, y = to_device(x, y, device)
        logits = model(x)  # (B, num_classes)
        loss = criterion(logits, y)
        opt.zero_grad(set_to_none=True)
        (loss + penalty(model) if penalty is not None else loss).backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        if scheduler is not None:
            scheduler.step()
        batch_loss = loss.detach()
        loss_sum += batch_loss * y.shape[0]
        worst = torch.maximum(worst, batch_loss)
        correct += (logits.argmax(1) == y).sum()
        seen += y.shape[0]
        num_classes = logits.shape[1]
    if seen == 0:
        raise ValueError("train_loader yielded no batches")
    return loss_sum, correct, worst, seen, num_classes


def _copy(dst: list[torch.Tensor], src: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for d, s in zip(dst, src):
            d.copy_(s)


def _divergence_message(opt: torch.optim.Optimizer, epoch: int, worst: float, limit: float) -> str:
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    top = max(lrs.values())
    shown = ", ".join(f"{n}={v:.3g}" for n, v in lrs.items())
    return (
        f"Training diverged in epoch {epoch}: a batch loss reached {worst:.4g} "
        f"(limit {limit:.3g}, or NaN/inf). The learning rate is the likely cause ({shown}); "
        f"try 10x smaller, e.g. lr={top / 10:.3g}. The weights were restored to the start "
        f"of epoch {epoch}, so nothing learned before is lost."
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
    seed: int = 0,
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
            seed=seed + stage,
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
    seed: int = 0,
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
        seed=seed + 1,
        **fit_kwargs,
    )
    return concat_histories([probe, tune])
