"""The exercise checkers of ``ftkit.studies.unfreezing_shift``: they hold the expected answers
(or measure them), so the learner's cell never does; the notebook and the tests call these same
functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ftkit import exercises, models, protocol
from ftkit.studies.unfreezing_shift.core import Record, trainable_at


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
    verdict = exercises.measured_outcome(protocol.paired_difference(a, b, names=recipes))
    correct = {"higher": recipes[0], "lower": recipes[1]}.get(verdict, verdict)
    return exercises.check_choice(
        answer,
        correct,
        [*recipes, "no measurable difference"],
        name=f"recipe for lr={lr:g}",
        hint=f"compare the {metric} accuracy of the two recipes at lr={lr:g}, seed by seed, in "
        "the right panel of the LR plot.",
    )


# Exercise 3 (change a setting, predict, then measure) is the core's checker.
predict_then_measure = exercises.predict_then_measure
