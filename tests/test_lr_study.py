"""lr_study: the learning-rate lesson's forgetting plot, LR curves and explorer view."""

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib.figure import Figure

from ftkit.history import History
from ftkit.studies import learning_rate


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


RECORDS = [
    {"lr": lr, "seed": s, "accuracy": acc, "source_accuracy": src, "history": _history(lr)}
    for lr, acc, src in ((1e-3, 0.8, 0.95), (1e-2, 0.95, 0.9), (1e-1, 0.9, 0.02))
    for s in (0, 1)
]


def test_forgetting_records_are_long_format_in_percent():
    rows = learning_rate.forgetting_records(RECORDS[:1])
    assert rows == [
        {"lr": 1e-3, "task": learning_rate.TARGET, "accuracy": 80.0},
        {"lr": 1e-3, "task": learning_rate.SOURCE, "accuracy": 95.0},
    ]


def test_forgetting_plot_has_both_curves_and_the_markers():
    fig = learning_rate.forgetting_plot(RECORDS, pretrain_lr=0.1, highlight=1e-2)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert learning_rate.TARGET in labels and learning_rate.SOURCE in labels
    assert "pretraining LR 0.1" in labels and "shown: lr 0.01" in labels
    assert ax.get_xscale() == "log"


def test_lr_curves_plot_reads_history_lr():
    fig = learning_rate.lr_curves_plot({"cosine": _history(0.1)})
    line = fig.axes[0].get_lines()[0]
    assert list(line.get_ydata()) == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_lr_run_preview_picks_the_nearest_swept_lr():
    fig = learning_rate.lr_run_preview(RECORDS, 0.012)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert fig.axes[0].get_title(loc="left").startswith("lr 0.01: test 95.0%, source after 90.0%")
    with pytest.raises(ValueError, match="no run with a history"):
        learning_rate.lr_run_preview([{**r, "history": None} for r in RECORDS], 0.01)
