"""Lesson 01's exercises: each reference solution passes its check, a wrong answer fails."""

import torch

from ftkit import data, exercises, models
from ftkit.studies import anatomy


def test_layer4_parameters():
    backbone, _ = models.load_backbone("embedded")
    expected = models.count_parameters(models.layer_groups(backbone)["layer4"])
    assert exercises.check("layer4 parameters", models.count_parameters(backbone.layer4), expected)
    assert not exercises.check("layer4 parameters", None, expected)
    assert not exercises.check("layer4 parameters", models.count_parameters(backbone), expected)


def test_layer3_output_size():
    backbone, info = models.load_backbone("embedded")
    image = data.load_target("digits", k=1).test.images[3]
    activations = {"pretrained": anatomy.block_activations(backbone, image, info)}
    answer = tuple(activations["pretrained"]["layer3"].shape[1:])
    assert exercises.check("layer3 output size", answer, (8, 8))
    assert not exercises.check("layer3 output size", None, (8, 8))
    assert not exercises.check("layer3 output size", (16, 16), (8, 8))


def test_resnet18_head_parameters():
    assert exercises.check("resnet18 head for 10 classes", 512 * 10 + 10, 5130)
    assert exercises.check("resnet18 head", models.count_parameters(torch.nn.Linear(512, 10)), 5130)
    assert not exercises.check("resnet18 head for 10 classes", None, 5130)
    assert not exercises.check("resnet18 head for 10 classes", 5120, 5130)
