"""freeze_depth: the freezing lesson's sweep plots, explorer view and batch-norm drift."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from matplotlib.figure import Figure

from ftkit import freezing, models, plots
from ftkit.studies import freeze_depth

RECORDS = [
    {"n": n, "seed": s, "test": 0.90 + 0.01 * n + 0.002 * s, "seconds": 3.0 - 0.2 * n}
    for n in range(6)
    for s in (0, 1)
]


@pytest.fixture
def model():
    torch.manual_seed(0)
    return models.SmallResNet(10, widths=(4, 8, 8, 8))


def test_sweep_plot_highlights_the_chosen_n():
    fig = freeze_depth.freeze_sweep_plot(RECORDS, highlight=2)
    acc_ax, time_ax = fig.axes
    bars = acc_ax.patches
    assert len(bars) == 6 and len(time_ax.patches) == 6
    assert bars[2].get_height() == pytest.approx(100 * (0.92 + 0.001))  # mean over the two seeds
    red = [i for i, b in enumerate(bars) if b.get_facecolor() == matplotlib.colors.to_rgba("C3")]
    assert red == [2]


def test_freeze_preview_matches_the_summary_for_each_n(model):
    summaries = {}
    for n in range(6):
        freezing.freeze_to(model, n)
        summaries[n] = freezing.trainable_summary(model)
    for n in (0, 3, 5):
        fig = freeze_depth.freeze_preview(RECORDS, summaries, n)
        assert isinstance(fig, Figure) and len(fig.axes) == 3
        grey = matplotlib.colors.to_rgba(freeze_depth.FROZEN_COLOR)
        frozen_bars = [b for b in fig.axes[0].patches if b.get_facecolor() == grey]
        assert len(frozen_bars) == n
        trainable = sum(r["trainable"] for r in summaries[n])
        assert f"{trainable:,} of" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="no summary"):
        freeze_depth.freeze_preview(RECORDS, summaries, 7)


def test_bn_drift_is_zero_for_frozen_eval_and_positive_in_train_mode(model):
    reference = freeze_depth.bn_buffers(model)
    assert all(k.endswith(("running_mean", "running_var")) for k in reference)
    freezing.freeze_to(model, 5)
    x = torch.randn(8, 3, 16, 16) * 3 + 1
    model.train()
    freezing.apply_bn_policy(model, "frozen_eval")
    with torch.no_grad():
        model(x)
    drift = freeze_depth.bn_drift(model, reference)
    assert set(drift) == {"stem", "layer1", "layer2", "layer3", "layer4"}  # the head has no BN
    assert max(drift.values()) == 0.0
    model.train()
    with torch.no_grad():
        model(x)
    assert min(freeze_depth.bn_drift(model, reference).values()) > 0


def test_grouped_bars_draws_one_bar_per_series_and_category():
    fig = plots.grouped_bars({"a": {"x": 1.0, "y": 2.0}, "b": {"x": 3.0, "y": 4.0}}, ylabel="v")
    ax = fig.axes[0]
    assert sorted(b.get_height() for b in ax.patches) == [1.0, 2.0, 3.0, 4.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]
