"""Learning-rate schedules as per-step multipliers of each param group's base LR.

A multiplier (not an absolute LR) keeps discriminative LRs intact: every layer group follows
the same curve at its own scale. ``fit`` steps the scheduler once per batch, so warm-up and
one-cycle are smooth even with few epochs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

SCHEDULES = ("constant", "cosine", "onecycle")


def lr_factor(
    schedule: str,
    total_steps: int,
    *,
    warmup_steps: int = 0,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Callable[[int], float]:
    """The multiplier at optimizer step ``step`` (0-based) for ``schedule``.

    - ``"constant"``: 1 after a linear warm-up of ``warmup_steps`` (from ``1/warmup_steps``).
    - ``"cosine"``: warm-up, then half a cosine from 1 down to 0 at ``total_steps``.
    - ``"onecycle"`` (Smith 2018, as ``torch.optim.lr_scheduler.OneCycleLR``): a cosine rise from
      ``1/div_factor`` to 1 over ``warmup_steps`` (``pct_start`` of the run if 0), then a cosine
      fall to ``1/(div_factor*final_div_factor)``.

    >>> f = lr_factor("cosine", 100)
    >>> f(0), round(f(50), 3)
    (1.0, 0.5)
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"need total_steps >= 1 and 0 <= warmup_steps <= total_steps, "
            f"got {total_steps} and {warmup_steps}"
        )
    if schedule == "onecycle":
        return _onecycle(
            total_steps,
            warmup_steps or max(1, round(pct_start * total_steps)),
            div_factor,
            final_div_factor,
        )

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return factor


def _onecycle(total: int, up: int, div: float, final_div: float) -> Callable[[int], float]:
    start, end = 1 / div, 1 / (div * final_div)

    def cos_between(a: float, b: float, t: float) -> float:
        return b + (a - b) * 0.5 * (1 + math.cos(math.pi * min(max(t, 0.0), 1.0)))

    def factor(step: int) -> float:
        if step < up:
            return cos_between(start, 1.0, step / up)
        return cos_between(1.0, end, (step - up) / max(1, total - 1 - up))

    return factor


def make_scheduler(
    optimizer: Optimizer, schedule: str, total_steps: int, *, warmup_steps: int = 0
) -> LambdaLR | None:
    """A per-step ``LambdaLR``, or ``None`` when the LR never changes (nothing to step)."""
    if schedule == "constant" and warmup_steps == 0:
        lr_factor(schedule, total_steps)  # validates the arguments
        return None
    return LambdaLR(optimizer, lr_factor(schedule, total_steps, warmup_steps=warmup_steps))
