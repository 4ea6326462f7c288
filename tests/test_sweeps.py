"""regularizers (lesson 06's study): the L1 loop equals fit, comparisons test only what
validation chose, wrong labels are exactly as many as asked, and the figures carry the data."""

import math

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ftkit import data, evaluation, models, training, widgets
from ftkit.history import History
from ftkit.studies import regularizers


def _sweep():
    def result(acc, src, change):
        return {
            "accuracy": acc,
            "source_accuracy": src,
            "weight_change": {"stem": change, "layer1": change / 2, "head": 0.0},
        }

    return {0.0: result(0.86, 0.3, 0.5), 0.3: result(0.89, 0.9, 0.2), 1.0: result(0.91, 0.97, 0.1)}


def test_preview_plots_every_value_and_marks_the_chosen_one():
    fig = regularizers.sweep_preview(_sweep(), value=0.3, knob="alpha", target_label="digits")
    ax_acc, ax_change = fig.axes
    target, source = ax_acc.get_lines()[:2]
    assert list(target.get_ydata()) == [0.86, 0.89, 0.91] and target.get_label() == "digits"
    assert list(source.get_ydata()) == [0.3, 0.9, 0.97]
    assert [t.get_text() for t in ax_acc.get_xticklabels()] == ["0", "0.3", "1"]
    assert ax_acc.get_xlabel() == "alpha" and ax_change.get_title() == "alpha = 0.3"
    assert [round(b.get_height(), 3) for b in ax_change.patches] == [0.2, 0.1, 0.0]
    with pytest.raises(KeyError, match="was not run"):
        regularizers.sweep_preview(_sweep(), value=2.0, knob="alpha", target_label="digits")


def test_explorer_redraws_on_slider_change():
    w = regularizers.sweep_explorer(_sweep(), knob="wd", target_label="digits")
    assert w.result.axes[1].get_title() == "wd = 0"
    widgets.control(w, "value").value = 1.0
    assert w.result.axes[1].get_title() == "wd = 1"
    assert [round(b.get_height(), 3) for b in w.result.axes[1].patches] == [0.1, 0.05, 0.0]


# --- L1 in fit's loop ------------------------------------------------------------------------


def _tiny(seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(24, 3, 8, 8, generator=g), torch.arange(24) % 3
    torch.manual_seed(seed)
    model = models.SmallResNet(3, widths=(4, 4, 4, 4))
    return model, DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=g)


