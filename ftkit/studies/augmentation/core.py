"""Lesson 05's experiments: pipelines compared and timed, fine-tuning runs whose training
budget is chosen on validation, paired-difference bars, and the augmentation explorer.

The pipelines themselves live in ``ftkit.data`` (``train_transforms``, ``standard_augmentation``)
or are written out in the lesson with ``torchvision.transforms.v2``. An augmented run learns
from a harder, ever-changing training set, so it may need more optimizer steps than a plain
one: ``compare_budgets`` gives every method the same grid of budgets and lets validation choose
each method's own (``ftkit.protocol``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import DataLoader

from ftkit import data, evaluation, models, plots, protocol, training
from ftkit import widgets as ftwidgets
from ftkit.models import BackboneInfo

#: ``setup(seed) -> (model, train_loader, val_loader, test_loader)``: one run's starting point.
Setup = Callable[[int], tuple[nn.Module, DataLoader, DataLoader, DataLoader]]


def same_output(
    transform: Callable | None,
    reference: Callable,
    image: torch.Tensor,
    *,
    draws: int = 8,
    seed: int = 0,
) -> bool:
    """Whether ``transform`` and ``reference`` give identical tensors for ``draws`` random draws.

    Both are run from the same seed, so two random pipelines with the same steps and parameters
    in the same order agree exactly. Never raises: a missing or broken ``transform`` is ``False``.

    >>> from torchvision.transforms import v2
    >>> flip = v2.RandomHorizontalFlip(0.5)
    >>> same_output(flip, flip, torch.zeros(3, 4, 4))
    True
    """
    if not callable(transform):
        return False
    try:
        with torch.random.fork_rng(devices=[]):
            outputs = []
            for t in (transform, reference):
                torch.manual_seed(seed)
                outputs.append([t(image) for _ in range(draws)])
        return all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(*outputs))
    except Exception:  # noqa: BLE001 -- an answer that cannot run is simply not the same
        return False


def seconds_per_image(transform: Callable, image: torch.Tensor, *, repeats: int = 200) -> float:
    """Mean wall time of ``transform(image)`` over ``repeats`` calls (RNG state restored)."""
    with torch.random.fork_rng(devices=[]):
        transform(image)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            transform(image)
        return (time.perf_counter() - start) / repeats


# --- runs whose budget validation chooses ------------------------------------------------------


def digits_setup(
    transform: Callable | None, *, k: int, batch_size: int, pretrained: bool = True
) -> Setup:
    """Runs on the digits: the seed draws the ``k`` images per class and the new head, and
    (``pretrained=False``) the backbone's random weights. ``transform`` augments training only."""

    def setup(seed: int) -> tuple[nn.Module, DataLoader, DataLoader, DataLoader]:
        splits = data.load_target("digits", k=k, seed=seed)
        torch.manual_seed(seed)  # a random-init backbone draws its weights from the global RNG
        model, info = models.load_backbone("embedded", pretrained=pretrained)
        models.replace_head(model, len(splits.classes), seed=seed)
        loaders = data.make_loaders(
            splits, info, seed=seed, batch_size=batch_size, train_transform=transform
        )
        return (model, *loaders)

    return setup


def staged_fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    *,
    budgets: Sequence[int],
    lr: float,
    seed: int,
) -> dict[int, tuple[float, dict[str, torch.Tensor]]]:
    """Train at a constant ``lr``, looking at validation after each budget (optimizer steps).

    Returns ``{budget: (validation accuracy, a copy of the weights)}``, so that the budget
    validation prefers can be tested afterwards. Each stage is one ``fit`` call (a fresh
    momentum buffer, as when training resumes from a checkpoint), the same for every method.
    """
    per_epoch, done, looks = len(train_loader), 0, {}
    for stage, budget in enumerate(sorted(budgets)):
        if budget <= done or (budget - done) % per_epoch:
            raise ValueError(
                f"budgets must be increasing multiples of the {per_epoch} steps per epoch, "
                f"got {sorted(budgets)}"
            )
        epochs = (budget - done) // per_epoch
        training.fit(model, train_loader, epochs=epochs, lr=lr, seed=seed + 1000 * stage)
        done = budget
        weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        looks[budget] = (evaluation.accuracy(model, val_loader), weights)
    return looks


