"""The exercise checkers of ``ftkit.studies.regularizers``: they hold the expected answers (or
run the learner's experiment), so the learner's cell never does; the notebook and the tests
call these same functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ftkit import exercises, protocol
from ftkit.studies.regularizers.core import early_stopping_difference, early_stopping_runs


def check_smoothed_target(answer: object) -> bool:
    """Exercise 1: the target probability of the true class with smoothing 0.1 and 10 classes."""
    return exercises.check_close(
        answer,
        1 - 0.1 + 0.1 / 10,
        rel=0.001,
        name="smoothed target of the true class",
        hint="1 - eps for the true class, plus its share eps / C of the spread mass.",
    )


def check_l2sp_by_hand(answer: object, model: nn.Module, l2sp: Callable) -> bool:
    """Exercise 2: ``answer`` equals ``l2sp(model)`` (``regularization.L2SP``, made before
    the weights moved)."""
    try:
        value = float(torch.as_tensor(answer).detach())
    except (TypeError, ValueError, RuntimeError):
        value = float("nan")
    return exercises.check_close(
        value,
        l2sp(model).item(),
        rel=1e-4,
        name="L2-SP by hand",
        hint="alpha / 2 times the sum, over model.named_parameters() whose name is in start, "
        "of (p - start[name]).pow(2).sum()",
    )


def check_early_stopping_prediction(
    prediction: object, wrong: float, *, seeds: Sequence[int], **settings: Any
) -> bool:
    """Exercise 3: early stopping against training to the end with the learner's fraction of
    ``wrong`` labels (``settings``: as ``early_stopping_runs``); the measured paired
    difference, not a stored answer, judges the prediction."""

    def measure() -> protocol.Difference:
        runs = {s: early_stopping_runs(s, wrong=wrong, **settings) for s in seeds}
        return early_stopping_difference(runs)

    return exercises.check_prediction(
        prediction,
        measure,
        name="your prediction",
        hint="Early stopping can only save what later epochs would lose: is there still "
        "something wrong to memorise late in training?",
    )