def test_fit_with_a_zero_penalty_trains_exactly_as_fit():
    model, loader = _tiny()
    regularizers.fit_with_penalty(
        model, loader, epochs=3, lr=0.05, penalty=lambda m: torch.zeros(()), schedule="cosine"
    )
    twin, loader = _tiny()
    training.fit(twin, loader, epochs=3, lr=0.05, schedule="cosine", seed=0)
    for (name, a), b in zip(model.state_dict().items(), twin.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name


def test_l1_shrinks_the_weights_toward_zero():
    plain, loader = _tiny()
    regularizers.fit_with_penalty(
        plain, loader, epochs=3, lr=0.05, penalty=lambda m: 0 * m.fc.bias.sum()
    )
    strong, loader = _tiny()
    regularizers.fit_with_penalty(
        strong, loader, epochs=3, lr=0.05, penalty=lambda m: 0.1 * regularizers.l1_penalty(m)
    )
    assert regularizers.l1_penalty(strong) < 0.8 * regularizers.l1_penalty(plain)


def test_l1_penalty_counts_weights_not_biases_and_skips_frozen():
    layer = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
    for m in layer:
        for p in m.parameters():
            nn.init.constant_(p, -2.0)
    assert regularizers.l1_penalty(layer).item() == 2.0 * (6 + 3)
    layer[2].requires_grad_(False)
    assert regularizers.l1_penalty(layer).item() == 2.0 * 6


# --- comparisons that test only the chosen setting ---------------------------------------------


def _fake_run(calls):
    def run(seed, strength=0.0):
        calls.append((seed, strength))
        val = 0.5 + 0.1 * strength - 0.01 * seed  # validation prefers the largest strength
        return {"val": val}, lambda: 0.4 + strength + 0.001 * seed

    return run


def test_compare_tested_once_tests_only_the_choice():
    calls = []
    run = _fake_run(calls)
    result = regularizers.compare_tested_once(
        {"none": (run, [{}]), "reg": (run, [{"strength": s} for s in (0.1, 1.0, 2.0)])},
        seeds=(0, 1, 2),
    )
    assert result.chosen == {"none": {}, "reg": {"strength": 2.0}}
    tested = [t for t in result.trials if "test" in t.scores]
    assert len(tested) == 6 and len(result.trials) == 3 + 9
    assert result.scores("reg") == pytest.approx([2.4, 2.401, 2.402])
    assert result.difference("reg", "none").mean == pytest.approx(200.0)


def test_compare_tested_once_refuses_unequal_budgets_and_too_few_seeds():
    run = _fake_run([])
    with pytest.raises(ValueError, match="grids of one size"):
        two, three = [{"strength": s} for s in (1.0, 2.0)], [{"strength": s} for s in (1, 2, 3)]
        regularizers.compare_tested_once({"a": (run, two), "b": (run, three)}, seeds=(0, 1, 2))
    with pytest.raises(ValueError, match=">= 3 seeds"):
        regularizers.compare_tested_once({"a": (run, [{}])}, seeds=(0, 1))


def test_strength_records_name_each_runs_strength_in_percent():
    grid = [{"strength": s} for s in (0.1, 1.0)]
    result = regularizers.compare_tested_once(
        {"none": (_fake_run([]), [{}]), "reg": (_fake_run([]), grid)}, seeds=(0, 1, 2)
    )
    rows = regularizers.strength_records(result, {"reg": "strength"})
    assert len(rows) == 6 and {r["method"] for r in rows} == {"reg"}
    assert sorted(r["val"] for r in rows if r["strength"] == 1.0) == pytest.approx([58, 59, 60])


# --- wrong labels and early stopping -----------------------------------------------------------


def test_with_wrong_labels_changes_exactly_that_many_training_labels():
    splits = data.load_target("digits", k=3, seed=0)
    noisy = regularizers.with_wrong_labels(splits, 0.4, seed=1)
    changed = noisy.train.labels != splits.train.labels
    assert int(changed.sum()) == 12  # 40% of 30, each to another class
    assert torch.equal(noisy.train.images, splits.train.images)
    assert noisy.val is splits.val and noisy.test is splits.test
    again = regularizers.with_wrong_labels(splits, 0.4, seed=1)
    assert torch.equal(again.train.labels, noisy.train.labels)
    assert torch.equal(
        regularizers.with_wrong_labels(splits, 0.0, seed=1).train.labels, splits.train.labels
    )
    with pytest.raises(ValueError, match=r"in \[0, 1\), got 1.2"):
        regularizers.with_wrong_labels(splits, 1.2, seed=0)


def test_early_stopping_difference_is_paired_in_points():
    runs = {
        s: {"early stopping": (None, 0.70 + 0.01 * s), "to the end": (None, 0.60 + 0.02 * s)}
        for s in (0, 1, 2)
    }
    d = regularizers.early_stopping_difference(runs)
    assert d.names == ("early stopping", "training to the end")
    assert list(d.diffs) == pytest.approx([10.0, 9.0, 8.0]) and d.clears


def test_curves_plot_marks_the_epoch_early_stopping_kept():
    h = History()
    for e, (tr, va) in enumerate([(0.5, 0.6), (0.8, 0.7), (1.0, 0.65)], start=1):
        h.append(
            epoch=e, train_loss=1.0, train_acc=tr, val_loss=1.0, val_acc=va, lr={}, seconds=0.0
        )
    stopped = History(best_epoch=2)
    fig = regularizers.curves_plot({0: h}, {0: stopped})
    marks = [line for line in fig.axes[0].get_lines() if line.get_marker() == "x"]
    assert len(marks) == 1 and marks[0].get_xdata()[0] == 2
    assert marks[0].get_ydata()[0] == pytest.approx(70.0)


def test_finetune_run_reports_validation_and_tests_on_demand():
    scores, test = regularizers.finetune_run(
        0, k=1, batch_size=10, epochs=1, lr=0.01, weight_decay=0.1
    )
    assert set(scores) == {"val"} and 0 <= scores["val"] <= 1
    assert 0 <= test() <= 1
    _, info = models.load_backbone("embedded")
    source = evaluation.source_loader(info, per_class=1)
    scores, _ = regularizers.finetune_run(
        0, k=1, batch_size=10, epochs=1, lr=0.01, l1=1e-4, source=source
    )
    assert set(scores) == {"val", "source", "weight_change"} and not math.isnan(scores["val"])
    assert 0 <= scores["source"] <= 1 and set(scores["weight_change"]) >= {"stem", "layer4"}
