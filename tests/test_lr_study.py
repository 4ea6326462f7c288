"""learning_rate: the learning-rate lesson's tables, plateau, figures and explorer view."""

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib.figure import Figure

from ftkit import protocol
from ftkit.history import History
from ftkit.studies import learning_rate

LABELS = {"target_label": "digits", "source_label": "glyphs", "xlabel": "lr"}


def _history(lr: float, epochs: int = 3) -> History:
    h = History()
    for e in range(1, epochs + 1):
        h.append(
            epoch=e,
            train_loss=1.0 / e,
            train_acc=0.5,
            val_loss=1.2 / e,
            val_acc=0.4,
            lr={"head": lr / e},
            seconds=0.1,
        )
    return h


VALS = {
    1e-3: (0.80, 0.82, 0.81),
    1e-2: (0.95, 0.96, 0.94),
    3e-2: (0.96, 0.93, 0.95),
    1e-1: (0.90, 0.91, 0.89),
}
TRIALS = [
    protocol.Trial(
        "SGD",
        {"lr": lr},
        s,
        {
            "val": v,
            "test": v - 0.01,
            "source": 1 - 5 * lr,
            "diverged": lr == 1e-1 and s == 2,
            "history": _history(lr),
        },
    )
    for lr, vals in VALS.items()
    for s, v in enumerate(vals)
]


def test_sweep_table_reports_mean_std_and_divergence():
    table = learning_rate.sweep_table(TRIALS).splitlines()
    assert table[0].split() == ["lr", "val", "test", "source", "diverged"]
    assert table[2].split()[:4] == ["0.01", "95.0", "±", "1.0"]
    assert table[-1].endswith("1 of 3")


def test_forgetting_plot_has_both_curves_and_the_markers():
    fig = learning_rate.forgetting_plot(TRIALS, pretrain_lr=0.1, highlight=1e-2, **LABELS)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert {"digits", "glyphs", "pretraining LR 0.1"} <= set(labels)
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "lr"


def test_grid_heatmap_shows_the_mean_of_each_cell():
    rows = [{**r, "batch": b} for b in (8, 32) for r in learning_rate.as_records(TRIALS)]
    fig = learning_rate.grid_heatmap(rows, rows="batch", cols="lr")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 8 and texts[1] == "95.0"  # batch 8, lr 0.01: mean of 95, 96, 94
    bold = [t.get_text() for t in fig.axes[0].texts if t.get_weight() == "bold"]
    assert bold == ["95.0", "95.0"]  # the best cell of each row


def test_schedule_shapes_follow_fit_multipliers():
    fig = learning_rate.schedule_shapes_plot(
        {"constant": {"schedule": "constant"}, "warm": {"schedule": "cosine", "warmup_steps": 4}},
        10,
    )
    const, warm = fig.axes[0].get_lines()
    assert list(const.get_ydata()) == [1.0] * 10
    assert list(warm.get_ydata())[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert warm.get_ydata()[-1] < 0.1


def test_lr_run_preview_picks_the_nearest_swept_lr():
    fig = learning_rate.lr_run_preview(TRIALS, 0.012, **LABELS)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[0].get_title() == "lr 0.01"
    assert len(fig.axes[0].get_lines()) == 3  # one training-loss curve per seed
    no_history = [{**r, "history": None} for r in learning_rate.as_records(TRIALS)]
    with pytest.raises(ValueError, match="no run with a history"):
        learning_rate.lr_run_preview(no_history, 0.01, **LABELS)
