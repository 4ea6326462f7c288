"""widgets: explorers call their pure function with the controls' values."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import ipywidgets
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from ftkit import plots, widgets
from ftkit.models import BackboneInfo
from ftkit.studies import augmentation, learning_rate

INFO = BackboneInfo("tiny", 8, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def test_explorer_calls_fn_with_new_values_and_shows_its_figure():
    calls = []

    def draw(k: int, method: str) -> Figure:
        calls.append((k, method))
        fig = Figure()
        fig.add_subplot().plot([0, k])
        return fig

    w = widgets.explorer(draw, k=(1, 20, 1), method=["probe", "finetune"])
    assert isinstance(w, ipywidgets.interactive)
    assert calls == [(10, "probe")]  # drawn once when built
    widgets.control(w, "k").value = 5
    widgets.control(w, "method").value = "finetune"
    assert calls[-2:] == [(5, "probe"), (5, "finetune")]
    assert list(w.result.axes[0].get_lines()[0].get_ydata()) == [0, 5]
    with pytest.raises(KeyError, match="no control named"):
        widgets.control(w, "lr")


def test_augmentation_preview_is_a_pure_figure_function():
    image = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
    still = augmentation.augmentation_preview(image, INFO, n=3)
    shown = [ax.get_images()[0].get_array() for ax in still.axes if ax.get_images()]
    assert len(shown) == 4  # the original and 3 views
    assert all(np.allclose(s, shown[0], atol=1e-6) for s in shown)  # no augmentation: identical
    flipped = augmentation.augmentation_preview(image, INFO, hflip=True, n=6)
    views = [ax.get_images()[0].get_array() for ax in flipped.axes if ax.get_images()]
    assert any(
        np.allclose(v, image.flip(-1).permute(1, 2, 0).numpy() / 255, atol=1e-6) for v in views
    )


def test_augmentation_explorer_redraws_with_slider_values(monkeypatch):
    seen = []
    real = augmentation.augmentation_preview

    def spy(image, info, **values):
        seen.append(values)
        return real(image, info, **values)

    # the explorer looks the preview up in the study's core module, where it is defined
    monkeypatch.setattr(augmentation.core, "augmentation_preview", spy)
    image = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
    w = augmentation.augmentation_explorer(image, INFO, n=2)
    widgets.control(w, "rotation").value = 30
    assert seen[-1]["rotation"] == 30 and seen[-1]["n"] == 2
    assert isinstance(w.result, Figure) and len(w.result.axes) == 3


def test_lr_explorer_marks_the_chosen_lr():
    lrs = np.logspace(-4, 0, 30)
    result = SimpleNamespace(
        lrs=lrs, losses=np.linspace(2, 1, 30), suggestions={"valley": 1e-2}, suggested_lr=1e-2
    )
    w = learning_rate.lr_explorer(result)
    slider = widgets.control(w, "lr")
    assert slider.value == pytest.approx(1e-2)
    slider.value = 1e-3
    chosen = w.result.axes[0].get_lines()[-1]
    assert chosen.get_xdata()[0] == pytest.approx(1e-3)
    # the curve is the LR finder plot's
    expected = plots.lr_finder_plot(result).axes[0].get_lines()[0].get_ydata()
    np.testing.assert_allclose(w.result.axes[0].get_lines()[0].get_ydata(), expected)
