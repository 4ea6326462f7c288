"""One training loop, ``fit``, with the knobs fine-tuning needs, and the recipes built on it.

``fit(model, train_loader, val_loader, ...) -> History``. Optimizer param groups follow the
model's layer groups, so each group can have its own LR (discriminative fine-tuning) and frozen
groups simply are not there. The loop keeps per-batch work on the device: losses and correct
counts accumulate as tensors and are read once per epoch.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ftkit import freezing, models
from ftkit.history import DivergenceError, History, concat_histories
from ftkit.regularization import L2SP, no_decay_split
from ftkit.schedules import make_scheduler

__all__ = ["DivergenceError", "History", "discriminative_lrs", "evaluate", "fit",
           "gradual_unfreeze", "lp_ft", "make_optimizer", "param_groups", "resolve_device"]

OPTIMIZERS = ("sgd", "adam", "adamw")
DIVERGENCE_FACTOR = 10.0  # a batch loss above 10 x ln(num_classes) (10 x chance) is divergence


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device``, or CUDA when available, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --- param groups --------------------------------------------------------------------------

def _groups_for(model: nn.Module, groups: Mapping[str, nn.Module] | None,
                lr: float | Mapping[str, float]) -> OrderedDict[str, nn.Module]:
    if groups is None and not isinstance(lr, Mapping):
        try:
            return models.layer_groups(model)
        except TypeError:  # an architecture ftkit does not know: one group is all a float lr needs
            return OrderedDict(model=model)
    return freezing.resolve_groups(model, groups)


def param_groups(model: nn.Module, lr: float | Mapping[str, float], *, weight_decay: float = 0.0,
                 groups: Mapping[str, nn.Module] | None = None) -> list[dict]:
    """Optimizer param groups, one per layer group (and per decay / no-decay when decaying).

    Each dict has ``name`` (``"layer3"``, or ``"layer3/no_decay"`` for its norm and bias
    parameters when ``weight_decay > 0``), ``params``, ``lr`` and ``weight_decay``. Only
    trainable parameters appear, each exactly once; fully frozen groups are left out. ``lr`` is
    one float or a dict by group name (it may name frozen groups; it must cover the others).
    """
    named = _groups_for(model, groups, lr)
    if isinstance(lr, Mapping) and (extra := set(lr) - set(named) - {"other"}):
        raise ValueError(f"lr names unknown group(s) {sorted(extra)}; valid names: {', '.join(named)}")
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
            raise ValueError(f"lr has no entry for trainable group {name!r}; give one, or freeze it")
        group_lr = float(lr[name] if isinstance(lr, Mapping) else lr)
        if weight_decay == 0:
            out.append({"name": name, "params": decay + no_decay, "lr": group_lr, "weight_decay": 0.0})
            continue
        if decay:
            out.append({"name": name, "params": decay, "lr": group_lr, "weight_decay": weight_decay})
        if no_decay:
            out.append({"name": f"{name}/no_decay", "params": no_decay, "lr": group_lr,
                        "weight_decay": 0.0})
    return out


def discriminative_lrs(model_or_group_names: nn.Module | Mapping[str, nn.Module] | Sequence[str],
                       head_lr: float, factor: float = 2.6) -> dict[str, float]:
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


def make_optimizer(groups: list[dict], optimizer: str = "sgd", *,
                   momentum: float = 0.9) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum), Adam or AdamW over ready-made param groups."""
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=momentum, nesterov=momentum > 0)
    if optimizer == "adam":
        return torch.optim.Adam(groups, lr=groups[0]["lr"])
    if optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=groups[0]["lr"])
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")


# --- evaluation ----------------------------------------------------------------------------

