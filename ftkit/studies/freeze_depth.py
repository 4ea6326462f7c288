"""What freezing does, measured: accuracy and time against the number of frozen layer groups,
how batch-norm running statistics drift in layers whose weights are frozen, and the freezing
lesson's exercise checkers (the expected answers live here, not in the learner's cell).

Pure functions: records and state dicts in, numbers or a ``Figure`` out. The freezing lesson
precomputes a sweep and its explorer redraws ``freeze_preview`` for the chosen ``n``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn

from ftkit import exercises, models
from ftkit.plots import summarize

FROZEN_COLOR, TRAINABLE_COLOR, HIGHLIGHT_COLOR, DIM_COLOR = "0.75", "C0", "C3", "C0"


def _new(ncols: int, width: float = 4.2, height: float = 3.2) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    return fig, list(np.atleast_1d(fig.subplots(1, ncols)))


def _bars(
    ax: Axes,
    records: Sequence[Mapping[str, Any]],
    y: str,
    highlight: int | None,
    scale: float = 1.0,
) -> None:
    """Mean ``y`` per ``n`` (± std over seeds), the ``highlight`` bar in red."""
    for xs, means, errs in summarize(records, x="n", y=y, hue="_all").values():
        colors = [HIGHLIGHT_COLOR if x == highlight else DIM_COLOR for x in xs]
        ax.bar(xs, means * scale, yerr=errs * scale, color=colors, capsize=3)
        ax.set_xticks(xs)


def freeze_sweep_plot(
    records: Sequence[Mapping[str, Any]],
    *,
    highlight: int | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Test accuracy and training time against ``n``, the number of frozen layer groups.

    ``records``: dicts with ``n``, ``test`` (accuracy, 0-1) and ``seconds``, one per run (seed);
    bars show the mean ± std over the runs of each ``n``.
    """
    rows = [{**r, "_all": 0} for r in records]
    fig, (acc_ax, time_ax) = _new(2) if axes is None else (axes[0].figure, list(axes))
    _bars(acc_ax, rows, "test", highlight, scale=100)
    low = min(100 * r["test"] for r in rows)
    acc_ax.set_ylim(max(0.0, low - 5), 100)
    acc_ax.set_ylabel("test accuracy (%)")
    _bars(time_ax, rows, "seconds", highlight)
    time_ax.set_ylabel("training time (s)")
    for ax in (acc_ax, time_ax):
        ax.set_xlabel("n frozen layer groups (0 = full fine-tuning)")
    return fig


def trainable_plot(rows: Sequence[Mapping[str, Any]], ax: Axes | None = None) -> Figure:
    """``freezing.trainable_summary`` rows as horizontal bars (log scale): grey = frozen."""
    if ax is None:
        fig, (ax,) = _new(1)
    else:
        fig = ax.figure
    names = [r["name"] for r in rows][::-1]  # input at the top
    params = [r["params"] for r in rows][::-1]
    colors = [FROZEN_COLOR if r["status"] == "frozen" else TRAINABLE_COLOR for r in rows][::-1]
    ax.barh(names, params, color=colors)
    ax.set_xscale("log")
    ax.set_xlabel("parameters (grey = frozen)")
    trainable = sum(r["trainable"] for r in rows)
    ax.set_title(f"{trainable:,} of {sum(r['params'] for r in rows):,} trainable", fontsize=9)
    return fig


def freeze_preview(
    records: Sequence[Mapping[str, Any]],
    summaries: Mapping[int, Sequence[Mapping[str, Any]]],
    n: int,
) -> Figure:
    """The explorer's view for ``n`` frozen groups: which groups train, and where ``n`` sits
    in the precomputed sweep (accuracy and time, its bars in red)."""
    if n not in summaries:
        raise ValueError(f"no summary for n={n}; have {sorted(summaries)}")
    fig, axes = _new(3, width=3.8)
    trainable_plot(summaries[n], ax=axes[0])
    freeze_sweep_plot(records, highlight=n, axes=axes[1:])
    return fig


# --- batch-norm statistics -----------------------------------------------------------------


def bn_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every batch-norm ``running_mean`` and ``running_var``, by state-dict key."""
    return {
        k: v.detach().clone()
        for k, v in model.state_dict().items()
        if k.endswith(("running_mean", "running_var"))
    }


def bn_drift(
    model: nn.Module,
    reference: Mapping[str, torch.Tensor],
    groups: Mapping[str, nn.Module] | None = None,
) -> dict[str, float]:
    """Per layer group, the relative L2 distance of the batch-norm running statistics (means
    and variances together) from ``reference`` (e.g. ``bn_buffers`` of the pretrained model).

    Groups without batch-norm layers (the head) are left out.
    """
    groups = groups if groups is not None else models.layer_groups(model)
    names = {id(m): name for name, m in model.named_modules()}
    drift = {}
    for group, module in groups.items():
        diff = ref = 0.0
        for m in module.modules():
            if not isinstance(m, nn.modules.batchnorm._BatchNorm) or m.running_mean is None:
                continue
            prefix = names[id(m)]
            for buffer in ("running_mean", "running_var"):
                now, before = getattr(m, buffer).detach(), reference[f"{prefix}.{buffer}"]
                diff += (now - before).pow(2).sum().item()
                ref += before.pow(2).sum().item()
        if ref > 0:
            drift[group] = (diff / ref) ** 0.5
    return drift


# --- exercise checkers ----------------------------------------------------------------------


def check_freeze_by_hand(model: nn.Module) -> bool:
    """Exercise 1: the stem, ``layer1`` and ``layer2`` frozen; ``layer3``, ``layer4`` and the
    head trainable."""
    return exercises.check_frozen(
        model,
        ["layer3", "layer4", "head"],
        hint="conv1 and bn1 form the stem; loop over module.parameters().",
    )


def check_trainable_after_freeze_to_3(answer: Any) -> bool:
    """Exercise 2: trainable parameters of the 10-class embedded model after ``freeze_to(3)``."""
    return exercises.check(
        "trainable parameters with 3 groups frozen",
        answer,
        57_728 + 230_144 + 1_290,
        hint="n = 3 freezes stem, layer1 and layer2; add up the groups that remain.",
    )


def check_bn_policy(policy: Any) -> bool:
    """Exercise 3: the batch-norm policy for a frozen backbone under a change of image
    statistics."""
    return exercises.check_choice(
        policy,
        "train",
        ["frozen_eval", "train"],
        name="batch-norm policy",
        hint="which policy let the running statistics follow the striped images?",
    )


# Exercise 4 (change a setting, predict, then measure) is the core's checker.
check_change_prediction = exercises.check_change_prediction
