"""The LR range test (Smith 2017; fastai's ``lr_find``): raise the LR every step, watch the loss.

The loss falls while the LR is useful and explodes once it is too large; a good LR sits on the
steep part of the fall, well before the minimum. The test trains the model for real, so it
restores the model's weights and buffers (and a passed optimizer's state) afterwards.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ftkit import freezing, inference, preflight
from ftkit.devices import resolve_device, to_device
from ftkit.optim import make_optimizer, param_groups

SYNC_EVERY = 10  # read the losses back from the device every 10 steps, not every step


@dataclass
class LRFinderResult:
    """The sweep: ``lrs``, smoothed ``losses``, ``raw_losses`` and ``suggestions`` by method."""

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float]
    suggestions: dict[str, float] = field(default_factory=dict)

    @property
    def suggested_lr(self) -> float:
        """The ``"valley"`` suggestion: robust, and a good default for ``fit``."""
        return self.suggestions["valley"]


def lr_range_test(
    model: nn.Module,
    train_loader: DataLoader,
    *,
    start_lr: float = 1e-6,
    end_lr: float = 1.0,
    num_steps: int = 100,
    smoothing: float = 0.05,
    diverge_factor: float = 4.0,
    optimizer: str | torch.optim.Optimizer = "sgd",
    weight_decay: float = 0.0,
    groups: Mapping[str, nn.Module] | None = None,
    bn_policy: str = "frozen_eval",
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> LRFinderResult:
    """Sweep the LR exponentially from ``start_lr`` to ``end_lr`` over ``num_steps`` batches.

    ``smoothing`` is the weight of each new loss in a debiased exponential moving average. The
    sweep stops early once the smoothed loss exceeds ``diverge_factor`` x its best (or is
    NaN). With an optimizer instance, every group keeps its LR ratio to the largest one (so
    discriminative LRs sweep together) and ``lrs`` records the largest. Only trainable
    parameters are swept; the model is left exactly as it was (weights, buffers, modes).
    """
    _check_range(start_lr, end_lr, num_steps, smoothing, diverge_factor)
    preflight.loaders(model, train_loader)  # shapes, channels, labels vs the head, emptiness
    device = resolve_device(device)
    model.to(device)
    with _restoring(model, optimizer):
        if isinstance(optimizer, torch.optim.Optimizer):
            opt = optimizer
        else:
            groups_ = param_groups(model, start_lr, weight_decay=weight_decay, groups=groups)
            opt = make_optimizer(groups_, optimizer)
        schedule = _Schedule(opt, start_lr, end_lr, num_steps)
        torch.manual_seed(seed)
        model.train()
        freezing.apply_bn_policy(model, bn_policy)
        stop = _Divergence(smoothing, diverge_factor)
        raw = _sweep(model, train_loader, opt, schedule, stop, device, progress)
    lrs = [schedule.lr(step) for step in range(len(raw))]
    losses = smooth(raw, smoothing)
    return LRFinderResult(lrs, losses, raw, suggest(lrs, losses))


@contextmanager
def _restoring(model: nn.Module, optimizer: str | torch.optim.Optimizer) -> Iterator[None]:
    """The sweep trains for real: weights, buffers, each module's mode and a passed
    optimizer's state come back on exit (also on error or Ctrl-C)."""
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    passed = isinstance(optimizer, torch.optim.Optimizer)
    saved_opt = copy.deepcopy(optimizer.state_dict()) if passed else None
    try:
        with inference.preserved_modes(model):
            yield
    finally:
        model.load_state_dict(saved)
        if saved_opt is not None:
            optimizer.load_state_dict(saved_opt)


def _check_range(start_lr, end_lr, num_steps, smoothing, diverge_factor) -> None:
    if not (math.isfinite(start_lr) and math.isfinite(end_lr) and 0 < start_lr < end_lr):
        raise ValueError(
            f"need 0 < start_lr < end_lr (finite), got start_lr={start_lr}, end_lr={end_lr}; "
            "e.g. start_lr=1e-6, end_lr=1.0"
        )
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 2:
        raise ValueError(f"num_steps must be a whole number >= 2, got {num_steps!r}; e.g. 100")
    if not 0 < smoothing <= 1 or not diverge_factor > 1:
        raise ValueError(
            f"need 0 < smoothing <= 1 and diverge_factor > 1, got smoothing={smoothing}, "
            f"diverge_factor={diverge_factor}; the defaults are 0.05 and 4.0"
        )


