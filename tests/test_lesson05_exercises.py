"""Lesson 05 exercises: each reference solution passes its check, a wrong answer fails."""

import torch

from ftkit import data
from ftkit import exercises as ex
from ftkit.models import BackboneInfo
from ftkit.studies import augmentation

INFO = BackboneInfo("embedded-like", 32, (0.1, 0.1, 0.1), (0.3, 0.3, 0.3))
OPTIONS = ["horizontal flip", "vertical flip", "rotation up to 180°", "small rotation and shift"]


def _image() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)


def test_exercise1_safe_augmentation(capsys):
    assert ex.check_choice("small rotation and shift", "small rotation and shift", OPTIONS)
    assert not ex.check_choice("horizontal flip", "small rotation and shift", OPTIONS)
    assert not ex.check_choice(None, "small rotation and shift", OPTIONS)
    assert capsys.readouterr().out.count("❌") == 2


def test_exercise2_where_to_augment():
    options = ["train", "val", "test", "all three"]
    assert ex.check_choice("train", "train", options)
    assert not ex.check_choice("all three", "train", options)
    assert not ex.check_choice(None, "train", options)


def test_exercise3_rebuild_standard_augmentation():
    image, reference = _image(), data.standard_augmentation(INFO)
    solution = data.train_transforms(
        INFO, rotation=10, scale=(0.9, 1.1), translate=0.08, color_jitter=0.3
    )
    assert ex.check(
        "standard augmentation rebuilt", augmentation.same_output(solution, reference, image), True
    )
    with_flip = data.train_transforms(
        INFO, rotation=10, scale=(0.9, 1.1), translate=0.08, color_jitter=0.3, hflip_prob=0.5
    )
    for wrong in (None, with_flip, data.train_transforms(INFO, rotation=10)):
        assert not ex.check(
            "standard augmentation rebuilt", augmentation.same_output(wrong, reference, image), True
        )
