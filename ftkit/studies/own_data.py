"""Lesson 08's views and exercise checkers: one prediction on the learner's own image, drawn
next to its class probabilities; the checkers hold the expected answers (or measure them). The
pipeline itself (folders, fit, export, onnxruntime) is core: ``folders``, ``deploy``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from ftkit import exercises, folders, plots


def prediction_figure(
    image: torch.Tensor,
    probs: torch.Tensor,
    classes: Sequence[str],
    *,
    true: str | None = None,
    top: int = 10,
) -> Figure:
    """Left: the image (3, H, W) uint8. Right: the ``top`` class probabilities as bars, the
    predicted class in orange and the true one (if given) outlined."""
    probs = torch.as_tensor(probs, dtype=torch.float32)
    order = probs.argsort(descending=True)[:top].flip(0)  # largest at the top of the chart
    fig = Figure(figsize=(7, 2.8), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 2])
    left.imshow(plots.to_displayable(image.unsqueeze(0))[0], interpolation="nearest")
    left.set_axis_off()
    predicted = classes[int(probs.argmax())]
    verdict = "" if true is None else (" ✓" if true == predicted else f" ✗ (true {true})")
    left.set_title(f"predicted {predicted}{verdict}", fontsize=9)
    names = [classes[int(i)] for i in order]
    colors = ["C1" if n == predicted else "C0" for n in names]
    bars = right.barh(names, probs[order].numpy(), color=colors)
    for bar, name in zip(bars, names):
        if name == true:
            bar.set_edgecolor("k")
            bar.set_linewidth(2)
    right.set_xlim(0, 1)
    right.set_xlabel("probability")
    return fig


def setting(params: Mapping[str, Any]) -> str:
    """A setting as a short label.

    >>> setting({"lr": 0.001, "frozen": 0})
    'lr=0.001, frozen=0'
    """
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def setting_bars(records: Sequence[Mapping[str, Any]], *, y: str = "val", ax: Any = None) -> Figure:
    """One bar per ``records[i]["setting"]`` (in first-seen order): the mean of ``y`` over the
    seeds, each seed's value as a dot, so that the spread is visible next to the mean."""
    fig, ax = plots.new_axes(ax, (5, 3.2))
    names = list(dict.fromkeys(r["setting"] for r in records))
    for i, name in enumerate(names):
        values = [float(r[y]) for r in records if r["setting"] == name]
        ax.bar(i, float(np.mean(values)), color="C0", alpha=0.6)
        ax.plot([i] * len(values), values, "k.", markersize=6)
    ax.set_xticks(range(len(names)), names, fontsize=8)
    ax.set_ylabel(f"{y} accuracy (bar: mean, dots: seeds)")
    return fig


# --- exercise checkers -------------------------------------------------------------------------

#: Exercise 2's folder: how many images each class gets, and one file that is not an image.
BROKEN_FOLDER = {"cat": 4, "dog": 2}


def check_tuning_split(answer: Any) -> bool:
    """Exercise 1: the split on which hyper-parameters are compared."""
    return exercises.check_choice(
        answer,
        "validation",
        ["train", "validation", "test"],
        name="split for tuning",
        hint="the training score rewards overfitting, and the test split must stay out of every "
        "decision.",
    )


def make_broken_folder(root: str | Path) -> Path:
    """Exercise 2: a folder that does not load (a file that is not an image, a class with too
    few images). Returns ``root``."""
    root = Path(root)
    for name, count in BROKEN_FOLDER.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            colour = (30 * i, 100, 200 if name == "cat" else 20)
            Image.new("RGB", (32, 32), colour).save(root / name / f"{i}.png")
    (root / "cat" / "broken.jpg").write_bytes(b"\x00" * 10)
    return root


def check_folder_loads(root: str | Path) -> bool:
    """Exercise 2: the learner's fixed folder loads, with every class of ``BROKEN_FOLDER``."""
    try:
        classes = folders.image_folder_splits(root, image_size=32).classes
    except folders.ImageFolderError as exc:
        print("ImageFolderError:", exc)
        classes = None
    return exercises.check(
        "folder loads",
        classes,
        sorted(BROKEN_FOLDER),
        hint="remove the file that is not an image, and give every class at least 3 images "
        "(do not delete a class).",
    )


def check_wrong_count(n_wrong: Any, cm: np.ndarray) -> bool:
    """Exercise 3: the number of misclassified images in the confusion matrix ``cm``."""
    cm = np.asarray(cm)
    return exercises.check(
        "wrong test predictions",
        n_wrong,
        int(cm.sum() - np.trace(cm)),
        hint="everything off the diagonal is a mistake: the total minus the trace.",
    )


#: Exercise 4: the core's predict-then-measure checker, judged on validation accuracy.
predict_then_measure = partial(exercises.predict_then_measure, metric="val")
