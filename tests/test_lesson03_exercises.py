"""Lesson 03's exercises: each reference solution passes its check, a wrong answer fails.

The checks and expected values are the ones the notebook uses.
"""

import pytest

from ftkit import exercises, freezing, models


@pytest.fixture
def ex_model():
    model, _ = models.load_backbone("embedded")
    return models.replace_head(model, 10, seed=0)


def check_ex1(ex_model):
    return exercises.check_frozen(
        ex_model,
        ["layer3", "layer4", "head"],
        hint="conv1 and bn1 form the stem; loop over module.parameters().",
    )


def test_exercise1_freeze_by_hand(ex_model, capsys):
    assert not check_ex1(ex_model)  # the placeholder: nothing frozen
    for module in (ex_model.conv1, ex_model.bn1, ex_model.layer1, ex_model.layer2):
        for p in module.parameters():
            p.requires_grad = False
    assert check_ex1(ex_model)
    assert "✅" in capsys.readouterr().out


def test_exercise1_one_group_too_many_fails(ex_model):
    for module in (ex_model.conv1, ex_model.bn1, ex_model.layer1, ex_model.layer2, ex_model.layer3):
        for p in module.parameters():
            p.requires_grad = False
    assert not check_ex1(ex_model)


def check_ex2(answer):
    return exercises.check(
        "trainable parameters with 3 groups frozen",
        answer,
        57_728 + 230_144 + 1_290,
        hint="n = 3 freezes stem, layer1 and layer2; add up the groups that remain.",
    )


def test_exercise2_trainable_after_freeze_to_3(ex_model):
    assert check_ex2(57_728 + 230_144 + 1_290)
    freezing.freeze_to(ex_model, 3)  # the reference is the real count
    assert models.count_parameters(ex_model, trainable_only=True) == 289_162
    assert not check_ex2(None) and not check_ex2(1290) and not check_ex2(308_826)


def check_ex3(policy):
    return exercises.check_choice(
        policy,
        "train",
        ["frozen_eval", "train"],
        name="batch-norm policy",
        hint="which policy let the running statistics follow the striped images?",
    )


def test_exercise3_bn_policy():
    assert check_ex3("train")
    assert not check_ex3("frozen_eval") and not check_ex3(None)
