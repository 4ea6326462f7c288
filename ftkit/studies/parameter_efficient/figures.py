"""Lesson 09's tables and figures: costs, accuracy and forgetting per method, the
learning-forgetting frontier over the LR grid, and the rank/layers explorer's view."""

from __future__ import annotations

import copy
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn

from ftkit import adapters, freezing, plots, protocol
from ftkit.studies.parameter_efficient.runs import LAYERS, Method, methods

KIND_COLORS = {"probe": "C7", "bitfit": "C2", "lora": "C0", "freeze": "C1", "full": "C3"}


def summary(comparison: protocol.Comparison, pretrained_source: float) -> list[dict[str, Any]]:
    """One row per method at its chosen LR: costs, mean and spread over seeds, forgetting in
    points (pretrained source accuracy minus the source accuracy afterwards)."""
    rows = []
    for name, chosen in comparison.chosen.items():
        test, source = comparison.scores(name, "test"), comparison.scores(name, "source")
        rows.append(
            {
                "method": name,
                "kind": methods()[name].kind,
                "lr": chosen["lr"],
                "trainable": int(comparison.scores(name, "trainable")[0]),
                "bytes": int(comparison.scores(name, "bytes")[0]),
                "test": 100 * statistics.fmean(test),
                "test_sd": 100 * statistics.stdev(test),
                "source": 100 * statistics.fmean(source),
                "forgetting": 100 * (pretrained_source - statistics.fmean(source)),
                "seconds_per_epoch": statistics.fmean(comparison.scores(name, "seconds_per_epoch")),
            }
        )
    return rows


def efficiency_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The comparison as fixed-width text (accuracies in %, storage in KB)."""
    lines = [
        f"{'method':<22}{'LR':>6}{'trainable':>11}{'KB/task':>9}{'digits test':>15}"
        f"{'source after':>14}{'forgot':>8}"
    ]
    for r in rows:
        forgot = round(r["forgetting"], 1) + 0.0  # + 0.0: no "-0.0"
        lines.append(
            f"{r['method']:<22}{r['lr']:>6g}{r['trainable']:>11,}{r['bytes'] / 1024:>9.1f}"
            f"{r['test']:>8.1f} ± {r['test_sd']:3.1f}{r['source']:>13.1f}%{forgot:>8.1f}"
        )
    return "\n".join(lines)


LORA_MARKERS = {"layer4": "^", "layer3-4": "s", "all": "o"}


def _label(row: Mapping[str, Any]) -> str:
    method = methods()[row["method"]]
    if method.kind == "lora" and method.optimizer == "adamw":
        return f"r={method.rank}"  # the marker shape says which layers
    return row["method"]


def efficiency_plot(
    rows: Sequence[Mapping[str, Any]], ax: Axes | None = None, *, highlight: str | None = None
) -> Figure:
    """Test accuracy against trainable parameters (log x); a marker's area grows with the
    forgetting, its colour is the family, its shape (LoRA) the adapted layers; ``highlight`` is
    ringed in black."""
    fig, ax = plots.new_axes(ax, (7.5, 4.2))
    for r in rows:
        method, color = methods()[r["method"]], KIND_COLORS[r["kind"]]
        marker = LORA_MARKERS[method.layers] if method.kind == "lora" else "o"
        x, y = r["trainable"], r["test"]
        ax.errorbar(x, y, yerr=r["test_sd"], color=color, alpha=0.3, capsize=2, ls="none")
        ax.scatter(x, y, s=25 + 12 * max(r["forgetting"], 0.0), color=color, marker=marker,
                   alpha=0.8, edgecolors="k" if r["method"] == highlight else "none",
                   linewidths=2, zorder=3)  # fmt: skip
        ax.annotate(_label(r), (x, y), fontsize=7, xytext=(5, 2), textcoords="offset points")
    for kind, color in KIND_COLORS.items():
        ax.scatter([], [], color=color, s=30, label=kind)
    for layers, marker in LORA_MARKERS.items():
        ax.scatter([], [], color=KIND_COLORS["lora"], marker=marker, s=30, label=f"LoRA {layers}")
    for points in (1, 10, 40):
        ax.scatter([], [], color="0.6", s=25 + 12 * points, label=f"forgot {points} pt")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel("digits test accuracy (%, mean ± std)")
    ax.legend(fontsize=7, loc="lower right", ncols=3)
    return fig


def learning_forgetting_plot(
    comparison: protocol.Comparison,
    names: Sequence[str],
    ax: Axes | None = None,
    *,
    floor: float = 80.0,
) -> Figure:
    """Target accuracy against source accuracy afterwards, one point per LR of the grid (mean
    over seeds), one line per method: who learns more for the same forgetting. Points below
    ``floor`` (a collapsed run) are drawn on the floor as a down-pointing triangle."""
    fig, ax = plots.new_axes(ax, (7.5, 4.2))
    for i, name in enumerate(names):
        points = []
        for lr in dict.fromkeys(t.params["lr"] for t in comparison.trials if t.method == name):
            trials = [t for t in comparison.trials if t.method == name and t.params["lr"] == lr]
            source, test = (100 * statistics.fmean(t.scores[k] for t in trials)
                            for k in ("source", "test"))  # fmt: skip
            points.append((lr, source, max(test, floor), test < floor))
        kept = [p for p in points if not p[3]]  # the line joins the runs that trained
        ax.plot([p[1] for p in kept], [p[2] for p in kept], color=f"C{i}", label=name)
        for lr, x, y, low in points:
            ax.scatter(x, y, color=f"C{i}", marker="v" if low else "o", s=40 if low else 20)
            ax.annotate(f"{lr:g}", (x, y), fontsize=7, xytext=(3, 4), textcoords="offset points")
    ax.set_ylim(floor - 1, 100)
    ax.set_xlabel("source-task accuracy afterwards (%): right = forgot less")
    ax.set_ylabel("digits test accuracy (%)")
    ax.set_title(f"one point per LR (mean of 3 seeds); ▼ = collapsed below {floor:g}%", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def lora_view(
    rows: Sequence[Mapping[str, Any]], rank: int, layers: str, model: nn.Module
) -> Figure:
    """The explorer: where LoRA of ``rank`` on ``layers`` sits among all methods (left), and
    where its trainable parameters are, per layer group (right, log scale)."""
    if layers not in LAYERS:
        raise ValueError(f"layers must be one of {list(LAYERS)}, got {layers!r}")
    name = Method("lora", rank=rank, layers=layers).name
    fig = Figure(figsize=(12, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.6, 1])
    efficiency_plot(rows, left, highlight=name)
    adapted = adapters.lora(copy.deepcopy(model), rank, layers=LAYERS[layers])
    summary_rows = freezing.trainable_summary(adapted)[::-1]  # input at the top
    labels = [r["name"] for r in summary_rows]
    right.barh(
        labels,
        [r["params"] - r["trainable"] for r in summary_rows],
        color="0.85",
        label="frozen (pretrained, shared)",
    )
    right.barh(
        labels,
        [max(r["trainable"], 0.5) for r in summary_rows],
        color="C0",
        label="trainable (stored per task)",
    )
    right.legend(fontsize=7, loc="lower right")
    right.set_xscale("log")
    right.set_xlim(0.8, 5e5)
    total = sum(r["trainable"] for r in summary_rows)
    row = next((r for r in rows if r["method"] == name), None)
    measured = f", test {row['test']:.1f}%, forgot {row['forgetting']:.1f} pts" if row else ""
    right.set_title(f"{name}: {total:,} trainable{measured}", fontsize=9)
    right.set_xlabel("trainable parameters per layer group (log)")
    return fig
