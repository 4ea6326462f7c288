"""Lesson 03's exercises: the notebook calls these checkers (``ftkit.studies.freeze_depth``);
each reference solution passes, and wrong answers fail."""

import pytest

from ftkit import freezing, models
from ftkit.studies import freeze_depth


@pytest.fixture
def ex_model():
    model, _ = models.load_backbone("embedded")
    return models.replace_head(model, 10, seed=0)


def _freeze(modules):
    for module in modules:
        for p in module.parameters():
            p.requires_grad = False


def test_exercise1_freeze_by_hand(ex_model, capsys):
    assert not freeze_depth.check_freeze_by_hand(ex_model)  # the placeholder: nothing frozen
    _freeze((ex_model.conv1, ex_model.bn1, ex_model.layer1, ex_model.layer2))
    assert freeze_depth.check_freeze_by_hand(ex_model)
    assert "✅" in capsys.readouterr().out


def test_exercise1_wrong_freezes_fail(ex_model):
    _freeze((ex_model.conv1, ex_model.layer1, ex_model.layer2))  # bn1 forgotten: stem partial
    assert not freeze_depth.check_freeze_by_hand(ex_model)
    _freeze((ex_model.bn1, ex_model.layer3))  # one group too many
    assert not freeze_depth.check_freeze_by_hand(ex_model)


def test_exercise2_trainable_after_freeze_to_3(ex_model):
    freezing.freeze_to(ex_model, 3)  # the reference is the real count
    real = models.count_parameters(ex_model, trainable_only=True)
    assert freeze_depth.check_trainable_after_freeze_to_3(real)
    assert freeze_depth.check_trainable_after_freeze_to_3(57_728 + 230_144 + 1_290)
    for wrong in (None, 1290, 308_826, real - 1):
        assert not freeze_depth.check_trainable_after_freeze_to_3(wrong)


def test_exercise3_bn_policy():
    assert freeze_depth.check_bn_policy("train") and freeze_depth.check_bn_policy(" Train ")
    for wrong in ("frozen_eval", None, "eval"):
        assert not freeze_depth.check_bn_policy(wrong)


def _fake_run(*, seed, n, lr, target, bn_policy="frozen_eval"):
    noise = {0: 0.004, 1: -0.006, 2: 0.002}[seed]  # larger than any gap: nothing measurable
    return {"test": 0.93 + (noise if bn_policy == "train" else 0.0)}


def test_exercise4_prediction_is_judged_by_the_measurement():
    kwargs = {
        "base": {"n": 5, "lr": 0.03, "target": "digits"},
        "change": {"bn_policy": "train"},
        "seeds": (0, 1, 2),
    }
    assert freeze_depth.check_change_prediction("no measurable difference", _fake_run, **kwargs)
    for wrong in ("higher", "lower", None):
        assert not freeze_depth.check_change_prediction(wrong, _fake_run, **kwargs)


@pytest.mark.slow
def test_exercise4_reference_prediction_on_the_real_experiment():
    # Measured: on the digits, bn_policy="train" vs "frozen_eval" with the backbone frozen
    # (n=5, LR 0.03, seeds 0-2): -0.1 ± 1.2 points, no measurable difference.
    from ftkit import data, evaluation, protocol, training

    memo = {}

    def run(*, seed, n, lr, target, bn_policy="frozen_eval"):
        key = (seed, bn_policy)
        if key not in memo:
            splits = data.load_target(target, k=10, seed=seed)
            model, info = models.load_backbone("embedded")
            models.replace_head(model, 10, seed=seed)
            freezing.freeze_to(model, n)
            train_loader, _, test_loader = data.make_loaders(splits, info, batch_size=8, seed=seed)
            epochs = protocol.epochs_for_steps(60, len(splits.train), 8)
            training.fit(
                model,
                train_loader,
                None,
                lr=lr,
                schedule="cosine",
                epochs=epochs,
                seed=seed,
                bn_policy=bn_policy,
            )
            memo[key] = {"test": evaluation.accuracy(model, test_loader)}
        return memo[key]

    kwargs = {
        "base": {"n": 5, "lr": 0.03, "target": "digits"},
        "change": {"bn_policy": "train"},
        "seeds": (0, 1, 2),
    }
    assert freeze_depth.check_change_prediction("no measurable difference", run, **kwargs)
    assert not freeze_depth.check_change_prediction("higher", run, **kwargs)
    assert not freeze_depth.check_change_prediction("lower", run, **kwargs)
