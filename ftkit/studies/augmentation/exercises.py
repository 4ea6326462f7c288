"""The exercise checkers of ``ftkit.studies.augmentation``: they hold the expected answers (or
run the learner's experiment), so the learner's cell never does; the notebook and the tests
call these same functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ftkit import data, exercises, protocol
from ftkit.models import BackboneInfo
from ftkit.studies.augmentation.core import compare_budgets, digits_setup, same_output

SAFE_OPTIONS = (
    "horizontal flip",
    "vertical flip",
    "rotation up to 180°",
    "small rotation and shift",
)
WHERE_OPTIONS = ("train", "val", "test", "all three")


def check_safe_augmentation(answer: object) -> bool:
    """Exercise 1: which augmentation keeps a handwritten digit's label?"""
    return exercises.check_choice(
        answer,
        "small rotation and shift",
        SAFE_OPTIONS,
        name="safe augmentation for digits",
        hint="Would a person still read the same digit?",
    )


def check_where_to_augment(answer: object) -> bool:
    """Exercise 2: which loader applies the random augmentation?"""
    return exercises.check_choice(
        answer,
        "train",
        WHERE_OPTIONS,
        name="where to augment",
        hint="Which loaders' images are used to *measure* the model?",
    )


def check_rebuilt_standard(candidate: Callable | None, info: BackboneInfo, image: torch.Tensor):
    """Exercise 3: ``candidate`` draws exactly what ``data.standard_augmentation(info)`` draws."""
    return exercises.check(
        "standard augmentation rebuilt",
        same_output(candidate, data.standard_augmentation(info), image),
        True,
        hint="rotation=10, a zoom range around 1, a shift of a few percent, and colour jitter; "
        "no flips, no crop.",
    )


def check_augmentation_prediction(
    prediction: object,
    candidate: Callable | None,
    reference: Callable,
    *,
    k: int,
    batch_size: int,
    seeds: Sequence[int],
    budgets: Sequence[int],
    lr: float,
) -> bool:
    """Exercise 4: fine-tune with ``candidate`` and with ``reference`` under the lesson's
    protocol; the measured paired difference (not a stored answer) judges ``prediction``."""

    def measure() -> protocol.Difference:
        if not callable(candidate):
            raise TypeError(f"your pipeline is {candidate!r}; build one with v2.Compose([...])")
        setups = {
            "your pipeline": digits_setup(candidate, k=k, batch_size=batch_size),
            "the digit pipeline": digits_setup(reference, k=k, batch_size=batch_size),
        }
        result = compare_budgets(setups, seeds=seeds, budgets=budgets, lr=lr)
        return result.difference("your pipeline", "the digit pipeline")

    return exercises.check_prediction(
        prediction,
        measure,
        name="your prediction (test accuracy, your pipeline against the digit pipeline)",
        hint="Ask of every step: would a person still give the changed image the same label?",
    )
