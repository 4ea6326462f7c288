"""ipywidgets explorers: thin layers over pure functions that return a figure.

Every explorer is ``ipywidgets.interactive`` around a pure function; the function is public so
that tests and learners can call it without widgets. Moving a control calls the function with
the new values and shows the returned figure in the widget's output area.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from ftkit import data, plots
from ftkit.models import BackboneInfo


def explorer(fn: Callable[..., Any], **controls: Any) -> widgets.interactive:
    """Controls for ``fn``'s keyword arguments; each change redraws ``fn(**values)``.

    Controls follow ``ipywidgets.interact``: a widget, ``(min, max, step)`` for a slider, a
    list for a dropdown, a bool for a checkbox, ``ipywidgets.fixed(v)`` for a constant.

    >>> explorer(lambda lr: plots.lr_finder_plot(result), lr=(1e-4, 1.0))  # doctest: +SKIP
    """
    return widgets.interactive(fn, **controls)


def control(widget: widgets.interactive, name: str) -> widgets.Widget:
    """The control of ``name`` in an explorer (to read or set it programmatically)."""
    for child in widget.kwargs_widgets:
        if child._kwarg == name:
            return child
    raise KeyError(f"no control named {name!r}; controls: {[c._kwarg for c in widget.kwargs_widgets]}")


def augmentation_preview(
    image: torch.Tensor,
    info: BackboneInfo,
    *,
    rotation: float = 0.0,
    scale: float = 0.0,
    translate: float = 0.0,
    hflip: bool = False,
    color_jitter: float = 0.0,
    n: int = 7,
    seed: int = 0,
) -> Figure:
    """``n`` augmented views of ``image`` (3, H, W uint8) under ``data.train_transforms``;
    ``scale`` is the half-width of the zoom range ``(1 - scale, 1 + scale)``."""
    transform = data.train_transforms(
        info, rotation=rotation, scale=(1 - scale, 1 + scale), translate=translate,
        hflip_prob=0.5 if hflip else 0.0, color_jitter=color_jitter,
    )
    return plots.augmentation_grid(image, transform, n, mean=info.mean, std=info.std, seed=seed)


def augmentation_explorer(image: torch.Tensor, info: BackboneInfo, *, n: int = 7) -> widgets.interactive:
    """Sliders for rotation, zoom, shift, flip and colour jitter over ``augmentation_preview``."""
    slider = {"continuous_update": False}
    return explorer(
        augmentation_preview,
        image=widgets.fixed(image),
        info=widgets.fixed(info),
        rotation=widgets.FloatSlider(value=0, min=0, max=90, step=5, description="rotation°", **slider),
        scale=widgets.FloatSlider(value=0, min=0, max=0.5, step=0.05, description="zoom ±", **slider),
        translate=widgets.FloatSlider(value=0, min=0, max=0.3, step=0.02, description="shift", **slider),
        hflip=widgets.Checkbox(value=False, description="h-flip"),
        color_jitter=widgets.FloatSlider(value=0, min=0, max=0.8, step=0.1, description="colour", **slider),
        n=widgets.fixed(n),
        seed=widgets.IntSlider(value=0, min=0, max=20, description="seed", **slider),
    )


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
        value=start, base=10, min=math.log10(min(lrs)), max=math.log10(max(lrs)), step=0.05,
        description="lr", readout_format=".1e", continuous_update=False,
    )
    return explorer(lr_choice_preview, result=widgets.fixed(result), lr=slider)
