"""Lesson 04's exercises: each reference solution passes its check, a wrong answer fails.

The checks and expected values are the ones the notebook uses.
"""

import pytest
import torch

from ftkit import exercises, models, optim


@pytest.fixture
def ex_model():
    model, _ = models.load_backbone("embedded")
    return models.replace_head(model, 10, seed=0)


def check_ex1(ex_optimizer, ex_model):
    groups_ok = exercises.check_param_groups(
        ex_optimizer,
        ex_model,
        hint="the backbone's parameters are those whose name does not start with 'fc.'",
    )
    lrs_ok = exercises.check(
        "group LRs",
        sorted(g["lr"] for g in ex_optimizer.param_groups),
        [0.001, 0.01],
        hint="one group at 0.001, one at 0.01",
    )
    return groups_ok and lrs_ok


def test_exercise1_two_param_groups(ex_model):
    placeholder = torch.optim.SGD(ex_model.fc.parameters(), lr=0.01, momentum=0.9)
    assert not check_ex1(placeholder, ex_model)
    backbone = [p for name, p in ex_model.named_parameters() if not name.startswith("fc.")]
    solution = torch.optim.SGD(
        [
            {"params": backbone, "lr": 0.001},
            {"params": ex_model.fc.parameters(), "lr": 0.01},
        ],
        momentum=0.9,
    )
    assert check_ex1(solution, ex_model)
    one_lr = torch.optim.SGD(ex_model.parameters(), lr=0.01, momentum=0.9)
    assert not check_ex1(one_lr, ex_model)  # every parameter, but one LR


def check_ex2(answer):
    return exercises.check_close(
        answer,
        0.03 / 2.6**3,
        rel=0.01,
        name="layer2 LR",
        hint="count how many groups layer2 sits below the head.",
    )


def test_exercise2_discriminative_lr(ex_model):
    assert check_ex2(0.03 / 2.6**3)
    assert check_ex2(optim.discriminative_lrs(ex_model, 0.03, factor=2.6)["layer2"])
    assert not check_ex2(None) and not check_ex2(0.03 / 2.6**2) and not check_ex2(0.03 / 2.6**4)


def check_ex3(answer):
    return exercises.check_choice(
        answer,
        0.01,
        [0.3, 0.1, 0.01, 0.0001],
        name="first LR to try",
        hint="look at both curves of the sweep, and at what 60 steps can do.",
    )


def test_exercise3_first_lr():
    assert check_ex3(0.01)
    assert not check_ex3(0.1) and not check_ex3(0.0001) and not check_ex3(None)
