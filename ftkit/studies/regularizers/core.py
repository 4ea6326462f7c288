"""Lesson 06's experiments: runs whose regularizer strength validation chooses, an L1 term in
fit's loop, labels made partly wrong (a real overfitting curve for early stopping), and the
sweep explorer.
"""

from __future__ import annotations

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
from ftkit.schedules import make_scheduler

#: ``{strength: {"accuracy", "source_accuracy", "weight_change": {group: change}}}``
Sweep = Mapping[float, Mapping[str, Any]]
#: ``run(seed=..., **params) -> (scores without "test", a function that measures "test")``
TestedOnce = Callable[..., tuple[Mapping[str, float], Callable[[], float]]]


# --- L1: a penalty no optimizer offers, written into fit's loop ------------------------------


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """Sum of the absolute values of the trainable weight matrices and kernels (biases and
    norm scales left out).

    >>> layer = nn.Linear(2, 3)
    >>> _ = nn.init.constant_(layer.weight, -0.5)
    >>> l1_penalty(layer).item()  # 6 weights of size 0.5
    3.0
    """
    return sum(p.abs().sum() for p in model.parameters() if p.dim() > 1 and p.requires_grad)


def fit_with_penalty(
    model: nn.Module,
    train_loader: DataLoader,
    *,
    epochs: int,
    lr: float,
    penalty: Callable[[nn.Module], torch.Tensor],
    schedule: str = "constant",
    seed: int = 0,
) -> nn.Module:
    """``training.fit``'s loop (its param groups, SGD with Nesterov momentum, per-batch schedule)
    with ``penalty(model)`` added to the loss. With a zero penalty it trains exactly as ``fit``."""
    torch.manual_seed(seed)
    device = training.resolve_device()
    model.to(device)
    optimizer = training.make_optimizer(training.param_groups(model, lr))
    scheduler = make_scheduler(optimizer, schedule, epochs * len(train_loader))
    criterion = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            loss = criterion(model(x), y) + penalty(model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
    return model


# --- a fair comparison that tests only what validation chose --------------------------------


def compare_tested_once(
    methods: Mapping[str, tuple[TestedOnce, Sequence[Mapping[str, Any]]]],
    seeds: Sequence[int],
) -> protocol.Comparison:
    """``protocol.compare``, with the test set read only for each method's chosen setting.

    ``run`` returns its validation scores and a function that measures test accuracy, which
    is called for the setting ``protocol.tune`` chose (on mean validation accuracy), per seed.
    """
    sizes = {name: len(grid) for name, (_, grid) in methods.items()}
    if len(set(sizes.values()) - {1}) > 1 or len(seeds) < 3:
        raise ValueError(
            f"need grids of one size (or one setting) and >= 3 seeds: {sizes}, {seeds}"
        )
    result = protocol.Comparison(tuple(seeds))
    for name, (run, grid) in methods.items():
        tests: dict[tuple[int, str], Callable[[], float]] = {}

        def scored(seed: int, _run=run, _tests=tests, **params) -> Mapping[str, float]:
            scores, test = _run(seed=seed, **params)
            _tests[(seed, repr(params))] = test
            return scores

        chosen, trials = protocol.tune(scored, grid, seeds, method=name)
        for i, t in enumerate(trials):
            if t.params == chosen:
                test = tests[(t.seed, repr(dict(t.params)))]()
                trials[i] = protocol.Trial(name, t.params, t.seed, {**t.scores, "test": test})
        result.chosen[name], result.trials = chosen, result.trials + trials
    return result


def strength_records(
    comparison: protocol.Comparison, strengths: Mapping[str, str], metric: str = "val"
) -> list[dict[str, Any]]:
    """One row per run of the methods in ``strengths`` (method -> the parameter that sets its
    strength), ``metric`` in percent, for ``plots.method_comparison(x="strength", logx=True)``."""
    rows = [(t, t.params[strengths[t.method]]) for t in comparison.trials if t.method in strengths]
    return [{"method": t.method, "strength": x, metric: 100 * t.scores[metric]} for t, x in rows]


def finetune_run(
    seed: int,
    *,
    k: int,
    batch_size: int,
    epochs: int,
    lr: float,
    source: DataLoader | None = None,
    dropout: float = 0.0,
    l1: float = 0.0,
    **fit_options: Any,
) -> tuple[dict[str, Any], Callable[[], float]]:
    """Fine-tune the embedded backbone on ``k`` digits per class with one regularizer; return
    validation accuracy (with ``source``: source-task accuracy and weight change too) and a
    function that measures test accuracy. ``fit_options`` go to ``fit`` (``weight_decay``,
    ``l2sp``, ``label_smoothing``); ``l1`` trains with ``fit_with_penalty``."""
    splits = data.load_target("digits", k=k, seed=seed)
    model, info = models.load_backbone("embedded")
    source_head = evaluation.keep_source_head(model)
    models.replace_head(model, len(splits.classes), dropout=dropout, seed=seed)
    start = {n: p.detach().clone() for n, p in model.state_dict().items()}
    train_loader, val_loader, test_loader = data.make_loaders(
        splits, info, seed=seed, batch_size=batch_size
    )
    common = {"epochs": epochs, "lr": lr, "schedule": "cosine", "seed": seed}
    if l1:
        fit_with_penalty(model, train_loader, penalty=lambda m: l1 * l1_penalty(m), **common)
    else:
        training.fit(model, train_loader, **common, **fit_options)
    scores: dict[str, Any] = {"val": evaluation.accuracy(model, val_loader)}
    if source is not None:
        scores["source"] = evaluation.source_task_accuracy(model, source_head, info, loader=source)
        scores["weight_change"] = evaluation.weight_change(model, start)
    return scores, lambda: evaluation.accuracy(model, test_loader)


# --- labels made partly wrong: overfitting you can see ---------------------------------------


def with_wrong_labels(splits: data.Splits, fraction: float, *, seed: int) -> data.Splits:
    """The same splits with ``round(fraction * n)`` training labels replaced by another class,
    chosen by ``seed``. Validation and test labels stay right: check those by hand."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction of wrong labels must be in [0, 1), got {fraction!r}")
    g = torch.Generator().manual_seed(seed)
    labels = splits.train.labels.clone()
    wrong = torch.randperm(len(labels), generator=g)[: round(fraction * len(labels))]
    shift = torch.randint(1, len(splits.classes), (len(wrong),), generator=g)
    labels[wrong] = (labels[wrong] + shift) % len(splits.classes)  # never the right class
    train = data.TensorImageDataset(splits.train.images, labels, splits.classes)
    return data.Splits(train, splits.val, splits.test, splits.classes)


def early_stopping_runs(
    seed: int,
    *,
    k: int,
    wrong: float,
    epochs: int,
    patience: int,
    lr: float,
    batch_size: int,
    monitor: str = "val_acc",
) -> dict[str, tuple[Any, float]]:
    """The same fine-tune (``wrong`` fraction of the training labels wrong) trained to the end
    and with early stopping on ``monitor``: ``{name: (History, test accuracy)}``."""
    splits = with_wrong_labels(data.load_target("digits", k=k, seed=seed), wrong, seed=seed)
    runs = {}
    for name, stopping in (("to the end", None), ("early stopping", patience)):
        model, info = models.load_backbone("embedded")
        models.replace_head(model, len(splits.classes), seed=seed)
        loaders = data.make_loaders(splits, info, seed=seed, batch_size=batch_size)
        options = {"epochs": epochs, "lr": lr, "seed": seed, "monitor": monitor}
        history = training.fit(model, *loaders[:2], early_stopping=stopping, **options)
        runs[name] = (history, evaluation.accuracy(model, loaders[2]))
    return runs


def early_stopping_difference(runs: Mapping[int, Mapping[str, tuple[Any, float]]]):
    """Test accuracy with early stopping minus to the end, seed by seed (``protocol``)."""
    return protocol.paired_difference(
        [r["early stopping"][1] for r in runs.values()],
        [r["to the end"][1] for r in runs.values()],
        names=("early stopping", "training to the end"),
    )


def curves_plot(histories: Mapping[int, Any], stopped: Mapping[int, Any], ax: Axes | None = None):
    """Training and validation accuracy per epoch of each seed's run to the end (thin lines),
    with a cross where early stopping restored its best epoch."""
    fig, ax = plots.new_axes(ax, (6, 3.6))
    for i, (seed, h) in enumerate(histories.items()):
        ax.plot(h.epoch, [100 * a for a in h.train_acc], color=f"C{i}", ls=":", lw=1)
        ax.plot(h.epoch, [100 * a for a in h.val_acc], color=f"C{i}", label=f"seed {seed}")
        best = stopped[seed].best_epoch
        ax.plot([best], [100 * h.val_acc[best - 1]], "x", ms=10, mew=2, color=f"C{i}")
    ax.set(
        xlabel="epoch",
        ylabel="accuracy (%)",
        title="dotted: training (its labels), solid: validation",
    )
    ax.legend(fontsize=8)
    return fig


# --- the explorer over a precomputed sweep ---------------------------------------------------


def sweep_preview(sweep: Sweep, *, value: float, knob: str, target_label: str) -> Figure:
    """Left: target and source-task accuracy against the knob, ``value`` marked.
    Right: how far each layer group moved from its pretrained weights at ``value``."""
    if value not in sweep:
        raise KeyError(f"{knob}={value!r} was not run; available: {sorted(sweep)}")
    values = sorted(sweep)
    positions = range(len(values))  # evenly spaced: the values are usually on a log grid
    fig = Figure(figsize=(10, 3.5), layout="constrained")
    ax_acc, ax_change = fig.subplots(1, 2)
    for key, label in (("accuracy", target_label), ("source_accuracy", "source task")):
        ax_acc.plot(positions, [sweep[v][key] for v in values], marker="o", label=label)
    ax_acc.axvline(values.index(value), color="k", linestyle="--", linewidth=1)
    ax_acc.set_xticks(list(positions), [f"{v:g}" for v in values])
    ax_acc.set(xlabel=knob, ylabel="accuracy", ylim=(0, 1.02))
    ax_acc.legend(loc="lower right")
    changes = sweep[value]["weight_change"]
    top = max(max(r["weight_change"].values()) for r in sweep.values())
    ax_change.bar(list(changes), list(changes.values()), color="C1")
    ax_change.set(xlabel="layer group", ylabel="||w - w0|| / ||w0||", ylim=(0, top * 1.1))
    ax_change.set_title(f"{knob} = {value:g}")
    return fig


def sweep_explorer(sweep: Sweep, *, knob: str, target_label: str) -> widgets.interactive:
    """A slider over the swept values of ``knob``, redrawing ``sweep_preview``."""
    values = sorted(sweep)
    options = [(f"{v:g}", v) for v in values]
    slider = widgets.SelectionSlider(options=options, description=knob, continuous_update=False)
    fixed = {"sweep": sweep, "knob": knob, "target_label": target_label}
    return ftwidgets.explorer(
        sweep_preview, value=slider, **{k: widgets.fixed(v) for k, v in fixed.items()}
    )
