"""The learning rate of fine-tuning, measured: target accuracy and forgetting against the LR,
the LR curves of schedules, and the view behind the learning-rate lesson's explorer.

Pure functions over precomputed records: ``{"lr", "seed", "accuracy", "source_accuracy"}``
(accuracies between 0 and 1), optionally with ``"history"`` (a ``History``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ftkit import plots
from ftkit import widgets as ftwidgets

TARGET, SOURCE = "target task (digits)", "source task (glyphs): what is left"


def _new(ncols: int, width: float = 4.6, height: float = 3.3) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    return fig, list(np.atleast_1d(fig.subplots(1, ncols)))


def forgetting_records(records: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Long format for ``plots.method_comparison``: one row per run and task, in percent."""
    rows = []
    for r in records:
        rows.append({"lr": r["lr"], "task": TARGET, "accuracy": 100 * r["accuracy"]})
        rows.append({"lr": r["lr"], "task": SOURCE, "accuracy": 100 * r["source_accuracy"]})
    return rows


def forgetting_plot(
    records: Sequence[Mapping[str, Any]],
    ax: Axes | None = None,
    *,
    pretrain_lr: float | None = None,
    highlight: float | None = None,
) -> Figure:
    """Target accuracy and source-task accuracy after fine-tuning against the LR (log x),
    mean ± std over seeds; a dotted line at ``pretrain_lr``, a red band at ``highlight``."""
    fig = plots.method_comparison(
        forgetting_records(records), x="lr", y="accuracy", hue="task", ax=ax, logx=True
    )
    ax = fig.axes[0] if ax is None else ax
    ax.set_ylabel("accuracy after fine-tuning (%)")
    ax.set_xlabel("learning rate (SGD, cosine, 15 epochs)")
    ax.set_ylim(-3, 103)
    if pretrain_lr is not None:
        ax.axvline(pretrain_lr, color="0.4", linestyle=":", label=f"pretraining LR {pretrain_lr:g}")
    if highlight is not None:
        ax.axvspan(
            highlight / 1.25,
            highlight * 1.25,
            color="C3",
            alpha=0.2,
            label=f"shown: lr {highlight:g}",
        )
    ax.legend(fontsize=8, loc="lower left")
    return fig


def lr_curves_plot(
    histories: Mapping[str, Any], ax: Axes | None = None, *, group: str = "head"
) -> Figure:
    """The LR of ``group`` at the end of each epoch (``History.lr``), one line per run."""
    if ax is None:
        fig, (ax,) = _new(1)
    else:
        fig = ax.figure
    for name, history in histories.items():
        records = history.as_records()
        ax.plot(
            [r["epoch"] for r in records],
            [r["lr"][group] for r in records],
            marker="o",
            markersize=3,
            label=name,
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"learning rate ({group})")
    ax.legend(fontsize=8)
    return fig


def lr_run_preview(
    records: Sequence[Mapping[str, Any]],
    lr: float,
    *,
    seed: int = 0,
    pretrain_lr: float | None = 0.1,
) -> Figure:
    """The explorer's view for one swept ``lr``: that run's train/validation curves (left two
    panels, ``seed``'s run) and where it sits on the accuracy/forgetting sweep (right)."""
    lrs = sorted({r["lr"] for r in records})
    chosen = min(lrs, key=lambda v: abs(np.log(v) - np.log(lr)))
    runs = [r for r in records if r["lr"] == chosen and r.get("seed", seed) == seed]
    if not runs or runs[0].get("history") is None:
        raise ValueError(f"no run with a history for lr={chosen:g}, seed={seed}")
    run = runs[0]
    fig, axes = _new(3, width=4.0)
    plots.learning_curves(run["history"], ax=axes[:2])
    axes[0].set_ylim(bottom=0)
    axes[1].set_ylim(0, 1.02)
    state = " (diverged: stopped)" if run.get("diverged") else ""
    axes[0].set_title(
        f"lr {chosen:g}: test {100 * run['accuracy']:.1f}%, "
        f"source after {100 * run['source_accuracy']:.1f}%{state}",
        fontsize=9,
        loc="left",
    )
    forgetting_plot(records, axes[2], pretrain_lr=pretrain_lr, highlight=chosen)
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
