import math

import numpy as np
import pytest
import torch
from torch import nn
from train_fixtures import image_loaders, same_state, state, tiny_resnet

from ftkit import freezing
from ftkit.lr_finder import LRFinderResult, lr_range_test, smooth, suggest


def test_restores_weights_and_batch_norm_buffers():
    model = tiny_resnet()
    model.eval()
    before = state(model)
    train_loader, _ = image_loaders()
    result = lr_range_test(model, train_loader, num_steps=20, end_lr=10.0)
    assert same_state(before, state(model))
    assert before.keys() == state(model).keys() and len(result.lrs) > 5
    assert not model.training  # modes restored too


def test_restores_a_passed_optimizer_state():
    model = tiny_resnet()
    opt = torch.optim.SGD(
        [
            {"params": model.fc.parameters(), "lr": 0.1},
            {"params": model.layer4.parameters(), "lr": 0.01},
        ],
        momentum=0.9,
    )
    train_loader, _ = image_loaders()
    x, y = next(iter(train_loader))
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()  # momentum buffers now exist
    opt_before, model_before = opt.state_dict(), state(model)
    opt_before = {
        "param_groups": [dict(g) for g in opt_before["param_groups"]],
        "state": {k: {n: t.clone() for n, t in v.items()} for k, v in opt_before["state"].items()},
    }
    result = lr_range_test(model, train_loader, optimizer=opt, num_steps=15, end_lr=1.0)
    after = opt.state_dict()
    assert after["param_groups"] == opt_before["param_groups"]
    assert after["state"].keys() == opt_before["state"].keys()
    for k, v in opt_before["state"].items():
        assert torch.equal(v["momentum_buffer"], after["state"][k]["momentum_buffer"])
    assert same_state(model_before, state(model))
    assert result.lrs[-1] == pytest.approx(1.0)  # the largest group's LR is the one recorded


def test_sweep_is_exponential_and_stops_on_divergence():
    model = tiny_resnet()
    train_loader, _ = image_loaders()
    result = lr_range_test(model, train_loader, start_lr=1e-4, end_lr=1e4, num_steps=40)
    ratios = np.diff(np.log10(result.lrs))
    assert result.lrs[0] == pytest.approx(1e-4)
    assert np.allclose(ratios, 8 / 39)
    assert len(result.lrs) < 40  # the loss blew up before 1e4
    last = result.losses[-1]
    assert not math.isfinite(last) or last > 4 * min(result.losses[:-1])
    assert result.losses == pytest.approx(smooth(result.raw_losses, 0.05), nan_ok=True)
    assert set(result.suggestions) >= {"steepest", "valley"}
    assert 1e-4 <= result.suggested_lr <= result.lrs[-1]


def test_only_trainable_parameters_are_swept():
    model = tiny_resnet()
    freezing.freeze_to(model, -1)
    train_loader, _ = image_loaders()
    result = lr_range_test(model, train_loader, num_steps=10)
    assert len(result.raw_losses) == 10


def test_smooth_is_a_debiased_moving_average():
    assert smooth([2.0, 2.0, 2.0], 0.1) == pytest.approx([2.0, 2.0, 2.0])
    # step 2: the average 0.5 * 0.5 + 0.5 * 3 carries weight 1 - 0.5**2
    assert smooth([1.0, 3.0], 0.5) == pytest.approx([1.0, (0.5 * 0.5 + 0.5 * 3) / 0.75])


def test_suggestions_on_a_known_curve():
    lrs = np.logspace(-6, 0, 61).tolist()  # 10 points per decade
    x = np.log10(lrs)
    # flat at 2, falls fastest at 1e-3, bottoms out near 1e-2, then explodes
    losses = (2 - 1.5 / (1 + np.exp(-4 * (x + 3))) + np.exp(4 * (x + 1.5)) * 0.05).tolist()
    result = LRFinderResult(lrs, losses, losses, suggest(lrs, losses))
    assert result.suggestions["steepest"] == pytest.approx(1e-3, rel=0.3)
    lowest = lrs[int(np.argmin(losses))]
    assert result.suggestions["minimum"] == pytest.approx(lowest / 10)
    assert 1e-5 < result.suggested_lr < lowest  # on the way down the valley, before the minimum
    assert result.suggested_lr == result.suggestions["valley"]


def test_suggest_needs_a_curve():
    with pytest.raises(ValueError, match="too few"):
        suggest([1e-3, 1e-2], [1.0, float("nan")])


def test_an_empty_loader_is_a_clear_error_not_an_endless_loop():
    x, y = torch.zeros(3, 3, 8, 8), torch.zeros(3, dtype=torch.long)
    empty = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=8, drop_last=True
    )
    with pytest.raises(ValueError, match="yielded no batch.*drop_last=False"):
        lr_range_test(tiny_resnet(), empty, num_steps=5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"start_lr": float("nan")}, "start_lr"),
        ({"start_lr": 1.0, "end_lr": 0.1}, "start_lr < end_lr"),
        ({"num_steps": 2.5}, "num_steps"),
        ({"smoothing": 0.0}, "smoothing"),
    ],
)
def test_bad_ranges_name_the_argument(kwargs, match):
    train_loader, _ = image_loaders()
    with pytest.raises(ValueError, match=match):
        lr_range_test(tiny_resnet(), train_loader, **kwargs)


def test_reading_losses_in_chunks_gives_the_per_step_result(monkeypatch):
    """Losses are read from the device every SYNC_EVERY steps; the sweep must not change."""
    from ftkit import lr_finder

    def run(every):
        monkeypatch.setattr(lr_finder, "SYNC_EVERY", every)
        train_loader, _ = image_loaders()
        return lr_range_test(tiny_resnet(), train_loader, start_lr=1e-4, end_lr=1e4, num_steps=40)

    chunked, per_step = run(10), run(1)
    assert len(per_step.raw_losses) < 40  # it stopped early, mid-chunk or not
    assert chunked.lrs == per_step.lrs
    assert chunked.raw_losses == pytest.approx(per_step.raw_losses, nan_ok=True)


def test_lr_finder_does_not_import_training():
    import ast
    from pathlib import Path

    import ftkit.lr_finder

    tree = ast.parse(Path(ftkit.lr_finder.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "ftkit.training" not in imported and "ftkit.devices" in imported
