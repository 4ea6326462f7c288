"""The exercise checkers of ``ftkit.studies.feature_extraction``: they hold the expected answers,
so the
learner's cell never does; the notebook and the tests call these same functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ftkit import exercises, features, models, protocol
from ftkit.studies.feature_extraction.core import SEEDS, compare_probe_scratch

PLENTY_OPTIONS = ("linear probe", "full fine-tuning", "train from scratch")
GAP_PREDICTIONS = ("bigger", "smaller", "no measurable difference")


def check_trainable_parameters(answer: Any, num_classes: int = 10) -> bool:
    """Exercise 1: trainable parameters of the embedded feature extractor with a new head."""
    model, _ = models.load_backbone("embedded")
    model.requires_grad_(False)
    models.replace_head(model, num_classes)
    expected = models.count_parameters(model, trainable_only=True)
    return exercises.check(
        "trainable parameters",
        answer,
        expected,
        hint="count the new head's weights (a matrix) and biases",
    )


def check_backbone_passes(answer: Any) -> bool:
    """Exercise 2: how often the backbone sees each training image when features are cached."""
    return exercises.check(
        "backbone passes per training image",
        answer,
        1,
        hint="the cache extracts features once; the epochs only touch the head",
    )


def check_plenty_of_labels(choice: Any) -> bool:
    """Exercise 3: a task close to the source, 2,000 labels per class and a GPU."""
    return exercises.check_choice(
        choice,
        "full fine-tuning",
        PLENTY_OPTIONS,
        name="plenty of labels",
        hint="the probe's lead shrank as k grew; with plenty of labels, let every layer adapt, "
        "starting from the pretrained weights",
    )


def check_budget_prediction(
    steps: Any,
    prediction: Any,
    *,
    k: int = 1,
    reference: protocol.Comparison | None = None,
    reference_steps: int = 150,
    probe_grid: Sequence[Mapping[str, Any]] = ({"weight_decay": 1e-3}, {"weight_decay": 1e-2}),
    scratch_grid: Sequence[Mapping[str, Any]] = ({"lr": 0.03}, {"lr": 0.1}),
    seeds: Sequence[int] = SEEDS,
    cache: features.FeatureCache | None = None,
) -> bool:
    """Exercise 4 (predict, then measure): with a budget of ``steps`` optimizer steps for both
    methods instead of ``reference_steps``, is the probe's lead over scratch at ``k`` bigger,
    smaller, or not measurably different? Runs the race at ``steps`` (and at
    ``reference_steps`` unless the lesson's ``reference`` comparison is given) and judges."""
    name = f"probe's lead with {steps} steps vs {reference_steps}"
    if prediction not in GAP_PREDICTIONS:
        hint = "write your prediction down before the measurement, as one of the options"
        return exercises.check_choice(prediction, None, GAP_PREDICTIONS, name=name, hint=hint)
    if not isinstance(steps, int) or not 1 <= steps <= 1000 or steps == reference_steps:
        hint = f"steps must be a whole number from 1 to 1000, other than {reference_steps}"
        return exercises.check(name, steps, None, hint=hint)
    cache = cache if cache is not None else features.FeatureCache()
    grids = {"probe_grid": probe_grid, "scratch_grid": scratch_grid, "seeds": seeds, "cache": cache}
    if reference is None:
        reference = compare_probe_scratch(k, steps=reference_steps, **grids)
    leads = {
        n: c.difference("linear probe", "scratch").diffs
        for n, c in (
            (steps, compare_probe_scratch(k, steps=steps, **grids)),
            (reference_steps, reference),
        )
    }
    for n, values in leads.items():
        print(f"measured lead at {n} steps: " + ", ".join(f"{v:+.1f}" for v in values) + " points")
    d = protocol.paired_difference(
        leads[steps],
        leads[reference_steps],
        names=(f"lead at {steps}", f"lead at {reference_steps}"),
        scale=1,
    )
    print(f"          {d.verdict()}")
    truth = GAP_PREDICTIONS[2] if not d.clears else GAP_PREDICTIONS[0 if d.mean > 0 else 1]
    return exercises.check_choice(
        prediction, truth, GAP_PREDICTIONS, name=name, hint="read the measurement above"
    )
