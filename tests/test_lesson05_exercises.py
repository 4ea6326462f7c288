"""Lesson 05's exercises: the notebook's checkers, imported from the study module, pass the
reference solutions and fail wrong answers. Exercise 4 runs the learner's experiment."""

import pytest
import torch
from torchvision.transforms import v2

from ftkit import data, models
from ftkit.models import BackboneInfo
from ftkit.studies import augmentation
from ftkit.studies.augmentation import exercises as checkers

INFO = BackboneInfo("embedded-like", 32, (0.1, 0.1, 0.1), (0.3, 0.3, 0.3))


def _image() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)


def test_exercise1_safe_augmentation(capsys):
    assert augmentation.check_safe_augmentation("small rotation and shift")
    assert not augmentation.check_safe_augmentation("horizontal flip")
    assert not augmentation.check_safe_augmentation("rotation up to 180°")
    assert not augmentation.check_safe_augmentation(None)  # the notebook's placeholder
    out = capsys.readouterr().out
    assert out.count("❌") == 3 and "small rotation and shift" not in out.split("\n")[1]


def test_exercise2_where_to_augment():
    assert augmentation.check_where_to_augment("train")
    assert augmentation.check_where_to_augment(" Train ")
    assert not augmentation.check_where_to_augment("all three")
    assert not augmentation.check_where_to_augment(None)


def test_exercise3_rebuild_standard_augmentation():
    image = _image()
    solution = data.train_transforms(
        INFO, rotation=10, scale=(0.9, 1.1), translate=0.08, color_jitter=0.3
    )
    assert augmentation.check_rebuilt_standard(solution, INFO, image)
    with_flip = data.train_transforms(
        INFO, rotation=10, scale=(0.9, 1.1), translate=0.08, color_jitter=0.3, hflip_prob=0.5
    )
    for wrong in (None, with_flip, data.train_transforms(INFO, rotation=10)):
        assert not augmentation.check_rebuilt_standard(wrong, INFO, image)


# --- exercise 4: change a setting, predict, then measure -------------------------------------

K, BATCH, SEEDS, BUDGETS, LR = 3, 30, (0, 1, 2), (10, 20, 40), 0.03  # the lesson's settings


def _digit_pipeline(info):
    return v2.Compose(
        [
            v2.RandomAffine(degrees=10, translate=(0.08, 0.08), scale=(0.9, 1.1)),
            v2.ColorJitter(brightness=0.3, contrast=0.3),
            data.eval_transforms(info),
        ]
    )


def _with_vertical_flip(info):  # the notebook's cell, the change as given
    return v2.Compose(
        [
            v2.RandomAffine(degrees=10, translate=(0.08, 0.08), scale=(0.9, 1.1)),
            v2.RandomVerticalFlip(p=0.5),
            v2.ColorJitter(brightness=0.3, contrast=0.3),
            data.eval_transforms(info),
        ]
    )


def test_exercise4_without_a_prediction_nothing_is_trained(monkeypatch, capsys):
    monkeypatch.setattr(checkers, "compare_budgets", lambda *a, **k: pytest.fail("trained"))
    _, info = models.load_backbone("embedded")
    for prediction in (None, "probably lower"):
        assert not augmentation.check_augmentation_prediction(
            prediction, _with_vertical_flip(info), _digit_pipeline(info),
            k=K, batch_size=BATCH, seeds=SEEDS, budgets=BUDGETS, lr=LR,
        )  # fmt: skip
    assert "predict first" in capsys.readouterr().out


def test_exercise4_reference_prediction_passes_and_a_wrong_one_fails(monkeypatch, capsys):
    real, cache = checkers.compare_budgets, {}

    def once(setups, **kw):  # the experiment runs once; both predictions are judged on it
        if "result" not in cache:
            cache["result"] = real(setups, **kw)
        return cache["result"]

    monkeypatch.setattr(checkers, "compare_budgets", once)
    _, info = models.load_backbone("embedded")
    settings = {"k": K, "batch_size": BATCH, "seeds": SEEDS, "budgets": BUDGETS, "lr": LR}
    pipelines = (_with_vertical_flip(info), _digit_pipeline(info))
    assert augmentation.check_augmentation_prediction("lower", *pipelines, **settings)
    assert "-> lower" in capsys.readouterr().out
    for wrong in ("higher", "no measurable difference"):
        assert not augmentation.check_augmentation_prediction(wrong, *pipelines, **settings)
    assert not augmentation.check_augmentation_prediction("lower", None, pipelines[1], **settings)
