"""Precomputed sweeps over one regularization knob, and an explorer to step through them.

A sweep is ``{value: result}`` where each result holds the target ``accuracy``, the
``source_accuracy`` after fine-tuning (forgetting) and the ``weight_change`` per layer group
(as ``evaluation.weight_change`` returns). Lesson 06 sweeps the L2-SP strength; the explorer
only redraws, so moving its slider costs no training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from ftkit import widgets as ftwidgets

Sweep = Mapping[float, Mapping[str, Any]]


def sweep_preview(sweep: Sweep, *, value: float, knob: str = "L2-SP alpha") -> Figure:
    """Left: target and source-task accuracy against the knob, ``value`` marked.
    Right: how far each layer group moved from its pretrained weights at ``value``."""
    if value not in sweep:
        raise KeyError(f"{knob}={value!r} was not run; available: {sorted(sweep)}")
    values = sorted(sweep)
    positions = range(len(values))  # evenly spaced: the values are usually on a log grid
    fig = Figure(figsize=(10, 3.5), layout="constrained")
    ax_acc, ax_change = fig.subplots(1, 2)
    for key, label in (("accuracy", "target (digits) test"), ("source_accuracy", "source task")):
        ax_acc.plot(positions, [sweep[v][key] for v in values], marker="o", label=label)
    ax_acc.axvline(values.index(value), color="k", linestyle="--", linewidth=1)
    ax_acc.set_xticks(list(positions), [f"{v:g}" for v in values])
    ax_acc.set(xlabel=knob, ylabel="accuracy", ylim=(0, 1.02))
    ax_acc.legend(loc="lower right")
    changes = sweep[value]["weight_change"]
    top = max(max(r["weight_change"].values()) for r in sweep.values())
    ax_change.bar(list(changes), list(changes.values()), color="C1")
    ax_change.set(
        xlabel="layer group",
        ylabel="||w - w0|| / ||w0||",
        ylim=(0, top * 1.1),
        title=f"{knob} = {value:g}",
    )
    return fig


def sweep_explorer(sweep: Sweep, *, knob: str = "L2-SP alpha") -> widgets.interactive:
    """A slider over the swept values of ``knob``, redrawing ``sweep_preview``."""
    values = sorted(sweep)
    slider = widgets.SelectionSlider(
        options=[(f"{v:g}", v) for v in values],
        value=values[0],
        description=knob,
        continuous_update=False,
    )
    return ftwidgets.explorer(
        sweep_preview, sweep=widgets.fixed(sweep), value=slider, knob=widgets.fixed(knob)
    )
