"""exercises: each reference solution passes, each wrong answer fails, nothing raises."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from ftkit import exercises as ex
from ftkit import models


@pytest.fixture
def model():
    torch.manual_seed(0)
    return models.SmallResNet(86, widths=(4, 8, 8, 8))


def test_check_values_tensors_and_feedback(capsys):
    assert ex.check("classes", 10, 10)
    assert capsys.readouterr().out.strip() == "✅ classes: correct"
    assert not ex.check("classes", 9, 10, hint="count the digits")
    out = capsys.readouterr().out
    assert out.startswith("❌ classes: got 9.") and "Hint: count the digits" in out
    assert "10" not in out  # the answer is not revealed by default
    assert not ex.check("classes", 9, 10, reveal=True)
    assert "expected 10" in capsys.readouterr().out
    assert ex.check("shape", torch.tensor([1.0, 2.0]), np.array([1.0, 2.0001]), tol=1e-3)
    assert not ex.check("shape", torch.ones(2), torch.ones(3))
    assert ex.check("pi", 3.1416, 3.14159, tol=1e-3)


def test_check_never_raises_on_malformed_answers(capsys):
    assert not ex.check("lr", "fast", 0.1, tol=0.01)
    assert "could not compare" in capsys.readouterr().out
    assert not ex.check_close(None, 0.1)
    assert not ex.check_close("a lot", 0.1)


def test_check_close_and_choice():
    assert ex.check_close(0.102, 0.1, rel=0.05)
    assert not ex.check_close(0.2, 0.1, rel=0.05)
    options = ["freeze everything", "train everything", "linear probe first"]
    assert ex.check_choice(" Linear probe first", "linear probe first", options)
    assert not ex.check_choice("train everything", "linear probe first", options)
    assert not ex.check_choice("pray", "linear probe first", options)


def test_check_frozen(model, capsys):
    for p in model.parameters():  # reference solution: freeze all but layer4 and the head
        p.requires_grad = False
    for p in [*model.layer4.parameters(), *model.fc.parameters()]:
        p.requires_grad = True
    assert ex.check_frozen(model, ["layer4", "head"])
    assert not ex.check_frozen(model, ["head"])
    assert "layer4 is trainable" in capsys.readouterr().out.splitlines()[-1]
    model.layer3[0].conv1.weight.requires_grad = True  # a half-frozen group is wrong too
    assert not ex.check_frozen(model, ["layer4", "head"])
    assert "layer3 is partial" in capsys.readouterr().out
    assert not ex.check_frozen(model, ["layer4", "head", "layer9"])


def test_check_head(model, capsys):
    assert not ex.check_head(model, 10)
    assert "86 outputs" in capsys.readouterr().out
    models.replace_head(model, 10, dropout=0.2)
    assert ex.check_head(model, 10)
    model.fc.requires_grad_(False)
    assert not ex.check_head(model, 10)


def test_check_param_groups(model, capsys):
    model.conv1.requires_grad_(False)
    backbone = [
        p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("fc.")
    ]
    good = torch.optim.SGD(
        [{"params": backbone, "lr": 1e-3}, {"params": model.fc.parameters(), "lr": 1e-2}], lr=0.1
    )
    assert ex.check_param_groups(good, model)
    missing = torch.optim.SGD(model.fc.parameters(), lr=0.1)
    assert not ex.check_param_groups(missing, model)
    assert "in no group" in capsys.readouterr().out
    # torch refuses a parameter in two groups, but a hand-built list can repeat one
    twice = SimpleNamespace(
        param_groups=[{"params": backbone}, {"params": [*model.fc.parameters(), backbone[0]]}]
    )
    assert not ex.check_param_groups(twice, model)
    foreign = torch.optim.SGD(
        [*backbone, *model.fc.parameters(), nn.Parameter(torch.ones(1))], lr=0.1
    )
    assert not ex.check_param_groups(foreign, model)
    assert "not the model's" in capsys.readouterr().out.splitlines()[-1]


def test_check_prediction_runs_the_experiment_only_for_a_valid_prediction(capsys):
    from ftkit.protocol import paired_difference

    calls = []

    def measure():
        calls.append(1)
        return paired_difference([0.9, 0.92, 0.91], [0.8, 0.83, 0.8], names=("new", "old"))

    assert not ex.check_prediction(None, measure)
    assert not calls and "predict first" in capsys.readouterr().out
    assert ex.check_prediction(" Higher ", measure)
    assert "new - old: +10.0 ± 1.0 points" in capsys.readouterr().out
    assert not ex.check_prediction("no measurable difference", measure)
    assert not ex.check_prediction("lower", lambda: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    noisy = paired_difference([0.9, 0.8, 0.91], [0.8, 0.93, 0.8])
    assert ex.measured_outcome(noisy) == "no measurable difference"
    assert ex.check_prediction("no measurable difference", lambda: noisy)
