"""The course's fair protocol for comparing fine-tuning methods, stated once.

Every comparison in a lesson or in ``ftkit bench`` follows it:

1. **Same search budget.** Each method gets its own hyper-parameters, chosen on the
   *validation* split from a grid of the same size as its rivals' (``tune``, ``compare``).
   The test split is read only for the chosen setting.
2. **Budgets that starve no side**, counted in optimizer steps (``epochs_for_steps``): a run
   on 10 images and a run on 200 images get the same number of updates, not the same epochs.
3. **Paired seeds.** Every method runs on the same seeds (3 or more); results are compared seed
   by seed (``paired_difference``), so the noise the methods share cancels.
4. **A claim only where it clears its spread**: the mean paired difference must exceed the
   standard deviation of the paired differences. Otherwise the result is "no measurable
   difference here", which is a result too.

>>> d = paired_difference([0.90, 0.92, 0.91], [0.80, 0.83, 0.80], names=("probe", "scratch"))
>>> d.clears, round(d.mean, 1)
(True, 10.0)
>>> print(d.verdict())
probe beats scratch by 10.0 ± 1.0 points (paired over 3 seeds)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The protocol in one sentence, for lessons to print beside their comparisons.
PROTOCOL = (
    "Fair protocol: each method's hyper-parameters are chosen on the validation split with the "
    "same search budget, training budgets are equal in optimizer steps, every method runs on "
    "the same seeds, and a difference is claimed only where the paired difference clears its "
    "spread (see ftkit.protocol)."
)

Run = Callable[..., Mapping[str, float]]


def epochs_for_steps(steps: int, n_train: int, batch_size: int, *, drop_last: bool = False) -> int:
    """Epochs that give at least ``steps`` optimizer steps on ``n_train`` images.

    >>> epochs_for_steps(300, n_train=10, batch_size=32)  # 1 step per epoch
    300
    >>> epochs_for_steps(300, n_train=200, batch_size=32)  # 7 steps per epoch
    43
    """
    for name, value in (("steps", steps), ("n_train", n_train), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    per_epoch = n_train // batch_size if drop_last else math.ceil(n_train / batch_size)
    if per_epoch == 0:
        raise ValueError(
            f"drop_last=True with {n_train} images and batch_size={batch_size} gives no batch; "
            "use a smaller batch_size or drop_last=False"
        )
    return math.ceil(steps / per_epoch)


@dataclass(frozen=True)
class Difference:
    """Paired differences ``a - b`` over seeds, in points (percent) by default."""

    names: tuple[str, str]
    diffs: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.diffs)

    @property
    def spread(self) -> float:
        """Sample standard deviation of the paired differences (inf with a single seed)."""
        return statistics.stdev(self.diffs) if self.n > 1 else math.inf

    @property
    def clears(self) -> bool:
        """True when the mean difference exceeds its spread: a claim may be made."""
        return abs(self.mean) > self.spread

    def __str__(self) -> str:
        a, b = self.names
        return f"{a} - {b}: {self.mean:+.1f} ± {self.spread:.1f} points over {self.n} seeds"

    def verdict(self) -> str:
        """One sentence a lesson can print: who wins and by how much, or no measurable
        difference."""
        a, b = self.names
        if not self.clears:
            return (
                f"no measurable difference here between {a} and {b} "
                f"({self.mean:+.1f} ± {self.spread:.1f} points over {self.n} seeds)"
            )
        winner, loser = (a, b) if self.mean > 0 else (b, a)
        return (
            f"{winner} beats {loser} by {abs(self.mean):.1f} ± {self.spread:.1f} points "
            f"(paired over {self.n} seeds)"
        )


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    names: tuple[str, str] = ("A", "B"),
    scale: float = 100.0,
) -> Difference:
    """Seed-by-seed differences ``a[i] - b[i]``, times ``scale`` (100: accuracies to points)."""
    if len(a) != len(b) or not a:
        raise ValueError(
            f"paired results need the same seeds on both sides: got {len(a)} and {len(b)} values"
        )
    return Difference(tuple(names), tuple(scale * (x - y) for x, y in zip(a, b)))


@dataclass(frozen=True)
class Trial:
    """One run: a method, its hyper-parameters, a seed, and what it measured."""

    method: str
    params: Mapping[str, Any]
    seed: int
    scores: Mapping[str, float]


def _params_key(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def tune(
    run: Run,
    grid: Sequence[Mapping[str, Any]],
    seeds: Sequence[int],
    *,
    method: str = "method",
    metric: str = "val",
) -> tuple[Mapping[str, Any], list[Trial]]:
    """Run every setting of ``grid`` on every seed; return the setting with the best mean
    ``metric`` (validation) and all trials. Ties go to the earlier setting."""
    if not grid:
        raise ValueError(f"{method}: the grid is empty; give at least one setting, e.g. [{{}}]")
    if len({_params_key(p) for p in grid}) < len(grid):
        raise ValueError(f"{method}: the grid repeats a setting: {[dict(p) for p in grid]}")
    trials = [Trial(method, dict(p), s, dict(run(seed=s, **p))) for p in grid for s in seeds]
    for t in trials:
        if metric not in t.scores:
            raise KeyError(f"{method}: run() returned {sorted(t.scores)}, without {metric!r}")

    def mean_metric(p: Mapping[str, Any]) -> float:
        return statistics.fmean(t.scores[metric] for t in trials if t.params == p)

    best = max(grid, key=mean_metric)  # max keeps the first of equal values
    return dict(best), trials


def scores_of(trials: Sequence[Trial], metric: str, **params: Any) -> list[float]:
    """``metric`` of the trials run with ``params`` (e.g. ``lr=0.01``), in seed order.

    >>> trials = [Trial("SGD", {"lr": lr}, s, {"val": v}) for lr, vals in
    ...           ((0.01, (0.95, 0.96, 0.97)), (0.03, (0.94, 0.97, 0.96)), (0.1, (0.8, 0.82, 0.81)))
    ...           for s, v in enumerate(vals)]
    >>> scores_of(trials, "val", lr=0.1)
    [0.8, 0.82, 0.81]
    """
    chosen = sorted(
        (t for t in trials if all(t.params.get(k) == v for k, v in params.items())),
        key=lambda t: t.seed,
    )
    if not chosen:
        raise ValueError(
            f"no trial with {params}; settings run: {[dict(t.params) for t in trials]}"
        )
    return [t.scores[metric] for t in chosen]


def plateau(
    trials: Sequence[Trial], best: Mapping[str, Any], *, metric: str = "val"
) -> list[dict[str, Any]]:
    """The settings not measurably worse than ``best`` on ``metric``: the best itself and every
    setting whose paired difference to it does not clear its spread. A grid's "as good as the
    best" region, which three seeds can resolve no finer.

    >>> trials = [Trial("SGD", {"lr": lr}, s, {"val": v}) for lr, vals in
    ...           ((0.01, (0.95, 0.96, 0.97)), (0.03, (0.94, 0.97, 0.96)), (0.1, (0.8, 0.82, 0.81)))
    ...           for s, v in enumerate(vals)]
    >>> plateau(trials, {"lr": 0.01})
    [{'lr': 0.01}, {'lr': 0.03}]
    """
    reference = scores_of(trials, metric, **best)
    settings = list({_params_key(t.params): dict(t.params) for t in trials}.values())
    keep = []
    for p in settings:
        d = paired_difference(scores_of(trials, metric, **p), reference)
        if p == dict(best) or not (d.clears and d.mean < 0):
            keep.append(p)
    return keep


@dataclass
class Comparison:
    """Methods tuned on validation and compared on the same seeds."""

    seeds: tuple[int, ...]
    chosen: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    trials: list[Trial] = field(default_factory=list)

    def scores(self, method: str, metric: str = "test") -> list[float]:
        """``metric`` of the chosen setting of ``method``, one value per seed, in seed order."""
        by_seed = {
            t.seed: t.scores[metric]
            for t in self.trials
            if t.method == method and t.params == self.chosen[method]
        }
        return [by_seed[s] for s in self.seeds]

    def difference(self, a: str, b: str, metric: str = "test") -> Difference:
        return paired_difference(self.scores(a, metric), self.scores(b, metric), names=(a, b))

    def records(self) -> list[dict[str, Any]]:
        """One row per (method, seed) of the chosen settings, for ``plots.summarize``."""
        return [
            {"method": t.method, "seed": t.seed, **t.params, **t.scores}
            for t in self.trials
            if t.params == self.chosen[t.method]
        ]

    def table(self, metrics: Sequence[str] = ("val", "test")) -> str:
        """Mean ± std per method (in %) and the setting validation chose."""
        lines = [f"{'method':<22}" + "".join(f"{m:>15}" for m in metrics) + "  chosen on val"]
        for method, params in self.chosen.items():
            cells = []
            for m in metrics:
                v = [100 * x for x in self.scores(method, m)]
                sd = statistics.stdev(v) if len(v) > 1 else 0.0
                cells.append(f"{statistics.fmean(v):>8.1f} ± {sd:4.1f}")
            lines.append(f"{method:<22}" + "".join(cells) + f"  {_params_key(params)}")
        return "\n".join(lines)


def compare(
    methods: Mapping[str, tuple[Run, Sequence[Mapping[str, Any]]]],
    seeds: Sequence[int],
    *,
    metric: str = "val",
) -> Comparison:
    """Tune each method on validation over its grid (grids of equal size: the same search
    budget; a method with no knob has a grid of one setting) and keep every trial.

    ``methods`` maps a name to ``(run, grid)``; ``run(seed=..., **params)`` returns a mapping
    with at least ``"val"`` and ``"test"`` accuracies.
    """
    sizes = {name: len(grid) for name, (_, grid) in methods.items()}
    if len(set(sizes.values()) - {1}) > 1:  # a method with nothing to tune has a grid of one
        raise ValueError(
            f"unequal search budgets {sizes}: give every tuned method a grid of one size"
        )
    if len(seeds) < 3:
        raise ValueError(f"a fair comparison needs at least 3 seeds, got {list(seeds)}")
    result = Comparison(tuple(seeds))
    for name, (run, grid) in methods.items():
        result.chosen[name], trials = tune(run, grid, seeds, method=name, metric=metric)
        result.trials += trials
    return result
