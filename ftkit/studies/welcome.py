"""Lesson 00: the first measurement (a probe on pretrained vs random features), pictures of
the course's data, and the lesson's exercise checkers.

Pure functions: arguments in, numbers, uint8 images (N, 3, S, S) or a ``Figure`` out. Glyph
images are drawn on demand from one class's 16 font masks, so one class costs milliseconds.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn

from ftkit import data, exercises, features, models, plots, protocol
from ftkit.source import glyphs

#: The probe's search grid: the same for every backbone (the same search budget).
PROBE_GRID: tuple[dict[str, float], ...] = (
    {"weight_decay": 1e-3},
    {"weight_decay": 1e-2},
    {"weight_decay": 1e-1},
)
SEEDS = (0, 1, 2)


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


# --- the first measurement -----------------------------------------------------------------


def probe_scores(
    pretrained: bool,
    seed: int,
    *,
    k: int = 10,
    weight_decay: float = 1e-2,
    target: str = "digits",
    cache: features.FeatureCache | None = None,
) -> dict[str, float]:
    """Validation and test accuracy of a linear probe on the frozen embedded backbone,
    pretrained or at random init (drawn from ``seed``), trained on ``k`` images per class.

    ``cache`` keeps each backbone's features: a grid of probes extracts them once.
    """
    torch.manual_seed(seed)  # the random-init backbone draws its weights from this seed
    backbone, info = models.load_backbone("embedded", pretrained=pretrained)
    backbone.requires_grad_(False)
    splits = data.load_target(target, k=k, seed=seed)
    loaders = data.make_loaders(splits, info, seed=seed)
    cache = cache if cache is not None else features.FeatureCache()
    train, val, test = (cache.features(backbone, loader) for loader in loaders)
    head, _ = features.train_linear_probe(
        *train, num_classes=len(splits.classes), weight_decay=weight_decay, seed=seed
    )
    return {
        "val": features.probe_accuracy(head, *val),
        "test": features.probe_accuracy(head, *test),
    }


def compare_probes(
    k: int,
    *,
    seeds: Sequence[int] = SEEDS,
    grid: Sequence[Mapping[str, Any]] = PROBE_GRID,
    cache: features.FeatureCache | None = None,
) -> protocol.Comparison:
    """Pretrained vs random-init probes at ``k``, each tuned on validation over ``grid``."""
    cache = cache if cache is not None else features.FeatureCache()
    methods = {
        name: (partial(probe_scores, pretrained, k=k, cache=cache), grid)
        for name, pretrained in (("pretrained", True), ("random init", False))
    }
    return protocol.compare(methods, seeds)


# --- exercise checkers ---------------------------------------------------------------------

FIRST_APPROACH_OPTIONS = (
    "train from scratch",
    "feature extraction",
    "full fine-tuning at a large learning rate",
)
GAP_PREDICTIONS = ("bigger", "smaller", "no measurable difference")


def check_source_classes(answer: Any) -> bool:
    """Exercise 1: the number of source classes, read from the backbone's info."""
    expected = len(models.load_backbone("embedded")[1].source_classes)
    return exercises.check(
        "source classes",
        answer,
        expected,
        hint="BackboneInfo has a field listing the source classes; take its length.",
    )


def check_first_approach(choice: Any) -> bool:
    """Exercise 2: few labels, a related source, a laptop: which approach first?"""
    return exercises.check_choice(
        choice,
        "feature extraction",
        FIRST_APPROACH_OPTIONS,
        name="first approach",
        hint="Few labels, a related source, little compute: which option trains the fewest "
        "weights?",
    )


def check_feature_extractor(model: nn.Module, num_classes: int = 10) -> bool:
    """Exercise 3: every backbone group frozen, a new trainable head with ``num_classes``."""
    frozen = exercises.check_frozen(
        model, ["head"], hint="set requires_grad = False on every parameter, then replace the head"
    )
    head = exercises.check_head(
        model,
        num_classes,
        hint=f"model.fc = nn.Linear(model.fc.in_features, {num_classes}) (a new layer is "
        "trainable)",
    )
    return frozen and head


def measured_trend(at_k: Sequence[float], at_reference: Sequence[float]) -> tuple[str, str]:
    """``("bigger"|"smaller"|"no measurable difference", sentence)`` for paired gaps (points).

    >>> measured_trend([20, 22, 25], [10, 11, 9])[0]
    'bigger'
    >>> measured_trend([12, 3, 10], [10, 11, 9])[0]
    'no measurable difference'
    """
    d = protocol.paired_difference(
        at_k, at_reference, names=("gap at k", "gap at reference"), scale=1
    )
    if not d.clears:
        return GAP_PREDICTIONS[2], d.verdict()
    return (GAP_PREDICTIONS[0] if d.mean > 0 else GAP_PREDICTIONS[1]), d.verdict()


def check_gap_prediction(
    k: Any,
    prediction: Any,
    *,
    reference_k: int = 10,
    seeds: Sequence[int] = SEEDS,
    cache: features.FeatureCache | None = None,
) -> bool:
    """Exercise 4 (predict, then measure): is the pretrained-vs-random gap at ``k`` labels per
    class bigger, smaller, or not measurably different from the gap at ``reference_k``?

    Runs the lesson's comparison at both k (tuned on validation, paired over ``seeds``) and
    judges the prediction against the measurement, not against a stored answer.
    """
    name = f"gap at k={k} vs k={reference_k}"
    if prediction not in GAP_PREDICTIONS:
        hint = "write your prediction down before the measurement, as one of the options"
        return exercises.check_choice(prediction, None, GAP_PREDICTIONS, name=name, hint=hint)
    if not isinstance(k, int) or not 1 <= k <= 100:
        return exercises.check(name, k, None, hint="k must be a whole number from 1 to 100")
    cache = cache if cache is not None else features.FeatureCache()
    gaps = {}
    for kk in (k, reference_k):
        c = compare_probes(kk, seeds=seeds, cache=cache)
        gaps[kk] = c.difference("pretrained", "random init").diffs
    truth, sentence = measured_trend(gaps[k], gaps[reference_k])
    print(
        f"measured: pretrained - random init at k={k}: {_fmt(gaps[k])}; at k={reference_k}: "
        f"{_fmt(gaps[reference_k])} points"
    )
    print(f"          {sentence}")
    return exercises.check_choice(
        prediction,
        truth,
        GAP_PREDICTIONS,
        name=name,
        hint="compare your prediction with the measurement above; try another k",
    )


def _fmt(values: Sequence[float]) -> str:
    return ", ".join(f"{v:+.1f}" for v in values)
