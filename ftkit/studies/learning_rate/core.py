"""The learning rate of fine-tuning, measured: tables, forgetting against the LR, LR x batch
grids, schedule shapes and the explorer's view.

Pure functions over ``protocol.Trial`` lists or records ``{"lr", "seed", "test", "source"}``
(accuracies 0-1, optionally ``"history"``). Lesson wording comes in as arguments.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import DataLoader

from ftkit import evaluation, plots, protocol, schedules
from ftkit import widgets as ftwidgets


def _new(ncols: int, width: float = 4.6, height: float = 3.3) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    return fig, list(np.atleast_1d(fig.subplots(1, ncols)))


def as_records(trials: Sequence[protocol.Trial | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Trials (or records) as flat dicts: hyper-parameters, seed and scores side by side."""
    out = []
    for t in trials:
        if isinstance(t, protocol.Trial):
            out.append({"method": t.method, "seed": t.seed, **t.params, **t.scores})
        else:
            out.append(dict(t))
    return out


def _mean_sd(values: Sequence[float]) -> str:
    v = [100 * x for x in values]
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{statistics.fmean(v):5.1f} ± {sd:4.1f}"


def sweep_table(
    trials: Sequence[protocol.Trial | Mapping[str, Any]],
    *,
    key: str = "lr",
    metrics: Sequence[str] = ("val", "test", "source"),
) -> str:
    """Mean ± std (in %) of each metric per value of ``key``, and how many runs diverged."""
    rows = as_records(trials)
    values = list(dict.fromkeys(r[key] for r in rows))
    lines = [f"{key:>8}" + "".join(f"{m:>15}" for m in metrics) + "   diverged"]
    for v in values:
        runs = [r for r in rows if r[key] == v]
        cells = "".join(f"{_mean_sd([r[m] for r in runs]):>15}" for m in metrics)
        diverged = sum(bool(r.get("diverged")) for r in runs)
        lines.append(f"{v:>8g}{cells}   {diverged} of {len(runs)}")
    return "\n".join(lines)


def forgetting_plot(
    records: Sequence[protocol.Trial | Mapping[str, Any]],
    ax: Axes | None = None,
    *,
    target_label: str,
    source_label: str,
    xlabel: str,
    pretrain_lr: float | None = None,
    highlight: float | None = None,
) -> Figure:
    """Target (``test``) and source-task (``source``) accuracy against the LR (log x), mean ±
    std over seeds; a dotted line at ``pretrain_lr``, a red band at ``highlight``."""
    rows = []
    for r in as_records(records):
        rows.append({"lr": r["lr"], "task": target_label, "accuracy": 100 * r["test"]})
        rows.append({"lr": r["lr"], "task": source_label, "accuracy": 100 * r["source"]})
    fig = plots.method_comparison(rows, x="lr", y="accuracy", hue="task", ax=ax, logx=True)
    ax = fig.axes[0] if ax is None else ax
    ax.set(ylabel="accuracy after fine-tuning (%)", xlabel=xlabel, ylim=(-3, 103))
    if pretrain_lr is not None:
        ax.axvline(pretrain_lr, color="0.4", linestyle=":", label=f"pretraining LR {pretrain_lr:g}")
    if highlight is not None:
        ax.axvspan(highlight / 1.25, highlight * 1.25, color="C3", alpha=0.2)
    ax.legend(fontsize=8, loc="lower left")
    return fig


def grid_heatmap(
    trials: Sequence[protocol.Trial | Mapping[str, Any]],
    *,
    rows: str,
    cols: str,
    metric: str = "val",
    ax: Axes | None = None,
    title: str = "",
) -> Figure:
    """Mean ``metric`` (in %) for each (``rows``, ``cols``) cell, e.g. batch size x LR; each
    row's best cell is boxed."""
    fig, ax = plots.new_axes(ax, (5.2, 2.8))
    recs = as_records(trials)
    r_vals = sorted({r[rows] for r in recs})
    c_vals = sorted({r[cols] for r in recs})
    grid = np.full((len(r_vals), len(c_vals)), np.nan)
    for i, rv in enumerate(r_vals):
        for j, cv in enumerate(c_vals):
            cell = [100 * r[metric] for r in recs if r[rows] == rv and r[cols] == cv]
            grid[i, j] = np.mean(cell) if cell else np.nan
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    for i in range(len(r_vals)):
        best = int(np.nanargmax(grid[i]))
        for j in range(len(c_vals)):
            if not np.isnan(grid[i, j]):
                weight = "bold" if j == best else "normal"
                ax.text(
                    j,
                    i,
                    f"{grid[i, j]:.1f}",
                    ha="center",
                    va="center",
                    weight=weight,
                    color="white" if grid[i, j] < np.nanmean(grid) else "black",
                    fontsize=8,
                )
    ax.set_xticks(range(len(c_vals)), [f"{v:g}" for v in c_vals])
    ax.set_yticks(range(len(r_vals)), [f"{v:g}" for v in r_vals])
    ax.set(xlabel=cols, ylabel=rows, title=title)
    fig.colorbar(image, ax=ax, label=f"{metric} accuracy (%)")
    return fig


