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
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ftkit import freezing, preflight
from ftkit.optim import make_optimizer, param_groups
from ftkit.training import resolve_device


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
    parameters are swept; the model is left exactly as it was.
    """
    preflight.lr_range_test(**locals())  # numbers, data and model checked before any step
    if not 0 < start_lr < end_lr or num_steps < 2:
        raise ValueError("need 0 < start_lr < end_lr and num_steps >= 2")
    device = resolve_device(device)
    model.to(device)
    saved_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    if isinstance(optimizer, torch.optim.Optimizer):
        opt, saved_opt = optimizer, copy.deepcopy(optimizer.state_dict())
    else:
        opt, saved_opt = (
            make_optimizer(
                param_groups(model, start_lr, weight_decay=weight_decay, groups=groups), optimizer
            ),
            None,
        )
    ratios = [g["lr"] / max(h["lr"] for h in opt.param_groups) for g in opt.param_groups]
    torch.manual_seed(seed)
    try:
        lrs, raw = _sweep(
            model,
            train_loader,
            opt,
            ratios,
            start_lr,
            end_lr,
            num_steps,
            smoothing,
            diverge_factor,
            bn_policy,
            device,
            progress,
        )
    finally:
        model.load_state_dict(saved_model)
        for m, mode in zip(model.modules(), modes):
            m.training = mode
        if saved_opt is not None:
            optimizer.load_state_dict(saved_opt)
    losses = smooth(raw, smoothing)
    return LRFinderResult(lrs, losses, raw, suggest(lrs, losses))


def _sweep(
    model,
    loader,
    opt,
    ratios,
    start_lr,
    end_lr,
    num_steps,
    smoothing,
    diverge_factor,
    bn_policy,
    device,
    progress,
) -> tuple[list[float], list[float]]:
    criterion = nn.CrossEntropyLoss()
    model.train()
    freezing.apply_bn_policy(model, bn_policy)
    batches = itertools.islice(_repeat(loader), num_steps)  # few-shot loaders are short
    if progress:
        batches = tqdm(batches, total=num_steps, desc="lr range test")
    lrs, raw, avg, best = [], [], 0.0, math.inf
    for step, (x, y) in enumerate(batches):
        lr = start_lr * (end_lr / start_lr) ** (step / (num_steps - 1))
        for g, ratio in zip(opt.param_groups, ratios):
            g["lr"] = lr * ratio
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = criterion(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.item()  # one sync per step: the stopping rule needs the value now
        lrs.append(lr)
        raw.append(value)
        avg = (1 - smoothing) * avg + smoothing * value
        smoothed = avg / (1 - (1 - smoothing) ** (step + 1))
        if not math.isfinite(smoothed) or smoothed > diverge_factor * best:
            break
        best = min(best, smoothed)
    return lrs, raw


def _repeat(loader: Iterable) -> Iterator:
    """Batches from ``loader``, epoch after epoch (``itertools.cycle`` would keep them all);
    a pass that yields nothing ends the sweep with an error instead of spinning forever."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("train_loader yielded no batch in a whole pass: give it images")


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
