"""Lesson 07's exercises: each reference solution passes its check, a wrong answer fails.

The checks and expected values are the notebook's (the notebook's expected value of exercise 3
is computed from its records; here from synthetic records with the same keys)."""

import pytest
import torch
from train_fixtures import tiny_resnet

from ftkit import exercises, freezing, models
from ftkit.studies import unfreezing_shift

NAMES = ["stem", "layer1", "layer2", "layer3", "layer4", "head"]


def check_stage2(model):
    return exercises.check_frozen(model, unfreezing_shift.trainable_at(NAMES, 2), name="stage 2")


def test_exercise_1_stage_2_freezing():
    model = tiny_resnet()
    models.replace_head(model, 10, seed=0)
    assert not check_stage2(model)  # the placeholder: nothing frozen
    freezing.freeze_to(model, 3)  # the reference solution
    assert check_stage2(model)
    freezing.freeze_to(model, 2)  # one stage too far
    assert not check_stage2(model)


@pytest.mark.parametrize(
    "answer, ok", [("gradual", True), (" Gradual", True), ("all at once", False), (None, False)]
)
def test_exercise_2_large_lr_recipe(answer, ok):
    assert (
        exercises.check_choice(
            answer, "gradual", ["all at once", "gradual"], name="large-LR recipe"
        )
        is ok
    )


def test_exercise_3_gain_on_shift():
    records_c = [
        {"target": t, "method": m, "seed": s, "accuracy": a}
        for t, m, s, a in [
            ("shift", "scratch", 0, 0.12),
            ("shift", "scratch", 1, 0.13),
            ("shift", "fine-tune", 0, 0.52),
            ("shift", "fine-tune", 1, 0.55),
            ("near", "scratch", 0, 0.11),
            ("near", "fine-tune", 0, 0.98),
        ]
    ]

    def acc_c(target, method):
        return unfreezing_shift.mean_of(records_c, "accuracy", target=target, method=method)

    expected = acc_c("shift", "fine-tune") - acc_c("shift", "scratch")

    def check(gain):
        return exercises.check_close(gain, expected, rel=0, abs_tol=0.005, name="gain on shift")

    assert not check(None)
    gain = unfreezing_shift.mean_of(
        records_c, "accuracy", target="shift", method="fine-tune"
    ) - unfreezing_shift.mean_of(records_c, "accuracy", target="shift", method="scratch")
    assert check(gain)
    assert not check(acc_c("near", "fine-tune") - acc_c("near", "scratch"))  # the wrong target
    assert torch.isclose(torch.tensor(gain), torch.tensor(0.41))
