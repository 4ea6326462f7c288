"""Pure plotting functions: data in, ``matplotlib.figure.Figure`` out.

Each function takes an optional ``ax`` (or draws a new figure) and returns the Figure. New
figures are built with ``matplotlib.figure.Figure``, not ``pyplot``: no global figure state, no
figure shown twice in a notebook (Jupyter displays the returned figure once), nothing to close.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ftkit.history import History

Record = Mapping[str, Any]


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (5, 3.5)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _grid(n: int, ncols: int, cell: float = 1.2) -> tuple[Figure, list[Axes]]:
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig = Figure(figsize=(cell * ncols, cell * nrows + 0.2), layout="constrained")
    axes = list(np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel())
    for ax in axes:
        ax.set_axis_off()
    return fig, axes[:n]


# --- training curves -----------------------------------------------------------------------


def learning_curves(
    history: History,
    ax: Axes | Sequence[Axes] | None = None,
    metrics: Sequence[str] = ("loss", "acc"),
) -> Figure:
    """Train and validation curves per epoch of a ``History`` (from ``fit`` or a probe), one
    panel per metric; a split never measured (all NaN: no validation loader) is left out."""
    if ax is None:
        fig = Figure(figsize=(4.5 * len(metrics), 3.2), layout="constrained")
        axes = list(np.atleast_1d(fig.subplots(1, len(metrics))))
    else:
        axes = list(ax) if isinstance(ax, Sequence) else [ax]
        fig = axes[0].figure
    for metric, a in zip(metrics, axes):
        for split in ("train", "val"):
            values = getattr(history, f"{split}_{metric}")
            if not all(math.isnan(v) for v in values):
                a.plot(history.epoch, values, marker="o", markersize=3, label=split)
        a.set_xlabel("epoch")
        a.set_ylabel(metric)
        a.legend()
    return fig


def lr_finder_plot(result: Any, ax: Axes | None = None) -> Figure:
    """Loss against learning rate (log x) with a marker per suggestion.

    Duck-typed: ``result`` has ``lrs``, ``losses`` and ``suggestions`` (name -> lr).
    """
    fig, ax = new_axes(ax)
    lrs, losses = np.asarray(result.lrs, float), np.asarray(result.losses, float)
    ax.plot(lrs, losses, color="C0")
    for i, (name, lr) in enumerate(dict(result.suggestions).items(), start=1):
        j = int(np.argmin(np.abs(np.log(lrs) - np.log(lr))))  # nearest measured point
        ax.plot([lr], [losses[j]], "o", color=f"C{i}", label=f"{name}: {lr:.1e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    if result.suggestions:
        ax.legend()
    return fig


# --- images --------------------------------------------------------------------------------


def to_displayable(
    images: torch.Tensor, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> np.ndarray:
    """(N, C, H, W) uint8 or float (optionally normalised) -> (N, H, W, C) floats in [0, 1]."""
    x = torch.as_tensor(images).detach().cpu()
    if x.dtype == torch.uint8:
        x = x.float() / 255
    elif mean is not None and std is not None:
        x = x.float() * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    return x.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def image_grid(
    images: torch.Tensor | Sequence[torch.Tensor],
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 8,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Figure:
    """Images (N, 3, H, W) in a grid; pass ``mean``/``std`` to undo normalisation."""
    if not isinstance(images, torch.Tensor):
        images = torch.stack(list(images))
    pixels = to_displayable(images, mean, std)
    fig, axes = _grid(len(pixels), ncols)
    for i, (ax, image) in enumerate(zip(axes, pixels)):
        ax.imshow(image, interpolation="nearest")
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    return fig


def augmentation_grid(
    image: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    n: int = 8,
    *,
    ncols: int = 8,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    seed: int = 0,
) -> Figure:
    """The original ``image`` (3, H, W) and ``n`` draws of ``transform`` applied to it.

    Draws are seeded (the global RNG is forked, so the caller's random state is untouched).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        views = [transform(image) for _ in range(n)]
    original = to_displayable(image.unsqueeze(0), mean, std)
    shown = np.concatenate([original, *(to_displayable(v.unsqueeze(0), mean, std) for v in views)])
    fig, axes = _grid(len(shown), ncols)
    for i, (ax, pixels) in enumerate(zip(axes, shown)):
        ax.imshow(pixels, interpolation="nearest")
        ax.set_title("original" if i == 0 else f"#{i}", fontsize=8)
    return fig


def filters_plot(conv_weight: torch.Tensor, *, ncols: int = 8) -> Figure:
    """First-layer filters (C, 3, kh, kw) as small RGB images, each scaled to its own range."""
    w = torch.as_tensor(conv_weight).detach().float().cpu()
    w = w[:, :3] if w.shape[1] >= 3 else w[:, :1].expand(-1, 3, -1, -1)
    lo = w.amin(dim=(1, 2, 3), keepdim=True)
    hi = w.amax(dim=(1, 2, 3), keepdim=True)
    w = (w - lo) / (hi - lo).clamp_min(1e-12)
    fig, axes = _grid(len(w), ncols, cell=0.8)
    for ax, f in zip(axes, w.permute(0, 2, 3, 1).numpy()):
        ax.imshow(f, interpolation="nearest")
    return fig


def feature_maps_plot(activations: torch.Tensor, *, n: int = 16, ncols: int = 8) -> Figure:
    """The first ``n`` channels of one image's activations (C, H, W) or (1, C, H, W)."""
    a = torch.as_tensor(activations).detach().float().cpu()
    a = a[0] if a.ndim == 4 else a
    a = a[:n]
    fig, axes = _grid(len(a), ncols, cell=1.0)
    for i, (ax, fmap) in enumerate(zip(axes, a.numpy())):
        ax.imshow(fmap, cmap="viridis", interpolation="nearest")
        ax.set_title(f"ch {i}", fontsize=7)
    return fig


# --- evaluation ----------------------------------------------------------------------------


def confusion_plot(
    cm: np.ndarray, classes: Sequence[str], ax: Axes | None = None, *, normalize: bool = True
) -> Figure:
    """Confusion matrix (row = true, column = predicted), rows normalised to sum to 1 by default."""
    cm = np.asarray(cm, dtype=float)
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    size = 1.5 + 0.35 * len(classes)
    fig, ax = new_axes(ax, (size + 1, size))
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, list(classes), rotation=90 if len(classes) > 10 else 0)
    ax.set_yticks(ticks, list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(classes) <= 12:
        for (i, j), v in np.ndenumerate(shown):
            if v:
                ax.text(
                    j,
                    i,
                    f"{v:.2f}" if normalize else f"{int(v)}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v > 0.5 * shown.max() else "black",
                )
    fig.colorbar(image, ax=ax)
    return fig


def summarize(
    records: Sequence[Record],
    x: str = "k",
    y: str = "accuracy",
    hue: str = "method",
    *,
    error: str = "std",
) -> dict[Any, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each ``hue`` value: sorted x values, mean of ``y`` and its error over repeats.

    ``error``: ``"std"`` (sample standard deviation) or ``"ci95"`` (Student-t 95% interval
    half-width); 0 when there is a single repeat.
    """
    if error not in ("std", "ci95"):
        raise ValueError(f"error must be 'std' or 'ci95', got {error!r}")
    groups: dict[Any, dict[Any, list[float]]] = {}
    for r in records:
        groups.setdefault(r[hue], {}).setdefault(r[x], []).append(float(r[y]))
    result = {}
    for name, by_x in groups.items():
        xs = sorted(by_x)
        means = np.array([np.mean(by_x[v]) for v in xs])
        errs = np.array([_error(by_x[v], error) for v in xs])
        result[name] = (np.array(xs), means, errs)
    return result


def _error(values: list[float], kind: str) -> float:
    if len(values) < 2:
        return 0.0
    std = float(np.std(values, ddof=1))
    if kind == "std":
        return std
    from scipy.stats import t

    return float(t.ppf(0.975, len(values) - 1) * std / np.sqrt(len(values)))


def method_comparison(
    records: Sequence[Record],
    x: str = "k",
    y: str = "accuracy",
    hue: str = "method",
    ax: Axes | None = None,
    *,
    error: str = "std",
    logx: bool = False,
) -> Figure:
    """Mean ``y`` against ``x``, one line with error bars per ``hue`` (e.g. per method), over
    the repeats (seeds) in ``records``."""
    fig, ax = new_axes(ax)
    for name, (xs, means, errs) in summarize(records, x, y, hue, error=error).items():
        ax.errorbar(xs, means, yerr=errs, marker="o", capsize=3, label=str(name))
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(f"{y} (mean ± {'std' if error == 'std' else '95% CI'})")
    ax.legend(title=hue)
    return fig


def weight_change_plot(changes: Mapping[str, float], ax: Axes | None = None) -> Figure:
    """One bar per layer group: relative distance from the pretrained weights."""
    fig, ax = new_axes(ax)
    ax.bar(list(changes), list(changes.values()), color="C1")
    ax.set_ylabel("||w - w0|| / ||w0||")
    ax.set_xlabel("layer group")
    return fig


def grouped_bars(
    values: Mapping[str, Mapping[str, float]], ax: Axes | None = None, *, ylabel: str = ""
) -> Figure:
    """One cluster of bars per inner key (e.g. layer group), one colour per outer key."""
    fig, ax = new_axes(ax, (5.5, 3.2))
    series = list(values)
    cats = list(dict.fromkeys(c for s in series for c in values[s]))
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(cats))
    for i, name in enumerate(series):
        ax.bar(
            x + (i - (len(series) - 1) / 2) * width,
            [values[name].get(c, 0.0) for c in cats],
            width,
            label=name,
        )
    ax.set_xticks(x, cats)
    ax.set_ylabel(ylabel)
    ax.legend()
    return fig
