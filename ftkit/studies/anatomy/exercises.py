"""The exercise checkers of ``ftkit.studies.anatomy``: they hold the expected answers,
so the
learner's cell never does; the notebook and the tests call these same functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from ftkit import exercises, features, models
from ftkit.studies.anatomy.core import Candidate, block_activations, compare_candidates

SIZE_PREDICTIONS = ("higher", "lower", "no measurable difference")


def check_layer4_parameters(answer: Any) -> bool:
    """Exercise 1: the parameters of the embedded backbone's ``layer4``."""
    backbone, _ = models.load_backbone("embedded")
    expected = models.count_parameters(models.layer_groups(backbone)["layer4"])
    return exercises.check(
        "layer4 parameters",
        answer,
        expected,
        hint="models.count_parameters of the module models.layer_groups(backbone)['layer4']",
    )


def check_layer3_size(answer: Any) -> bool:
    """Exercise 2: ``(height, width)`` of ``layer3``'s output for one 32x32 image."""
    backbone, info = models.load_backbone("embedded")
    image = torch.zeros(3, info.image_size, info.image_size, dtype=torch.uint8)
    expected = tuple(block_activations(backbone, image, info, blocks=("layer3",))["layer3"].shape)
    return exercises.check(
        "layer3 output size",
        tuple(answer) if isinstance(answer, list) else answer,
        expected[1:],
        hint="layer1 keeps the resolution, every later stage halves it; or read "
        "activations['pretrained']['layer3'].shape",
    )


def check_new_head_parameters(answer: Any, num_classes: int = 6) -> bool:
    """Exercise 3: parameters of a new linear head on SqueezeNet for ``num_classes`` classes."""
    model, _ = models.load_backbone("squeezenet1_1", pretrained=False)
    head = models.head_of(models.replace_head(model, num_classes))[1]
    return exercises.check(
        f"SqueezeNet head for {num_classes} classes",
        answer,
        models.count_parameters(head),
        hint="the head is nn.Linear(models.num_features(model), classes): a weight matrix and a "
        "bias vector",
    )


def check_size_prediction(
    image_size: Any,
    prediction: Any,
    *,
    reference_size: int = 96,
    k: int = 5,
    seeds: Sequence[int] = (0, 1, 2),
    cache: features.FeatureCache | None = None,
) -> bool:
    """Exercise 4 (predict, then measure): is the ImageNet SqueezeNet probe on Tux Paint's
    photos read at ``image_size`` pixels higher, lower, or not measurably different from the
    same probe at ``reference_size``? Runs both (tuned on validation, paired over seeds)."""
    name = f"probe at {image_size} px vs {reference_size} px"
    if prediction not in SIZE_PREDICTIONS:
        hint = "write your prediction down before the measurement, as one of the options"
        return exercises.check_choice(prediction, None, SIZE_PREDICTIONS, name=name, hint=hint)
    if (
        not isinstance(image_size, int)
        or not 32 <= image_size <= 224
        or image_size == reference_size
    ):
        hint = f"choose a size from 32 to 224 pixels, other than {reference_size}"
        return exercises.check(name, image_size, None, hint=hint)
    backbone, info = models.load_backbone("squeezenet1_1")
    sizes = {f"{size} px": size for size in (image_size, reference_size)}
    candidates = {
        label: Candidate(lambda seed: backbone, replace(info, image_size=size))
        for label, size in sizes.items()
    }
    comparison = compare_candidates(candidates, "tux", k=k, seeds=seeds, cache=cache)
    for label in sizes:
        scores = ", ".join(f"{100 * v:.1f}" for v in comparison.scores(label))
        print(f"measured at {label}: balanced accuracy {scores} (seeds {list(seeds)})")
    d = comparison.difference(*sizes)
    print(f"          {d.verdict()}")
    truth = SIZE_PREDICTIONS[2] if not d.clears else SIZE_PREDICTIONS[0 if d.mean > 0 else 1]
    return exercises.check_choice(
        prediction, truth, SIZE_PREDICTIONS, name=name, hint="read the measurement above"
    )
