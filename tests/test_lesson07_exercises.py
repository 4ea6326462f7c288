"""Lesson 07's exercises, through the same checkers the notebook calls
(``ftkit.studies.unfreezing_shift``): each reference solution passes, a wrong answer fails."""

import pytest
from train_fixtures import tiny_resnet

from ftkit import freezing, models
from ftkit.studies import unfreezing_shift


def test_exercise_1_stage_2_freezing():
    model = tiny_resnet()
    models.replace_head(model, 10, seed=0)
    assert not unfreezing_shift.check_stage(model, stage=2)  # the placeholder: nothing frozen
    freezing.freeze_to(model, 3)  # the reference solution
    assert unfreezing_shift.check_stage(model, stage=2)
    freezing.freeze_to(model, 2)  # one group too few frozen
    assert not unfreezing_shift.check_stage(model, stage=2)


def _records(gradual, all_at_once, lr=0.1):
    return [
        {"recipe": recipe, "lr": lr, "seed": seed, "source": value}
        for recipe, values in (("gradual", gradual), ("all at once", all_at_once))
        for seed, value in enumerate(values)
    ] + [{"recipe": "gradual", "lr": 0.01, "seed": 0, "source": 0.0}]  # another LR: ignored


@pytest.mark.parametrize(
    "answer, ok",
    [("gradual", True), (" Gradual", True), ("all at once", False), (None, False)],
)
def test_exercise_2_the_answer_comes_from_the_runs(answer, ok):
    records = _records([0.95, 0.93, 0.96], [0.10, 0.20, 0.05])  # gradual keeps the source task
    assert unfreezing_shift.check_recipe_choice(answer, records, lr=0.1) is ok


def test_exercise_2_a_difference_within_its_spread_has_no_winner():
    records = _records([0.50, 0.70, 0.60], [0.62, 0.55, 0.61])
    assert not unfreezing_shift.check_recipe_choice("gradual", records, lr=0.1)
    assert unfreezing_shift.check_recipe_choice("no measurable difference", records, lr=0.1)
    with pytest.raises(ValueError, match="no records"):
        unfreezing_shift.check_recipe_choice("gradual", records, lr=0.5)


class Experiment:
    """Stands in for the notebook's ``run``: source accuracy per seed, counting its calls."""

    def __init__(self, values):
        self.values, self.calls = values, []

    def __call__(self, *, seed):
        self.calls.append(seed)
        return {"source": self.values[seed], "test": 0.9}


BASELINE = [0.76, 0.80, 0.61]  # the lesson's all-at-once source accuracy at its chosen LR


@pytest.mark.parametrize(
    "prediction, ok",
    [("higher", True), ("Higher ", True), ("lower", False), ("no measurable difference", False)],
)
def test_exercise_3_judges_the_prediction_on_the_measured_runs(prediction, ok):
    experiment = Experiment([0.95, 0.96, 0.94])  # a smaller LR keeps more of the source task
    assert (
        unfreezing_shift.predict_then_measure(
            prediction, experiment, BASELINE, seeds=(0, 1, 2), metric="source"
        )
        is ok
    )
    assert experiment.calls == [0, 1, 2]  # the learner's experiment ran on the lesson's seeds


def test_exercise_3_runs_nothing_without_a_prediction():
    experiment = Experiment([0.95, 0.96, 0.94])
    for placeholder in (None, "maybe"):
        assert not unfreezing_shift.predict_then_measure(
            placeholder, experiment, BASELINE, seeds=(0, 1, 2), metric="source"
        )
    assert experiment.calls == []


def test_exercise_3_noise_is_no_measurable_difference():
    experiment = Experiment([0.80, 0.70, 0.66])  # +4, -10, +5 points: within its spread
    assert unfreezing_shift.predict_then_measure(
        "no measurable difference", experiment, BASELINE, seeds=(0, 1, 2), metric="source"
    )
