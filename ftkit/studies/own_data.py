"""Lesson 08's views: one prediction on the learner's own image, drawn next to its class
probabilities. The pipeline itself (folders, fit, export) is core: ``folders``, ``deploy``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

from ftkit import plots


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
