import math

import pytest
import torch
from torch import nn
from train_fixtures import blobs, loader, mlp, mlp_groups, tiny_resnet

from ftkit import freezing, training
from ftkit.regularization import L2SP, no_decay_split


def test_l2sp_is_zero_at_start():
    model = tiny_resnet()
    assert L2SP(model, alpha=0.5)(model).item() == 0.0


def test_l2sp_matches_hand_computed_value_and_excludes_head():
    model = tiny_resnet()
    reg = L2SP(model, alpha=0.3, beta=0.2)
    head_sq = sum(p.pow(2).sum().item() for p in model.fc.parameters())
    with torch.no_grad():
        model.layer2[0].conv1.weight.add_(0.1)  # 8*4*3*3 = 288 entries moved by 0.1
        model.bn1.bias.sub_(2.0)  # 4 entries moved by 2
    expected = 0.3 / 2 * (288 * 0.01 + 4 * 4.0) + 0.2 / 2 * head_sq
    assert reg(model).item() == pytest.approx(expected, rel=1e-5)
    with torch.no_grad():
        model.fc.weight.add_(1.0)  # only the beta term sees the head
    head_sq = sum(p.pow(2).sum().item() for p in model.fc.parameters())
    assert reg(model).item() == pytest.approx(0.15 * 18.88 + 0.1 * head_sq, rel=1e-5)


def test_l2sp_gradient_pulls_toward_start_and_skips_frozen():
    model = tiny_resnet()
    reg = L2SP(model, alpha=2.0)
    with torch.no_grad():
        model.layer1[0].conv2.weight.add_(0.5)
        model.layer4[0].conv1.weight.add_(0.5)
    freezing.freeze(model, "layer4")
    reg(model).backward()
    assert torch.allclose(
        model.layer1[0].conv2.weight.grad, torch.full_like(model.layer1[0].conv2.weight, 1.0)
    )
    assert model.layer4[0].conv1.weight.grad is None
    assert reg(model).item() == pytest.approx(model.layer1[0].conv2.weight.numel() * 0.25)


def test_l2sp_in_fit_keeps_backbone_closer_to_start():
    x, y = blobs()
    distances = []
    for alpha in (0.0, 1.0):
        model = mlp()
        start = model[0].weight.detach().clone()
        training.fit(
            model,
            loader(x, y),
            epochs=3,
            lr=0.2,
            l2sp=alpha,
            groups=None if alpha == 0 else mlp_groups(model),
        )
        distances.append((model[0].weight - start).norm().item())
    assert distances[1] < 0.7 * distances[0]


def test_fit_label_smoothing_reaches_the_loss():
    x, y = blobs()
    model = mlp()
    train_loader = loader(x, y)
    expected, _ = training.evaluate(model, train_loader, label_smoothing=0.3)
    plain, _ = training.evaluate(model, train_loader)
    history = training.fit(model, train_loader, epochs=1, lr=0.0, label_smoothing=0.3)
    assert history.train_loss[0] == pytest.approx(expected, rel=1e-5)
    assert not math.isclose(expected, plain, rel_tol=1e-3)


def test_no_decay_split_puts_norm_and_bias_apart():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LayerNorm(4), nn.Linear(4, 2)
    )
    decay, no_decay = no_decay_split(model)
    assert {id(p) for p in decay} == {id(model[0].weight), id(model[4].weight)}
    assert {id(p) for p in no_decay} == {
        id(model[0].bias),
        id(model[1].weight),
        id(model[1].bias),
        id(model[3].weight),
        id(model[3].bias),
        id(model[4].bias),
    }
    model[0].weight.requires_grad_(False)
    assert len(no_decay_split(model)[0]) == 1
    assert len(no_decay_split(model, trainable_only=False)[0]) == 2