def budget_records(comparison: protocol.Comparison) -> list[dict[str, Any]]:
    """One row per (method, seed, budget), validation accuracy in percent, for
    ``plots.method_comparison(records, x="steps", y="val", hue="method")``."""
    return [
        {
            "method": t.method,
            "seed": t.seed,
            "steps": t.params["steps"],
            "val": 100 * t.scores["val"],
        }
        for t in comparison.trials
    ]


def compare_budgets(
    setups: Mapping[str, Setup],
    *,
    seeds: Sequence[int],
    budgets: Sequence[int],
    lr: float,
    keep: dict[str, nn.Module] | None = None,
) -> protocol.Comparison:
    """Every method trains on the same seeds with the same grid of budgets; validation chooses
    each method's budget (``protocol.tune``) and only that budget is tested.

    ``keep``, if given, receives each method's model of the first seed at its chosen budget.
    """
    result = protocol.Comparison(tuple(seeds))
    grid = [{"steps": b} for b in sorted(budgets)]
    for name, setup in setups.items():
        runs = {}
        for seed in seeds:
            model, train_loader, val_loader, test_loader = setup(seed)
            looks = staged_fit(model, train_loader, val_loader, budgets=budgets, lr=lr, seed=seed)
            runs[seed] = (model, test_loader, looks)

        def looked(seed: int, steps: int, runs=runs) -> dict[str, float]:
            return {"val": runs[seed][2][steps][0]}

        chosen, trials = protocol.tune(looked, grid, seeds, method=name)
        for i, t in enumerate(trials):
            if t.params == chosen:
                model, test_loader, looks = runs[t.seed]
                model.load_state_dict(looks[chosen["steps"]][1])
                test = evaluation.accuracy(model, test_loader)
                trials[i] = protocol.Trial(name, t.params, t.seed, {**t.scores, "test": test})
        result.chosen[name], result.trials = chosen, result.trials + trials
        if keep is not None:
            keep[name] = runs[seeds[0]][0]
    return result


# --- the explorer ----------------------------------------------------------------------------


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
        info,
        rotation=rotation,
        scale=(1 - scale, 1 + scale),
        translate=translate,
        hflip_prob=0.5 if hflip else 0.0,
        color_jitter=color_jitter,
    )
    return plots.augmentation_grid(image, transform, n, mean=info.mean, std=info.std, seed=seed)


def augmentation_explorer(
    image: torch.Tensor, info: BackboneInfo, *, n: int = 7
) -> widgets.interactive:
    """Sliders for rotation, zoom, shift, flip and colour jitter over ``augmentation_preview``."""
    slider = {"continuous_update": False}

    def floats(top: float, step: float, label: str) -> widgets.FloatSlider:
        return widgets.FloatSlider(value=0, min=0, max=top, step=step, description=label, **slider)

    return ftwidgets.explorer(
        augmentation_preview,
        image=widgets.fixed(image),
        info=widgets.fixed(info),
        rotation=floats(180, 5, "rotation°"),
        scale=floats(0.5, 0.05, "zoom ±"),
        translate=floats(0.3, 0.02, "shift"),
        hflip=widgets.Checkbox(value=False, description="h-flip"),
        color_jitter=floats(0.8, 0.1, "colour"),
        n=widgets.fixed(n),
        seed=widgets.IntSlider(value=0, min=0, max=20, description="seed", **slider),
    )


def differences_plot(
    differences: Sequence[protocol.Difference], ax: Axes | None = None, *, xlabel: str
) -> Figure:
    """One bar per paired difference A - B (mean ± spread over seeds): coloured where it clears
    its spread (a claim), grey where it does not (no measurable difference)."""
    fig, ax = plots.new_axes(ax, (6, 1.2 + 0.5 * len(differences)))
    y = list(range(len(differences)))[::-1]
    for yi, d in zip(y, differences):
        color = ("C2" if d.mean > 0 else "C3") if d.clears else "0.75"
        ax.barh(yi, d.mean, xerr=d.spread, color=color, capsize=3)
    ax.axvline(0, color="k", linewidth=0.8)
    ax.set_yticks(y, [f"{d.names[0]} − {d.names[1]}" for d in differences], fontsize=8)
    ax.set_xlabel(f"{xlabel} (mean ± std over seeds)")
    return fig
