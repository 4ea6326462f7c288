"""The exercise checkers of ``ftkit.studies.unfreezing_shift``: they hold the expected answers,
so the
learner's cell never does; the notebook and the tests call these same functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ftkit import exercises, models, protocol
from ftkit.studies.unfreezing_shift.core import Record, trainable_at

#: The answers a "predict, then measure" exercise accepts.
PREDICTIONS = ("higher", "lower", "no measurable difference")


def outcome(difference: protocol.Difference) -> str:
    """A paired difference in words: ``"higher"``, ``"lower"`` or ``"no measurable difference"``.

    >>> outcome(protocol.paired_difference([0.9, 0.8, 0.85], [0.5, 0.6, 0.55]))
    'higher'
    >>> outcome(protocol.paired_difference([0.5, 0.6, 0.5], [0.55, 0.5, 0.56]))
    'no measurable difference'
    """
    if not difference.clears:
        return "no measurable difference"
    return "higher" if difference.mean > 0 else "lower"


def check_stage(model: Any, stage: int) -> bool:
    """Exercise 1: ``model`` is frozen as in ``stage`` (0-based) of gradual unfreezing."""
    names = list(models.layer_groups(model))
    return exercises.check_frozen(
        model,
        trainable_at(names, stage),
        name=f"stage {stage}",
        hint="stage s trains the top s + 1 groups; freezing.freeze_to(model, n) freezes the "
        "first n groups.",
    )


def check_recipe_choice(
    answer: Any,
    records: Sequence[Record],
    *,
    lr: float,
    metric: str = "source",
    recipes: tuple[str, str] = ("gradual", "all at once"),
) -> bool:
    """Exercise 2: which recipe keeps more ``metric`` at ``lr``, judged from the lesson's runs
    (``records``: one per recipe, LR and seed), or ``"no measurable difference"``."""
    at = {n: [r for r in records if r["recipe"] == n and r["lr"] == lr] for n in recipes}
    if not all(at.values()):
        raise ValueError(f"no records of {recipes} at lr={lr:g}")
    a, b = ([r[metric] for r in sorted(at[n], key=lambda r: r["seed"])] for n in recipes)
    verdict = outcome(protocol.paired_difference(a, b, names=recipes))
    correct = {"higher": recipes[0], "lower": recipes[1]}.get(verdict, verdict)
    return exercises.check_choice(
        answer,
        correct,
        [*recipes, "no measurable difference"],
        name=f"recipe for lr={lr:g}",
        hint=f"compare the {metric} accuracy of the two recipes at lr={lr:g}, seed by seed, in "
        "the right panel of the LR plot.",
    )


def predict_then_measure(
    prediction: Any,
    experiment: Any,
    baseline: Sequence[float],
    *,
    seeds: Sequence[int],
    metric: str,
    name: str = "prediction",
    hint: str | None = None,
) -> bool:
    """Exercise 3: run ``experiment(seed=s)`` (the learner's changed setting) on ``seeds``,
    compare its ``metric`` seed by seed with ``baseline`` (the lesson's runs on the same seeds)
    and judge ``prediction`` (one of ``PREDICTIONS``) against what was measured.

    Nothing runs until the prediction is one of the accepted answers.
    """
    options = list(PREDICTIONS)
    if not isinstance(prediction, str) or prediction.strip().lower() not in options:
        return exercises.check_choice(prediction, None, options, name=name, hint=hint)
    measured = [float(experiment(seed=s)[metric]) for s in seeds]
    difference = protocol.paired_difference(measured, list(baseline), names=("yours", "lesson"))
    print(f"measured {metric}: {difference.verdict()}")
    return exercises.check_choice(prediction, outcome(difference), options, name=name, hint=hint)
