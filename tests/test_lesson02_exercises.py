"""Lesson 02's exercises: the notebook's checkers (``ftkit.studies.feature_extraction``) accept
the reference solutions and reject wrong answers; the predict-then-measure checker judges by the
measurement."""

import pytest
from torch import nn

from ftkit import features, models
from ftkit.studies import feature_extraction as fe


def test_trainable_parameters():
    model, _ = models.load_backbone("embedded")
    for p in model.parameters():
        p.requires_grad = False
    model.fc = nn.Linear(model.fc.in_features, 10)
    assert fe.check_trainable_parameters(128 * 10 + 10)
    assert fe.check_trainable_parameters(models.count_parameters(model, trainable_only=True))
    assert not fe.check_trainable_parameters(None)
    assert not fe.check_trainable_parameters(128 * 10)  # the biases count too
    assert not fe.check_trainable_parameters(models.count_parameters(model))  # frozen ones don't


def test_backbone_passes():
    assert fe.check_backbone_passes(1)
    assert not fe.check_backbone_passes(None)
    assert not fe.check_backbone_passes(100)


def test_plenty_of_labels():
    assert fe.check_plenty_of_labels("full fine-tuning")
    assert not fe.check_plenty_of_labels(None)
    assert not fe.check_plenty_of_labels("linear probe")
    assert not fe.check_plenty_of_labels("train from scratch")


@pytest.mark.parametrize(
    "steps, prediction",
    [(15, None), (15, "larger"), (150, "bigger"), (0, "bigger"), (1.5, "bigger")],
)
def test_budget_prediction_rejects_bad_input_before_any_work(steps, prediction, monkeypatch):
    monkeypatch.setattr(fe.exercises, "compare_probe_scratch", lambda *a, **kw: pytest.fail("ran"))
    assert not fe.check_budget_prediction(steps, prediction)


@pytest.mark.slow  # runs the lesson's comparison twice: tens of seconds
def test_budget_prediction_is_judged_by_the_measurement(capsys):
    cache = features.FeatureCache()
    reference = fe.compare_probe_scratch(
        1,
        steps=150,
        probe_grid=[{"weight_decay": 1e-3}, {"weight_decay": 1e-2}],
        scratch_grid=[{"lr": 0.03}, {"lr": 0.1}],
        cache=cache,
    )
    # the reference: with 15 steps scratch training has barely started, so the probe's lead at
    # one label per class is bigger than with 150 steps, by more than its spread
    assert fe.check_budget_prediction(15, "bigger", reference=reference, cache=cache)
    out = capsys.readouterr().out
    assert "measured lead at 15 steps" in out and "measured lead at 150 steps" in out
    assert not fe.check_budget_prediction(15, "smaller", reference=reference, cache=cache)
    assert not fe.check_budget_prediction(
        15, "no measurable difference", reference=reference, cache=cache
    )
