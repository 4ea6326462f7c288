"""Lesson 06 exercises: each reference solution passes its check, a wrong answer fails."""

import torch

from ftkit import exercises as ex
from ftkit import models, regularization


def test_exercise1_label_smoothing_target():
    assert ex.check_close(1 - 0.1 + 0.1 / 10, 0.91, rel=0.001)
    assert not ex.check_close(0.9, 0.91, rel=0.001)
    assert not ex.check_close(None, 0.91, rel=0.001)


def test_exercise2_l2sp_by_hand():
    torch.manual_seed(0)
    model = models.replace_head(models.SmallResNet(86, widths=(4, 8, 8, 8)), 10, seed=1)
    l2sp = regularization.L2SP(model, alpha=0.5)
    start = {
        name: p.detach().clone()
        for name, p in model.named_parameters()
        if not name.startswith("fc.")
    }
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.01)
    expected = l2sp(model).item()
    solution = (
        0.5
        / 2
        * sum(
            (p - start[name]).pow(2).sum() for name, p in model.named_parameters() if name in start
        )
    )
    assert ex.check_close(float(torch.as_tensor(solution).detach()), expected, rel=1e-4)
    no_half = 0.5 * sum(
        (p - start[name]).pow(2).sum() for name, p in model.named_parameters() if name in start
    )
    with_head = (
        0.5 / 2 * sum((p - start.get(name, 0)).pow(2).sum() for name, p in model.named_parameters())
    )
    assert not ex.check_close(float(no_half.detach()), expected, rel=1e-4)
    assert not ex.check_close(float(with_head.detach()), expected, rel=1e-4)
    assert not ex.check_close(float("nan"), expected, rel=1e-4)  # the notebook's placeholder


def test_exercise3_protects_the_source_task():
    options = ["dropout", "weight decay", "L2-SP", "label smoothing"]
    assert ex.check_choice("L2-SP", "L2-SP", options)
    assert ex.check_choice("l2-sp ", "L2-SP", options)
    assert not ex.check_choice("weight decay", "L2-SP", options)
    assert not ex.check_choice(None, "L2-SP", options)
