"""Staged fine-tuning made visible: which layer groups train when, and how recipes compare.

Lesson 07 (gradual unfreezing, LP-FT, forgetting, domain shift): the schedule as a (group,
epoch) matrix and its explorer view, grouped bars over seeds, the real-photo runs
(``photo_run``, the stored Fashion-MNIST sweep) and the exercise checkers, which hold the
expected answers or measure them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from ftkit import data, evaluation, models, plots, protocol, training

Record = Mapping[str, Any]


def trainable_at(group_names: Sequence[str], stage: int) -> list[str]:
    """The groups gradual unfreezing trains in ``stage`` (0-based): the top ``stage + 1``.

    >>> trainable_at(["stem", "layer1", "layer2", "head"], 1)
    ['layer2', 'head']
    """
    names = list(group_names)
    if not 0 <= stage < len(names):
        raise ValueError(f"stage must be between 0 and {len(names) - 1}, got {stage}")
    return names[len(names) - 1 - stage :]


def schedule_matrix(
    group_names: Sequence[str], epochs_per_stage: int, stages: int | None = None
) -> np.ndarray:
    """Gradual unfreezing as a boolean (groups, epochs) matrix: True where a group trains.

    Rows follow ``group_names`` (input to head); epoch ``e`` (0-based) is in stage
    ``e // epochs_per_stage``.

    >>> schedule_matrix(["stem", "head"], 2).astype(int)
    array([[0, 0, 1, 1],
           [1, 1, 1, 1]])
    """
    names = list(group_names)
    stages = len(names) if stages is None else stages
    if epochs_per_stage < 1 or not 1 <= stages <= len(names):
        raise ValueError(f"need epochs_per_stage >= 1 and 1 <= stages <= {len(names)}")
    matrix = np.zeros((len(names), stages * epochs_per_stage), dtype=bool)
    for stage in range(stages):
        cols = slice(stage * epochs_per_stage, (stage + 1) * epochs_per_stage)
        for name in trainable_at(names, stage):
            matrix[names.index(name), cols] = True
    return matrix


def unfreezing_view(
    histories: Mapping[str, Any],
    group_names: Sequence[str],
    *,
    epoch: int,
    epochs_per_stage: int,
    metric: str = "val_acc",
) -> Figure:
    """Left: the gradual-unfreezing schedule with epoch ``epoch`` (1-based) marked. Right: each
    recipe's ``metric`` per epoch (``histories``: name -> History), solid up to
    ``epoch`` and faded after it."""
    names = list(group_names)
    matrix = schedule_matrix(names, epochs_per_stage)
    epochs = matrix.shape[1]
    epoch = int(np.clip(epoch, 1, epochs))
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.3])
    cmap = ListedColormap(["#d9d9d9", "#2ca02c"])  # frozen grey, trainable green
    left.imshow(
        matrix[::-1],
        cmap=cmap,
        vmin=0,
        vmax=1,
        aspect="auto",
        extent=(0.5, epochs + 0.5, -0.5, len(names) - 0.5),
    )
    left.set_yticks(range(len(names)), names)
    left.axvline(epoch, color="k", lw=2)
    left.set_xlabel("epoch")
    stage = (epoch - 1) // epochs_per_stage
    left.set_title(
        f"gradual: epoch {epoch}, stage {stage}, trains {', '.join(trainable_at(names, stage))}",
        fontsize=9,
    )
    for i, (name, history) in enumerate(histories.items()):
        records = history.as_records()
        xs = [r.get("epoch", j + 1) for j, r in enumerate(records)]
        ys = [r[metric] for r in records]
        seen = [(x, y) for x, y in zip(xs, ys) if x <= epoch]
        right.plot(xs, ys, color=f"C{i}", alpha=0.25)
        if seen:
            right.plot(*zip(*seen), color=f"C{i}", marker="o", markersize=3, label=name)
    right.axvline(epoch, color="k", lw=1, linestyle="--")
    right.set_xlabel("epoch")
    right.set_ylabel(metric)
    right.legend(loc="lower right")
    return fig


# --- comparing recipes over seeds ----------------------------------------------------------


def mean_of(records: Sequence[Record], y: str, **where: Any) -> float:
    """Mean of ``y`` over the records matching every ``key=value`` in ``where``.

    >>> runs = [{"m": "a", "acc": 0.5}, {"m": "a", "acc": 0.7}, {"m": "b", "acc": 0.1}]
    >>> mean_of(runs, "acc", m="a")
    0.6
    """
    values = [float(r[y]) for r in records if all(r.get(k) == v for k, v in where.items())]
    if not values:
        raise ValueError(f"no records match {where}")
    return round(float(np.mean(values)), 10)


def recipe_bars(
    records: Sequence[Record],
    x: str,
    y: str,
    hue: str,
    *,
    ax: Any = None,
    ylabel: str | None = None,
    fmt: str = "{:.0%}",
) -> Figure:
    """Grouped bars: one group per ``x`` value (in first-seen order), one bar per ``hue``,
    height = mean of ``y``, error bar = std over the repeats (seeds), labelled with ``fmt``."""
    xs = list(dict.fromkeys(r[x] for r in records))
    hues = list(dict.fromkeys(r[hue] for r in records))
    fig, ax = plots.new_axes(ax, (1.2 + 1.1 * len(xs) * max(1, len(hues)) / 2, 3.4))
    width = 0.8 / len(hues)
    for j, h in enumerate(hues):
        means, errs, pos = [], [], []
        for i, v in enumerate(xs):
            values = [float(r[y]) for r in records if r[x] == v and r[hue] == h]
            if values:
                means.append(np.mean(values))
                errs.append(np.std(values, ddof=1) if len(values) > 1 else 0.0)
                pos.append(i - 0.4 + width * (j + 0.5))
        bars = ax.bar(pos, means, width, yerr=errs, capsize=3, label=str(h), color=f"C{j}")
        ax.bar_label(bars, [fmt.format(m) for m in means], fontsize=7)
    ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set_ylabel(ylabel or f"{y} (mean ± std)")
    ax.legend(title=hue, fontsize=8)
    return fig


# --- the limits of transfer on real photos (the ImageNet model) -------------------------------


def photo_run(
    target: str,
    *,
    seed: int,
    lr: float,
    pretrained: bool,
    steps: int,
    k: int = 10,
    image_size: int = 64,
    batch_size: int = 20,
    backbone: str = "squeezenet1_1",
) -> dict[str, float]:
    """Fine-tune ``backbone`` (ImageNet weights, or the same network at random init when
    ``pretrained`` is False: training from scratch) on a photo target for ``steps`` AdamW
    steps with a cosine schedule; return validation, test and final training accuracy.

    SqueezeNet has no batch norm; AdamW trains it from scratch where SGD barely moves it, so
    both sides get AdamW (and each its own LR, chosen on validation).
    """
    splits = data.load_target(target, k=k, seed=seed, image_size=image_size)
    torch.manual_seed(seed)  # the random init of a scratch network
    model, info = models.load_backbone(backbone, pretrained=pretrained)
    models.replace_head(model, len(splits.classes), seed=seed)
    train_loader, val_loader, test_loader = data.make_loaders(
        splits, info, batch_size=batch_size, seed=seed
    )
    epochs = protocol.epochs_for_steps(steps, len(splits.train), batch_size)
    history = training.fit(
        model,
        train_loader,
        None,
        epochs=epochs,
        lr=lr,
        optimizer="adamw",
        schedule="cosine",
        seed=seed,
        on_divergence="stop",
    )
    return {
        "val": evaluation.accuracy(model, val_loader),
        "test": evaluation.accuracy(model, test_loader),
        "train": history.train_acc[-1],
    }


#: Lesson 07's Fashion-MNIST comparison: the same LR grid for both methods (the same search
#: budget), the same budget of AdamW steps, the same seeds.
FASHION_LRS = {"fine-tune": (1e-4, 3e-4, 1e-3), "scratch": (1e-4, 3e-4, 1e-3)}
FASHION_STEPS = 120
FASHION_SEEDS = (0, 1, 2)


def fashion_sweep(
    lrs: Mapping[str, Sequence[float]] = FASHION_LRS, steps: int = FASHION_STEPS
) -> list[dict[str, Any]]:
    """Every (method, lr, seed) of lesson 07's Fashion-MNIST comparison, trained with
    ``photo_run`` (64 px, k = 10): how ``fashion_sweep.json`` was made (its ``"runs"``; minutes
    of CPU). The lesson re-runs one point and checks it against the stored value."""
    return [
        {"method": method, "lr": lr, "seed": seed}
        | {
            k: round(v, 4)
            for k, v in photo_run(
                "fashion", seed=seed, lr=lr, pretrained=method == "fine-tune", steps=steps
            ).items()
        }
        for method, grid in lrs.items()
        for lr in grid
        for seed in FASHION_SEEDS
    ]


def stored_fashion_sweep(part: str = "runs") -> dict[tuple[str, float, int], dict[str, float]]:
    """The stored ``fashion_sweep()``: ``(method, lr, seed) -> {"val", "test", "train"}``.
    ``part="scratch_2x"``: scratch at its chosen LR with twice the steps (is it starved?)."""
    text = resources.files("ftkit.studies").joinpath("fashion_sweep.json").read_text()
    return {
        (r["method"], r["lr"], r["seed"]): {k: r[k] for k in ("val", "test", "train")}
        for r in json.loads(text)[part]
    }
