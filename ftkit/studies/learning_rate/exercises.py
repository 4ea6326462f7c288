"""Lesson 04's exercise checkers: the expected answers live here, not in the learner's cell."""

from __future__ import annotations

from typing import Any

import torch

from ftkit import exercises


def check_two_groups(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> bool:
    """Exercise 1: every parameter in exactly one group; the backbone at 0.001, the head at 0.01."""
    groups_ok = exercises.check_param_groups(
        optimizer,
        model,
        hint="the backbone's parameters are those whose name does not start with 'fc.'",
    )
    head = {id(p) for p in model.fc.parameters()}
    by_lr = {}
    for g in optimizer.param_groups:
        kind = "head" if all(id(p) in head for p in g["params"]) else "backbone"
        by_lr.setdefault(kind, set()).add(g["lr"])
    lrs_ok = exercises.check(
        "group LRs",
        by_lr,
        {"backbone": {0.001}, "head": {0.01}},
        hint="one group holds the backbone's parameters, the other the head's (fc); "
        "which of them is new and needs the larger LR?",
    )
    return groups_ok and lrs_ok


def check_layer2_lr(answer: Any) -> bool:
    """Exercise 2: ``layer2``'s LR under ``discriminative_lrs(model, 0.03, factor=2.6)``."""
    return exercises.check_close(
        answer,
        0.03 / 2.6**3,
        rel=0.01,
        name="layer2 LR",
        hint="count how many groups layer2 sits below the head; each step divides by 2.6.",
    )


def check_first_lr(answer: Any) -> bool:
    """Exercise 3: the first single LR to try on a backbone pretrained at 0.1."""
    return exercises.check_choice(
        answer,
        0.01,
        [0.3, 0.1, 0.01, 0.0001],
        name="first LR to try",
        hint="look at both curves of the sweep, and at what 60 steps can do.",
    )


# Exercise 4 (change a setting, predict, then measure) is the core's checker.
check_change_prediction = exercises.check_change_prediction
