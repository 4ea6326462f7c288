"""Lesson 00's exercises: the notebook's checkers (``ftkit.studies.welcome``) accept the
reference solutions and reject wrong answers."""

import pytest
from torch import nn

from ftkit import features, models
from ftkit.studies import welcome


def test_source_classes(capsys):
    _, info = models.load_backbone("embedded")
    assert welcome.check_source_classes(len(info.source_classes))
    assert not welcome.check_source_classes(None)
    assert not welcome.check_source_classes(10)
    assert "Hint" in capsys.readouterr().out


def test_first_approach():
    assert welcome.check_first_approach("feature extraction")
    assert welcome.check_first_approach(" Feature Extraction ")
    assert not welcome.check_first_approach(None)
    assert not welcome.check_first_approach("train from scratch")
    assert not welcome.check_first_approach("full fine-tuning at a large learning rate")


def test_feature_extractor():
    model, _ = models.load_backbone("embedded")
    assert not welcome.check_feature_extractor(model)  # the untouched placeholder
    for p in model.parameters():  # the reference solution
        p.requires_grad = False
    model.fc = nn.Linear(model.fc.in_features, 10)
    assert welcome.check_feature_extractor(model)
    assert not welcome.check_feature_extractor(model, num_classes=5)


def test_freezing_after_the_new_head_is_wrong():
    model, _ = models.load_backbone("embedded")
    model.fc = nn.Linear(model.fc.in_features, 10)
    for p in model.parameters():  # freezes the new head too
        p.requires_grad = False
    assert not welcome.check_feature_extractor(model)


def test_measured_trend_needs_the_difference_to_clear_its_spread():
    assert welcome.measured_trend([20, 22, 25], [10, 11, 9])[0] == "bigger"
    assert welcome.measured_trend([5, 6, 4], [10, 11, 9])[0] == "smaller"
    assert welcome.measured_trend([12, 3, 10], [10, 11, 9])[0] == "no measurable difference"


@pytest.mark.parametrize(
    "k, prediction", [(0, "bigger"), (1, None), (1, "larger"), (2.5, "bigger")]
)
def test_gap_prediction_rejects_bad_input_before_any_work(k, prediction, monkeypatch):
    monkeypatch.setattr(welcome, "compare_probes", lambda *a, **kw: pytest.fail("ran"))
    assert not welcome.check_gap_prediction(k, prediction)


@pytest.mark.slow  # runs the lesson's comparison twice: tens of seconds
def test_gap_prediction_is_judged_by_the_measurement(capsys):
    cache = features.FeatureCache()
    # the reference: with one label per class the gap is bigger than with ten, by more than
    # its spread, paired over the 3 seeds
    assert welcome.check_gap_prediction(1, "bigger", cache=cache)
    assert "measured:" in capsys.readouterr().out
    assert not welcome.check_gap_prediction(1, "smaller", cache=cache)
    assert not welcome.check_gap_prediction(1, "no measurable difference", cache=cache)
    # the same k on both sides: a zero difference is never a measurable one
    assert welcome.check_gap_prediction(10, "no measurable difference", cache=cache)
