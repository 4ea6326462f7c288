"""The fair protocol: budgets in steps, paired differences, tuning on validation only."""

from __future__ import annotations

import math

import pytest

from ftkit import protocol


def test_epochs_for_steps_equalises_updates_across_training_set_sizes():
    small = protocol.epochs_for_steps(300, n_train=10, batch_size=32)
    large = protocol.epochs_for_steps(300, n_train=200, batch_size=32)
    assert small * math.ceil(10 / 32) >= 300 and large * math.ceil(200 / 32) >= 300
    assert (small, large) == (300, 43)


@pytest.mark.parametrize("bad", [0, -5, 1.5, None])
def test_epochs_for_steps_refuses_bad_numbers(bad):
    with pytest.raises(ValueError, match="positive integer"):
        protocol.epochs_for_steps(bad, n_train=10, batch_size=4)


def test_drop_last_with_too_few_images_is_named():
    with pytest.raises(ValueError, match="gives no batch"):
        protocol.epochs_for_steps(10, n_train=3, batch_size=8, drop_last=True)


def test_a_difference_within_its_spread_is_no_measurable_difference():
    d = protocol.paired_difference([0.80, 0.90, 0.70], [0.78, 0.70, 0.75], names=("a", "b"))
    assert d.diffs == pytest.approx((2.0, 20.0, -5.0))
    assert not d.clears
    assert d.verdict().startswith("no measurable difference here between a and b")


def test_a_consistent_difference_clears_and_names_the_winner():
    d = protocol.paired_difference([0.70, 0.72, 0.71], [0.80, 0.83, 0.80], names=("a", "b"))
    assert d.clears and d.mean == pytest.approx(-10.0)
    assert d.verdict().startswith("b beats a by 10.0")


def test_one_seed_never_clears_and_unpaired_lengths_are_refused():
    assert not protocol.paired_difference([0.9], [0.1]).clears
    with pytest.raises(ValueError, match="same seeds"):
        protocol.paired_difference([0.9, 0.8], [0.1])


def _run(*, seed: int, lr: float) -> dict:
    # validation peaks at lr=0.01; the test split would prefer lr=0.1 (it must not be read)
    val = {0.001: 0.6, 0.01: 0.8, 0.1: 0.7}[lr] + 0.01 * seed
    test = {0.001: 0.6, 0.01: 0.75, 0.1: 0.9}[lr] + 0.01 * seed
    return {"val": val, "test": test}


def test_compare_chooses_on_validation_not_test_and_pairs_by_seed():
    grid = [{"lr": 0.001}, {"lr": 0.01}, {"lr": 0.1}]
    fixed = [{"lr": 0.001}]  # nothing to tune: a grid of one
    result = protocol.compare({"tuned": (_run, grid), "fixed": (_run, fixed)}, seeds=[0, 1, 2])
    assert result.chosen["tuned"] == {"lr": 0.01}
    assert result.scores("tuned") == pytest.approx([0.75, 0.76, 0.77])
    d = result.difference("tuned", "fixed")
    assert d.diffs == pytest.approx((15.0, 15.0, 15.0)) and d.clears
    assert "chosen on val" in result.table() and "lr=0.01" in result.table()
    assert len(result.records()) == 6


def test_compare_refuses_unequal_budgets_and_too_few_seeds():
    with pytest.raises(ValueError, match="unequal search budgets"):
        two, three = [{"lr": 0.01}, {"lr": 0.1}], [{"lr": 0.001}, {"lr": 0.01}, {"lr": 0.1}]
        protocol.compare({"a": (_run, two), "b": (_run, three)}, [0, 1, 2])
    with pytest.raises(ValueError, match="repeats a setting"):
        protocol.compare({"a": (_run, [{"lr": 0.01}] * 2)}, [0, 1, 2])
    with pytest.raises(ValueError, match="at least 3 seeds"):
        protocol.compare({"a": (_run, [{"lr": 0.01}])}, [0, 1])


def test_plateau_keeps_the_settings_not_measurably_worse_than_the_best():
    vals = {1e-3: (0.80, 0.82, 0.81), 1e-2: (0.95, 0.96, 0.94), 3e-2: (0.96, 0.93, 0.95)}
    trials = [
        protocol.Trial("SGD", {"lr": lr}, s, {"val": v})
        for lr, vs in vals.items()
        for s, v in enumerate(vs)
    ]
    # 0.03 - 0.01: +1, -3, +1 points -> -0.3 ± 2.3: not measurably worse; 0.001: -13.7 ± 0.6
    assert protocol.plateau(trials, {"lr": 1e-2}) == [{"lr": 1e-2}, {"lr": 3e-2}]
    assert protocol.scores_of(trials, "val", lr=1e-3) == [0.80, 0.82, 0.81]
    with pytest.raises(ValueError, match="no trial with"):
        protocol.scores_of(trials, "val", lr=0.5)
