"""What ``fit`` returns: per-epoch metrics as plain lists, ready for plots and tables."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "seconds")


class DivergenceError(RuntimeError):
    """The training loss became NaN/inf or exploded: the learning rate is almost always why."""


@dataclass
class History:
    """Per-epoch records of a training run, one list entry per epoch.

    ``val_loss``/``val_acc`` are NaN without a validation loader. ``lr`` holds each param
    group's LR (by group name) at the end of the epoch. ``stage`` numbers the phases of
    multi-stage recipes (0 for a plain ``fit``). ``best_epoch`` is the 1-based epoch with the
    best ``monitor`` value.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[dict[str, float]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stage: list[int] = field(default_factory=list)
    monitor: str = "val_acc"
    best_epoch: int | None = None
    stopped_early: bool = False
    diverged: bool = False

    def __len__(self) -> int:
        return len(self.epoch)

    def append(
        self,
        *,
        epoch: int,
        train_loss: float,
        train_acc: float,
        val_loss: float,
        val_acc: float,
        lr: dict[str, float],
        seconds: float,
        stage: int = 0,
    ) -> None:
        """Record one epoch."""
        for name, value in locals().items():
            if name != "self":
                getattr(self, name).append(value)

    def as_records(self) -> list[dict]:
        """One dict per epoch (e.g. for ``pandas.DataFrame(history.as_records())``)."""
        keys = ("epoch", "stage", *METRICS, "lr")
        return [dict(zip(keys, row)) for row in zip(*(getattr(self, k) for k in keys))]

    def best(self, metric: str = "val_acc") -> float:
        """The best value of ``metric`` over epochs: highest accuracy, lowest loss or time."""
        values = [v for v in self._values(metric) if not math.isnan(v)]
        if not values:
            raise ValueError(f"no {metric} recorded")
        return max(values) if metric.endswith("acc") else min(values)

    def last(self, metric: str = "val_acc") -> float:
        """The value of ``metric`` at the final recorded epoch."""
        values = self._values(metric)
        if not values:
            raise ValueError(f"no {metric} recorded")
        return values[-1]

    def _values(self, metric: str) -> list[float]:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        return getattr(self, metric)


def concat_histories(parts: list[History]) -> History:
    """One history from consecutive runs: epochs renumbered, ``stage`` = index of the part."""
    out = History(monitor=parts[0].monitor if parts else "val_acc")
    sign = 1 if out.monitor == "val_acc" else -1
    best = None
    for stage, part in enumerate(parts):
        for record in part.as_records():
            record.update(epoch=len(out) + 1, stage=stage)
            out.append(**record)
            value = sign * record[out.monitor]
            if not math.isnan(value) and (best is None or value > best):
                best, out.best_epoch = value, record["epoch"]
        out.stopped_early |= part.stopped_early
        out.diverged |= part.diverged
    return out
