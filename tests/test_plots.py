"""plots: every function returns a Figure whose artists carry exactly the input data."""

import matplotlib

matplotlib.use("Agg")

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from torchvision.transforms import v2

from ftkit import plots
from ftkit.history import History

RECORDS = [
    {
        "epoch": 1,
        "train_loss": 2.0,
        "train_acc": 0.3,
        "val_loss": 2.2,
        "val_acc": 0.25,
        "lr": {"head": 0.1},
    },
    {
        "epoch": 2,
        "train_loss": 1.0,
        "train_acc": 0.6,
        "val_loss": 1.4,
        "val_acc": 0.5,
        "lr": {"head": 0.1},
    },
    {
        "epoch": 3,
        "train_loss": 0.5,
        "train_acc": 0.8,
        "val_loss": 1.1,
        "val_acc": 0.6,
        "lr": {"head": 0.01},
    },
]


def images_of(fig: Figure) -> list[AxesImage]:
    return [im for ax in fig.axes for im in ax.get_images()]


def history_of(records, **extra) -> History:
    history = History()
    for r in records:
        history.append(**{**r, "seconds": 0.0, **extra})
    return history


def test_learning_curves_plot_the_history():
    fig = plots.learning_curves(history_of(RECORDS))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    train, val = loss_ax.get_lines()
    assert list(train.get_xdata()) == [1, 2, 3] and list(train.get_ydata()) == [2.0, 1.0, 0.5]
    assert list(val.get_ydata()) == [2.2, 1.4, 1.1]
    assert list(acc_ax.get_lines()[1].get_ydata()) == [0.25, 0.5, 0.6]


def test_learning_curves_leave_out_an_unmeasured_split_and_take_an_axis():
    nan = float("nan")
    history = history_of(RECORDS[:2], val_loss=nan, val_acc=nan)  # no validation loader
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.learning_curves(history, ax=ax, metrics=("loss",)) is fig
    (line,) = ax.get_lines()  # no validation: one line
    assert list(line.get_ydata()) == [2.0, 1.0]


def test_lr_finder_plot_marks_each_suggestion():
    lrs = np.logspace(-5, 0, 20)
    losses = np.linspace(3, 1, 20)
    result = SimpleNamespace(
        lrs=lrs, losses=losses, suggestions={"steepest": lrs[5], "valley": lrs[12]}
    )
    ax = plots.lr_finder_plot(result).axes[0]
    curve, *markers = ax.get_lines()
    assert ax.get_xscale() == "log"
    np.testing.assert_allclose(curve.get_ydata(), losses)
    assert len(markers) == 2
    assert markers[1].get_xdata()[0] == lrs[12] and markers[1].get_ydata()[0] == losses[12]


def test_image_grid_uint8_and_denormalised_floats():
    images = torch.randint(0, 256, (5, 3, 6, 6), dtype=torch.uint8)
    fig = plots.image_grid(images, titles=list("abcde"), ncols=3)
    shown = images_of(fig)
    assert len(shown) == 5 and len(fig.axes) == 6  # one empty cell
    np.testing.assert_allclose(shown[0].get_array(), images[0].permute(1, 2, 0).numpy() / 255)
    assert fig.axes[4].get_title() == "e"
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    normalised = v2.Normalize(mean, std)(images.float() / 255)
    again = images_of(plots.image_grid(normalised, mean=mean, std=std))
    np.testing.assert_allclose(
        again[2].get_array(), images[2].permute(1, 2, 0).numpy() / 255, atol=1e-6
    )


def test_augmentation_grid_is_seeded_and_leaves_the_rng_alone():
    image = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
    transform = v2.Compose([v2.RandomHorizontalFlip(0.5), v2.ToDtype(torch.float32, scale=True)])
    state = torch.get_rng_state()
    fig = plots.augmentation_grid(image, transform, n=6, ncols=4)
    assert torch.equal(torch.get_rng_state(), state)
    shown = images_of(fig)
    assert len(shown) == 7 and fig.axes[0].get_title() == "original"
    again = images_of(plots.augmentation_grid(image, transform, n=6, ncols=4))
    assert all(np.array_equal(a.get_array(), b.get_array()) for a, b in zip(shown, again))
    flipped = image.flip(-1).permute(1, 2, 0).numpy() / 255
    assert any(np.allclose(s.get_array(), flipped) for s in shown[1:])


def test_confusion_plot_normalises_rows():
    cm = np.array([[3, 1], [0, 4]])
    fig = plots.confusion_plot(cm, ["cat", "dog"])
    (image,) = fig.axes[0].get_images()
    np.testing.assert_allclose(image.get_array(), [[0.75, 0.25], [0, 1]])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["cat", "dog"]
    raw = plots.confusion_plot(cm, ["cat", "dog"], normalize=False)
    np.testing.assert_allclose(raw.axes[0].get_images()[0].get_array(), cm)


def comparison_records():
    records = []
    for seed, noise in enumerate([-0.02, 0.0, 0.02]):
        for k, base in [(1, 0.4), (5, 0.6), (10, 0.7)]:
            records.append(
                {
                    "target": "digits",
                    "method": "probe",
                    "k": k,
                    "seed": seed,
                    "accuracy": base + noise,
                    "seconds": 1.0,
                }
            )
            records.append(
                {
                    "target": "digits",
                    "method": "finetune",
                    "k": k,
                    "seed": seed,
                    "accuracy": base + 0.1 + 2 * noise,
                    "seconds": 5.0,
                }
            )
    return records


def test_method_comparison_means_and_error_bars():
    ax = plots.method_comparison(comparison_records()).axes[0]
    containers = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(containers) == 2  # one per method
    line = containers[1].lines[0]
    assert list(line.get_xdata()) == [1, 5, 10]
    np.testing.assert_allclose(line.get_ydata(), [0.5, 0.7, 0.8])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["probe", "finetune"]
    summary = plots.summarize(comparison_records())
    np.testing.assert_allclose(summary["probe"][2], [0.02, 0.02, 0.02])  # sample std
    ci = plots.summarize(comparison_records(), error="ci95")["probe"][2]
    np.testing.assert_allclose(ci, 4.302653 * 0.02 / np.sqrt(3), rtol=1e-5)
    with pytest.raises(ValueError):
        plots.summarize(comparison_records(), error="sem")


def test_weight_change_plot_one_bar_per_group():
    changes = {"stem": 0.01, "layer1": 0.02, "layer2": 0.05, "layer4": 0.2}
    ax = plots.weight_change_plot(changes).axes[0]
    assert [p.get_height() for p in ax.patches] == list(changes.values())
    assert [t.get_text() for t in ax.get_xticklabels()] == list(changes)


def test_filters_and_feature_maps():
    weight = torch.randn(10, 3, 3, 3)
    fig = plots.filters_plot(weight, ncols=5)
    shown = images_of(fig)
    assert len(shown) == 10
    first = shown[0].get_array()
    assert first.shape == (3, 3, 3) and first.min() == 0 and first.max() == pytest.approx(1)
    maps = torch.randn(1, 12, 4, 4)
    shown = images_of(plots.feature_maps_plot(maps, n=8))
    assert len(shown) == 8
    np.testing.assert_allclose(shown[3].get_array(), maps[0, 3].numpy())


def test_no_pyplot_figures_are_left_open():
    import matplotlib.pyplot as plt

    plots.learning_curves(history_of(RECORDS))
    plots.image_grid(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
    assert plt.get_fignums() == []