def schedule_shapes_plot(
    settings: Mapping[str, Mapping[str, Any]], total_steps: int, ax: Axes | None = None
) -> Figure:
    """The LR multiplier at every optimizer step for each named setting (``schedule`` and
    ``warmup_steps``), as ``fit`` steps it: nothing is trained."""
    fig, ax = plots.new_axes(ax, (5, 3.2))
    for name, s in settings.items():
        factor = schedules.lr_factor(
            s.get("schedule", "constant"), total_steps, warmup_steps=s.get("warmup_steps", 0)
        )
        ax.plot(range(total_steps), [factor(i) for i in range(total_steps)], label=name)
    ax.set(xlabel="optimizer step", ylabel="LR / peak LR")
    ax.legend(fontsize=8)
    return fig


def lr_run_preview(
    records: Sequence[protocol.Trial | Mapping[str, Any]],
    lr: float,
    *,
    target_label: str,
    source_label: str,
    xlabel: str,
    pretrain_lr: float | None = None,
) -> Figure:
    """The explorer's view for one swept ``lr``: each seed's training loss per epoch (left) and
    where that LR sits on the accuracy/forgetting curves (right)."""
    recs = as_records(records)
    lrs = sorted({r["lr"] for r in recs})
    chosen = min(lrs, key=lambda v: abs(math.log(v) - math.log(lr)))
    runs = [r for r in recs if r["lr"] == chosen and r.get("history") is not None]
    if not runs:
        raise ValueError(f"no run with a history for lr={chosen:g}")
    fig, (left, right) = _new(2, width=4.4)
    for r in runs:
        h = r["history"].as_records()
        stop = " (diverged: stopped)" if r.get("diverged") else ""
        left.plot(
            [e["epoch"] for e in h],
            [e["train_loss"] for e in h],
            marker="o",
            markersize=3,
            label=f"seed {r['seed']}: test {100 * r['test']:.1f}%{stop}",
        )
    left.set(xlabel="epoch", ylabel="training loss", yscale="log", title=f"lr {chosen:g}")
    left.legend(fontsize=7)
    forgetting_plot(
        recs,
        right,
        target_label=target_label,
        source_label=source_label,
        xlabel=xlabel,
        pretrain_lr=pretrain_lr,
        highlight=chosen,
    )
    return fig


def lr_choice_preview(result: Any, *, lr: float) -> Figure:
    """The LR finder curve with the learner's chosen ``lr`` marked next to the suggestions."""
    fig = plots.lr_finder_plot(result)
    ax = fig.axes[0]
    ax.axvline(lr, color="k", linestyle="--", label=f"chosen: {lr:.1e}")
    ax.legend()
    return fig


def lr_explorer(result: Any) -> widgets.interactive:
    """A log-scale slider to pick a learning rate on an LR finder curve (``lrs``, ``losses``,
    ``suggestions``); the chosen value is ``control(w, "lr").value``."""
    lrs = [float(v) for v in result.lrs]
    start = float(getattr(result, "suggested_lr", None) or lrs[len(lrs) // 2])
    slider = widgets.FloatLogSlider(
        value=start,
        base=10,
        min=math.log10(min(lrs)),
        max=math.log10(max(lrs)),
        step=0.05,
        description="lr",
        readout_format=".1e",
        continuous_update=False,
    )
    return ftwidgets.explorer(lr_choice_preview, result=widgets.fixed(result), lr=slider)


def balanced_accuracy(model: nn.Module, loader: DataLoader, classes: Sequence[str]) -> float:
    """Mean of the per-class accuracies: an imbalanced test set cannot hide a weak class."""
    per_class = evaluation.per_class_accuracy(model, loader, list(classes))
    return float(np.nanmean(list(per_class.values())))
