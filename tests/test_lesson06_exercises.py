"""Lesson 06's exercises: the notebook's checkers, imported from the study module, pass the
reference solutions and fail wrong answers. Exercise 3 runs the learner's experiment."""

import pytest
import torch

from ftkit import models, regularization
from ftkit.studies import regularizers
from ftkit.studies.regularizers import exercises as checkers


def test_exercise1_label_smoothing_target(capsys):
    assert regularizers.check_smoothed_target(1 - 0.1 + 0.1 / 10)
    assert not regularizers.check_smoothed_target(0.9)  # forgot the true class's share
    assert not regularizers.check_smoothed_target(None)  # the notebook's placeholder
    assert "0.91" not in capsys.readouterr().out  # the answer is not revealed


def _moved_model():
    torch.manual_seed(0)
    model = models.replace_head(models.SmallResNet(86, widths=(4, 8, 8, 8)), 10, seed=1)
    l2sp = regularization.L2SP(model, alpha=0.5)
    start = {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith("fc.")}
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.01)
    return model, l2sp, start


def test_exercise2_l2sp_by_hand():
    model, l2sp, start = _moved_model()
    squares = [(p - start[n]).pow(2).sum() for n, p in model.named_parameters() if n in start]
    solution = 0.5 / 2 * sum(squares)
    assert regularizers.check_l2sp_by_hand(solution, model, l2sp)
    no_half = 0.5 * sum(squares)
    with_head = (
        0.5 / 2 * sum((p - start.get(n, 0)).pow(2).sum() for n, p in model.named_parameters())
    )
    for wrong in (no_half, with_head, None, "0.1"):
        assert not regularizers.check_l2sp_by_hand(wrong, model, l2sp)


# --- exercise 3: change a setting, predict, then measure ---------------------------------------

SETTINGS = {"k": 10, "epochs": 14, "patience": 3, "lr": 0.01, "batch_size": 25}  # the lesson's


def test_exercise3_without_a_prediction_nothing_is_trained(monkeypatch, capsys):
    monkeypatch.setattr(checkers, "early_stopping_runs", lambda *a, **k: pytest.fail("ran"))
    assert not regularizers.check_early_stopping_prediction(None, 0.0, seeds=(0, 1, 2), **SETTINGS)
    assert "predict first" in capsys.readouterr().out


def test_exercise3_reference_prediction_passes_and_wrong_ones_fail(monkeypatch):
    real, cache = checkers.early_stopping_runs, {}

    def once(seed, **kw):  # each seed runs once; every prediction is judged on the same runs
        key = (seed, kw["wrong"])
        if key not in cache:
            cache[key] = real(seed, **kw)
        return cache[key]

    monkeypatch.setattr(checkers, "early_stopping_runs", once)
    check = regularizers.check_early_stopping_prediction
    assert check("higher", 0.2, seeds=(0, 1, 2), **SETTINGS)  # half section 2's wrong labels
    assert not check("no measurable difference", 0.2, seeds=(0, 1, 2), **SETTINGS)
    assert not check("lower", 0.2, seeds=(0, 1, 2), **SETTINGS)
