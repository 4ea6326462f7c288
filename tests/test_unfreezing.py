"""unfreezing: the gradual-unfreezing schedule, the lesson-07 views, and the hand-written loop
of lesson 07 giving the same weights as training.gradual_unfreeze."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from train_fixtures import image_loaders, tiny_resnet

from ftkit import models, protocol, training
from ftkit.history import History
from ftkit.studies import unfreezing_shift

NAMES = ["stem", "layer1", "layer2", "layer3", "layer4", "head"]


def test_trainable_at_is_the_top_stage_plus_one_groups():
    assert unfreezing_shift.trainable_at(NAMES, 0) == ["head"]
    assert unfreezing_shift.trainable_at(NAMES, 2) == ["layer3", "layer4", "head"]
    assert unfreezing_shift.trainable_at(NAMES, 5) == NAMES
    with pytest.raises(ValueError):
        unfreezing_shift.trainable_at(NAMES, 6)


def test_schedule_matrix_rows_are_groups_columns_epochs():
    m = unfreezing_shift.schedule_matrix(NAMES, 3)
    assert m.shape == (6, 18) and m.dtype == bool
    assert m[-1].all()  # the head always trains
    assert not m[0, :15].any() and m[0, 15:].all()  # the stem only in the last stage
    assert list(m.sum(axis=0)[::3]) == [1, 2, 3, 4, 5, 6]
    assert unfreezing_shift.schedule_matrix(NAMES, 1, stages=2).shape == (6, 2)


def test_hand_written_loop_equals_gradual_unfreeze():
    """Lesson 07's loop (requires_grad by hand, fit seeded with the stage) is the library recipe."""
    train_loader, val_loader = image_loaders()
    by_hand = tiny_resnet()
    groups = models.layer_groups(by_hand)
    names = list(groups)
    for stage in range(len(names)):
        trainable = names[len(names) - 1 - stage :]
        for name, module in groups.items():
            for p in module.parameters():
                p.requires_grad = name in trainable
        training.fit(by_hand, train_loader, val_loader, epochs=1, lr=0.05, seed=stage)
    library = tiny_resnet()
    train_loader, val_loader = image_loaders()  # fresh loaders: the same batch order
    training.gradual_unfreeze(library, train_loader, val_loader, epochs_per_stage=1, lr=0.05)
    for (name, a), b in zip(by_hand.state_dict().items(), library.state_dict().values()):
        assert torch.equal(a, b), name


def _history(values):
    h = History()
    for i, v in enumerate(values, start=1):
        h.append(epoch=i, train_loss=1.0, train_acc=v, val_loss=1.0, val_acc=v, lr={}, seconds=0.0)
    return h


def test_unfreezing_view_marks_the_epoch_and_its_stage():
    histories = {
        "all at once": _history(np.linspace(0.2, 0.9, 15)),
        "gradual": _history(np.linspace(0.1, 0.95, 18)),
    }
    fig = unfreezing_shift.unfreezing_view(histories, NAMES, epoch=7, epochs_per_stage=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    left, right = fig.axes
    assert "stage 2" in left.get_title() and "layer3, layer4, head" in left.get_title()
    solid = [line for line in right.get_lines() if line.get_label() in histories]
    assert [len(line.get_xdata()) for line in solid] == [7, 7]  # drawn up to the epoch
    late = unfreezing_shift.unfreezing_view(histories, NAMES, epoch=99, epochs_per_stage=3)
    assert "epoch 18, stage 5" in late.axes[0].get_title()  # clipped to the schedule


def test_mean_of_and_recipe_bars():
    records = [
        {"test": t, "recipe": r, "seed": s, "accuracy": a}
        for t, r, s, a in [
            ("ID", "FT", 0, 0.9),
            ("ID", "FT", 1, 0.8),
            ("ID", "LP-FT", 0, 0.95),
            ("OOD", "FT", 0, 0.3),
            ("OOD", "LP-FT", 0, 0.4),
        ]
    ]
    assert unfreezing_shift.mean_of(records, "accuracy", test="ID", recipe="FT") == pytest.approx(
        0.85
    )
    with pytest.raises(ValueError, match="no records"):
        unfreezing_shift.mean_of(records, "accuracy", recipe="nope")
    fig = unfreezing_shift.recipe_bars(records, x="test", y="accuracy", hue="recipe")
    bars = [p for p in fig.axes[0].patches]
    assert len(bars) == 4
    assert sorted(round(b.get_height(), 3) for b in bars) == [0.3, 0.4, 0.85, 0.95]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["ID", "OOD"]


def test_outcome_names_the_direction_only_when_the_difference_clears():
    up = protocol.paired_difference([0.9, 0.8, 0.85], [0.5, 0.6, 0.55])
    down = protocol.paired_difference([0.5, 0.6, 0.55], [0.9, 0.8, 0.85])
    noise = protocol.paired_difference([0.5, 0.6, 0.5], [0.55, 0.5, 0.56])
    assert [unfreezing_shift.outcome(d) for d in (up, down, noise)] == [
        "higher",
        "lower",
        "no measurable difference",
    ]


def test_the_stored_fashion_sweep_covers_the_grid_on_every_seed():
    sweep = unfreezing_shift.stored_fashion_sweep()
    expected = {
        (method, lr, seed)
        for method, lrs in unfreezing_shift.FASHION_LRS.items()
        for lr in lrs
        for seed in unfreezing_shift.FASHION_SEEDS
    }
    assert set(sweep) == expected
    assert len({len(lrs) for lrs in unfreezing_shift.FASHION_LRS.values()}) == 1  # same budget
    for scores in sweep.values():
        assert set(scores) == {"val", "test", "train"}
        assert all(0.0 <= v <= 1.0 for v in scores.values())
    # the budget check: scratch with twice the steps, at an LR of its grid, on every seed
    longer = unfreezing_shift.stored_fashion_sweep("scratch_2x")
    assert {m for m, _, _ in longer} == {"scratch"}
    assert {s for _, _, s in longer} == set(unfreezing_shift.FASHION_SEEDS)
    assert {lr for _, lr, _ in longer} <= set(unfreezing_shift.FASHION_LRS["scratch"])


def test_photo_run_trains_squeezenet_on_fashion_and_reports_three_accuracies():
    pytest.importorskip("ftkit.photos")
    try:
        scores = unfreezing_shift.photo_run(
            "fashion", seed=0, lr=1e-3, pretrained=True, steps=2, k=1, image_size=32
        )
    except RuntimeError as exc:  # the Debian dataset is not installed here
        pytest.skip(str(exc))
    assert set(scores) == {"val", "test", "train"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())
