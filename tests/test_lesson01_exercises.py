"""Lesson 01's exercises: the notebook's checkers (``ftkit.studies.anatomy``) accept the
reference solutions and reject wrong answers; the predict-then-measure checker judges by the
measurement."""

import pytest
import torch

from ftkit import data, features, models
from ftkit.studies import anatomy


def test_layer4_parameters():
    backbone, _ = models.load_backbone("embedded")
    assert anatomy.check_layer4_parameters(models.count_parameters(backbone.layer4))
    assert not anatomy.check_layer4_parameters(None)
    assert not anatomy.check_layer4_parameters(models.count_parameters(backbone))


def test_layer3_output_size():
    backbone, info = models.load_backbone("embedded")
    image = data.load_target("digits", k=1).test.images[3]
    activations = {"pretrained": anatomy.block_activations(backbone, image, info)}
    assert anatomy.check_layer3_size(tuple(activations["pretrained"]["layer3"].shape[1:]))
    assert anatomy.check_layer3_size([8, 8])
    assert not anatomy.check_layer3_size(None)
    assert not anatomy.check_layer3_size((16, 16))


def test_new_head_parameters():
    assert anatomy.check_new_head_parameters(512 * 6 + 6, num_classes=6)
    assert anatomy.check_new_head_parameters(models.count_parameters(torch.nn.Linear(512, 6)))
    assert not anatomy.check_new_head_parameters(None)
    assert not anatomy.check_new_head_parameters(512 * 6)  # the biases count too
    assert not anatomy.check_new_head_parameters(512 * 10 + 10)  # another task's head


@pytest.mark.parametrize(
    "size, prediction", [(48, None), (48, "smaller"), (96, "lower"), (16, "lower"), (64.0, "lower")]
)
def test_size_prediction_rejects_bad_input_before_any_work(size, prediction, monkeypatch):
    monkeypatch.setattr(
        anatomy.exercises, "compare_candidates", lambda *a, **kw: pytest.fail("ran")
    )
    assert not anatomy.check_size_prediction(size, prediction)


@pytest.mark.slow  # runs the lesson's comparison twice: tens of seconds
def test_size_prediction_is_judged_by_the_measurement(capsys):
    cache = features.FeatureCache()
    # the reference: at 48 px the ImageNet features lose detail; the probe's balanced accuracy
    # is lower than at 96 px by several spreads, paired over the 3 seeds
    assert anatomy.check_size_prediction(48, "lower", cache=cache)
    assert "measured at 48 px" in capsys.readouterr().out
    assert not anatomy.check_size_prediction(48, "higher", cache=cache)
    assert not anatomy.check_size_prediction(48, "no measurable difference", cache=cache)
