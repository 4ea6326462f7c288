"""sweeps: the preview draws the swept values and the chosen one; the explorer redraws."""

import matplotlib

matplotlib.use("Agg")

import pytest

from ftkit import widgets
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
    fig = regularizers.sweep_preview(_sweep(), value=0.3)
    ax_acc, ax_change = fig.axes
    target, source = ax_acc.get_lines()[:2]
    assert list(target.get_ydata()) == [0.86, 0.89, 0.91]
    assert list(source.get_ydata()) == [0.3, 0.9, 0.97]
    assert [t.get_text() for t in ax_acc.get_xticklabels()] == ["0", "0.3", "1"]
    assert [round(b.get_height(), 3) for b in ax_change.patches] == [0.2, 0.1, 0.0]
    with pytest.raises(KeyError, match="was not run"):
        regularizers.sweep_preview(_sweep(), value=2.0)


def test_explorer_redraws_on_slider_change():
    w = regularizers.sweep_explorer(_sweep())
    assert "= 0" in w.result.axes[1].get_title()
    widgets.control(w, "value").value = 1.0
    assert "= 1" in w.result.axes[1].get_title()
    assert [round(b.get_height(), 3) for b in w.result.axes[1].patches] == [0.1, 0.05, 0.0]
