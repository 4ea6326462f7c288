"""Pictures of the course's data: the source glyph family and the three offline targets.

Pure functions: arguments in, uint8 images (N, 3, S, S) or a ``Figure`` out. Glyph images are
drawn on demand from one class's 16 font masks, so showing one class costs a few milliseconds.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ftkit import data, plots
from ftkit.source import glyphs


def font_names() -> list[str]:
    """Short names of the 16 fonts of the glyph family, e.g. ``"DejaVuSerif-Bold"``."""
    return [Path(name).stem for name in glyphs.FONT_FILES]


def glyph_in_fonts(
    char: str, *, seed: int = 0, image_size: int = 32, style: str = "source"
) -> torch.Tensor:
    """One glyph drawn once in each of the 16 fonts, as the source family draws it:
    (16, 3, S, S) uint8.

    >>> glyph_in_fonts("A").shape
    torch.Size([16, 3, 32, 32])
    """
    masks = glyphs.render_masks((char,))  # (1, 16, 48, 48)
    n = masks.shape[1]
    g = torch.Generator().manual_seed(seed)
    images = glyphs.draw_glyphs(
        masks,
        torch.zeros(n, dtype=torch.long),
        torch.arange(n),
        g,
        image_size=image_size,
        style=style,
    )
    return (images * 255).round().to(torch.uint8)


def glyph_caption(class_index: int, classes: tuple[str, ...] = glyphs.SOURCE_CHARS) -> str:
    """``"class 12 of 86: 'M' (LATIN CAPITAL LETTER M)"``: a source class and its Unicode name."""
    if not 0 <= class_index < len(classes):
        raise ValueError(f"class_index must be in 0..{len(classes) - 1}, got {class_index}")
    char = classes[class_index]
    return f"class {class_index} of {len(classes)}: {char!r} ({unicodedata.name(char, '?')})"


def glyph_class_figure(
    class_index: int, *, seed: int = 0, classes: tuple[str, ...] = glyphs.SOURCE_CHARS
) -> Figure:
    """Source class ``class_index`` in the 16 fonts, each image titled with its font."""
    if not 0 <= class_index < len(classes):
        raise ValueError(f"class_index must be in 0..{len(classes) - 1}, got {class_index}")
    images = glyph_in_fonts(classes[class_index], seed=seed)
    titles = [name.replace("DejaVu", "DV ").replace("General", "") for name in font_names()]
    fig = plots.image_grid(images, titles, ncols=8)
    fig.suptitle(glyph_caption(class_index, classes), fontsize=10)
    return fig


def source_samples(
    n: int = 32, *, seed: int = 0, image_size: int = 32
) -> tuple[torch.Tensor, list[str]]:
    """``n`` source-task images of ``n`` different classes (spread over the 86) and their labels."""
    step = max(1, len(glyphs.SOURCE_CHARS) // n)
    chars = tuple(glyphs.SOURCE_CHARS[::step][:n])
    images, labels = glyphs.glyph_set(chars, 1, seed, image_size=image_size, style="source")
    return images, [chars[int(i)] for i in labels]


def target_samples(
    name: str, *, per_class: int = 2, seed: int = 0
) -> tuple[torch.Tensor, list[str]]:
    """``per_class`` test images of each class of target ``name`` (digits, near, shift), class
    by class."""
    test = data.load_target(name, k=1, seed=seed).test
    picks = [
        int(i)
        for c in range(len(test.classes))
        for i in torch.nonzero(test.labels == c).flatten()[:per_class]
    ]
    return test.images[picks], [test.classes[int(test.labels[i])] for i in picks]


def seed_bars(
    records: Sequence[Mapping[str, Any]],
    x: str = "method",
    y: str = "accuracy",
    ax: Axes | None = None,
) -> Figure:
    """One bar per ``x`` value at the mean of ``y`` over its repeats, each repeat a dot on it.

    Bars keep the order in which ``x`` values first appear in ``records``.
    """
    fig, ax = plots.new_axes(ax, (4.5, 3.2))
    groups: dict[Any, list[float]] = {}
    for r in records:
        groups.setdefault(r[x], []).append(float(r[y]))
    for i, values in enumerate(groups.values()):
        ax.bar(i, np.mean(values), color=f"C{i}", alpha=0.7)
        ax.plot([i] * len(values), values, "o", color="k", markersize=4)
        ax.annotate(
            f"{np.mean(values):.3f}",
            (i, np.mean(values)),
            ha="center",
            va="bottom",
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.set_xticks(range(len(groups)), [str(n) for n in groups])
    ax.set_ylabel(f"{y} (bar: mean; dots: seeds)")
    return fig