class _Schedule:
    """The exponential LR ramp; each param group keeps its ratio to the largest group's LR."""

    def __init__(self, opt: torch.optim.Optimizer, start_lr: float, end_lr: float, steps: int):
        top = max(g["lr"] for g in opt.param_groups)
        self.opt, self.ratios = opt, [g["lr"] / top for g in opt.param_groups]
        self.start_lr, self.end_lr, self.steps = start_lr, end_lr, steps

    def lr(self, step: int) -> float:
        return self.start_lr * (self.end_lr / self.start_lr) ** (step / (self.steps - 1))

    def set(self, step: int) -> None:
        for group, ratio in zip(self.opt.param_groups, self.ratios):
            group["lr"] = self.lr(step) * ratio


class _Divergence:
    """The stopping rule: the debiased smoothed loss is NaN/inf or ``factor`` x its best."""

    def __init__(self, smoothing: float, factor: float) -> None:
        self.smoothing, self.factor = smoothing, factor
        self.avg, self.best, self.seen = 0.0, math.inf, 0

    def __call__(self, loss: float) -> bool:
        self.seen += 1
        self.avg = (1 - self.smoothing) * self.avg + self.smoothing * loss
        smoothed = self.avg / (1 - (1 - self.smoothing) ** self.seen)
        if not math.isfinite(smoothed) or smoothed > self.factor * self.best:
            return True
        self.best = min(self.best, smoothed)
        return False


def _sweep(model, loader, opt, schedule, diverged, device, progress) -> list[float]:
    """Raw losses, up to and including the step where ``diverged`` says stop.

    Losses stay on the device and are read every ``SYNC_EVERY`` steps (one host sync each);
    the result is the same as checking every step, since the list is cut at the first
    divergent step and the extra steps' weights are restored anyway.
    """
    criterion = nn.CrossEntropyLoss()
    batches = itertools.islice(_repeat(loader), schedule.steps)  # few-shot loaders are short
    if progress:
        batches = tqdm(batches, total=schedule.steps, desc="lr range test")
    raw: list[float] = []
    pending: list[torch.Tensor] = []
    for step, (x, y) in enumerate(batches):
        schedule.set(step)
        x, y = to_device(x, y, device)
        loss = criterion(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        pending.append(loss.detach())
        if len(pending) == SYNC_EVERY or step == schedule.steps - 1:
            for value in torch.stack(pending).tolist():  # one host sync per SYNC_EVERY steps
                raw.append(value)
                if diverged(value):
                    return raw
            pending.clear()
    return raw


def _repeat(loader: Iterable) -> Iterator:
    """Batches from ``loader``, epoch after epoch (``itertools.cycle`` would keep them all).

    An epoch that yields nothing is an error, not an endless loop.
    """
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError(
                "train_loader yielded no batch, so there is nothing to sweep. With "
                "drop_last=True a dataset smaller than one batch gives none: use "
                "drop_last=False or a smaller batch_size."
            )


def smooth(values: list[float], smoothing: float) -> list[float]:
    """Debiased exponential moving average (as Adam debiases its moments)."""
    out, avg = [], 0.0
    for i, v in enumerate(values):
        avg = (1 - smoothing) * avg + smoothing * v
        out.append(avg / (1 - (1 - smoothing) ** (i + 1)))
    return out


def suggest(lrs: list[float], losses: list[float]) -> dict[str, float]:
    """LR suggestions from a smoothed sweep.

    - ``"steepest"``: where the loss falls fastest per decade of LR, before its minimum.
    - ``"valley"``: fastai's valley: the longest strictly decreasing run of the loss curve, a
      point about half-way down it (more robust than the noisy steepest point).
    - ``"minimum"``: the LR of the lowest loss divided by 10 (the classic rule of thumb).
    """
    finite = [i for i, v in enumerate(losses) if math.isfinite(v)]
    if len(finite) < 3:
        raise ValueError("too few finite losses to suggest an LR; lower start_lr or add steps")
    lrs_, losses_ = np.array(lrs)[finite], np.array(losses)[finite]
    lowest = int(np.argmin(losses_))
    grad = np.gradient(losses_, np.log10(lrs_))
    steepest = int(np.argmin(grad[: max(lowest, 1) + 1]))
    return {
        "steepest": float(lrs_[steepest]),
        "valley": float(lrs_[_valley(losses_)]),
        "minimum": float(lrs_[lowest] / 10),
    }


def _valley(losses: np.ndarray) -> int:
    n = len(losses)
    run = [1] * n  # run[i]: length of the longest decreasing subsequence ending at i
    start, end = 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and run[i] < run[j] + 1:
                run[i] = run[j] + 1
        if run[end] < run[i]:
            end, start = i, i - run[i] + 1
    third = (end - start) / 3
    return min(n - 1, start + int(third) + int(third / 2))