def evaluate(model: nn.Module, loader: Iterable, device: str | torch.device | None = None,
             *, label_smoothing: float = 0.0) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy over ``loader``, in eval mode (modes restored after)."""
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    modes = [m.training for m in model.modules()]
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = model(x)
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum",
                                                    label_smoothing=label_smoothing)
            correct += (logits.argmax(1) == y).sum()
            seen += y.shape[0]
    for m, mode in zip(model.modules(), modes):
        m.training = mode
    if seen == 0:
        raise ValueError("the loader yielded no batches")
    return loss_sum.item() / seen, correct.item() / seen


# --- fit -----------------------------------------------------------------------------------

def fit(model: nn.Module, train_loader: DataLoader, val_loader: Iterable | None = None, *,
        epochs: int, lr: float | Mapping[str, float] = 1e-3, optimizer: str = "sgd",
        weight_decay: float = 0.0, schedule: str = "constant", warmup_epochs: float = 0,
        label_smoothing: float = 0.0, l2sp: float = 0.0, early_stopping: int | None = None,
        monitor: str = "val_acc", clip_grad_norm: float | None = None,
        bn_policy: str = "frozen_eval", groups: Mapping[str, nn.Module] | None = None,
        seed: int = 0, device: str | torch.device | None = None, progress: bool = False,
        max_loss: float | None = None, on_divergence: str = "raise") -> History:
    """Train ``model`` in place and return its per-epoch ``History``.

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
    steps = epochs * len(train_loader)
    scheduler = make_scheduler(opt, schedule, steps, warmup_steps=round(warmup_epochs * len(train_loader)))
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
            with torch.no_grad():
                torch._foreach_copy_(snapshot, live)
        model.train()
        freezing.apply_bn_policy(model, bn_policy)
        loss_sum = torch.zeros((), device=device)
        worst = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        seen = 0
        batches = tqdm(train_loader, leave=False, desc=f"epoch {epoch}") if progress else train_loader
        for x, y in batches:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = model(x)  # (B, num_classes)
            loss = criterion(logits, y)
            opt.zero_grad(set_to_none=True)
            (loss + penalty(model) if penalty is not None else loss).backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(params, clip_grad_norm)
            opt.step()
            if scheduler is not None:
                scheduler.step()
            batch_loss = loss.detach()
            loss_sum += batch_loss * y.shape[0]
            worst = torch.maximum(worst, batch_loss)
            correct += (logits.argmax(1) == y).sum()
            seen += y.shape[0]
        if seen == 0:
            raise ValueError("train_loader yielded no batches")
        limit = max_loss if max_loss is not None else DIVERGENCE_FACTOR * math.log(logits.shape[1])
        worst_value = worst.item()
        if not math.isfinite(worst_value) or not math.isfinite(loss_sum.item()) or worst_value > limit:
            with torch.no_grad():
                torch._foreach_copy_(live, snapshot)
            history.diverged = True
            if on_divergence == "raise":
                raise DivergenceError(_divergence_message(opt, epoch, worst_value, limit))
            break
        val_loss, val_acc = evaluate(model, val_loader, device) if val_loader is not None else (math.nan,) * 2
        history.append(epoch=epoch, train_loss=loss_sum.item() / seen, train_acc=correct.item() / seen,
                       val_loss=val_loss, val_acc=val_acc, seconds=time.perf_counter() - start,
                       lr={g["name"]: g["lr"] for g in opt.param_groups})
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


def _divergence_message(opt: torch.optim.Optimizer, epoch: int, worst: float, limit: float) -> str:
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    top = max(lrs.values())
    shown = ", ".join(f"{n}={v:.3g}" for n, v in lrs.items())
    return (f"Training diverged in epoch {epoch}: a batch loss reached {worst:.4g} "
            f"(limit {limit:.3g}, or NaN/inf). The learning rate is the likely cause ({shown}); "
            f"try 10x smaller, e.g. lr={top / 10:.3g}. The weights were restored to the start "
            f"of epoch {epoch}, so nothing learned before is lost.")


# --- recipes -------------------------------------------------------------------------------

def gradual_unfreeze(model: nn.Module, train_loader: DataLoader, val_loader: Iterable | None, *,
                     epochs_per_stage: int, lr: float | Mapping[str, float],
                     groups: Mapping[str, nn.Module] | None = None, stages: int | None = None,
                     seed: int = 0, **fit_kwargs) -> History:
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
        part = fit(model, train_loader, val_loader, epochs=epochs_per_stage, lr=lr, groups=named,
                   seed=seed + stage, **fit_kwargs)
        parts.append(part)
        if part.diverged:
            break
    return concat_histories(parts)


def lp_ft(model: nn.Module, train_loader: DataLoader, val_loader: Iterable | None, *,
          probe_epochs: int, probe_lr: float, finetune_epochs: int, finetune_lr: float | Mapping[str, float],
          groups: Mapping[str, nn.Module] | None = None, seed: int = 0, **fit_kwargs) -> History:
    """Linear probe, then fine-tune (LP-FT, Kumar et al. 2022).

    Stage 0 trains only the head on the frozen backbone; stage 1 unfreezes everything at a small
    LR. Starting the fine-tune from a good head keeps large random-head gradients from
    distorting the pretrained features.
    """
    named = freezing.resolve_groups(model, groups)
    freezing.freeze_to(model, -1, named)
    probe = fit(model, train_loader, val_loader, epochs=probe_epochs, lr=probe_lr, groups=named,
                seed=seed, **fit_kwargs)
    if probe.diverged:
        return concat_histories([probe])
    freezing.freeze_to(model, 0, named)
    tune = fit(model, train_loader, val_loader, epochs=finetune_epochs, lr=finetune_lr, groups=named,
               seed=seed + 1, **fit_kwargs)
    return concat_histories([probe, tune])
