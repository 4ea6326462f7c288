"""probes: the linear probe equals a hand-written reference, and reports a History like fit."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ftkit import features, plots, probes
from ftkit.history import History


def data(seed: int = 0, n: int = 60):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(3).repeat(n // 3)
    feats = torch.randn(n, 5, generator=g) * 4 + 50
    feats[torch.arange(n), labels] += 6
    return feats, labels


def reference_probe(feats, labels, *, epochs, lr, weight_decay, batch_size, seed):
    """The probe written out by hand: standardise, zero init, Adam, minibatches from ``seed``."""
    mean, std = feats.mean(0), feats.std(0, unbiased=False)
    x = (feats - mean) / std
    head = nn.Linear(5, 3)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=g)
        for start in range(0, len(labels), batch_size):
            idx = order[start : start + batch_size]
            loss = F.cross_entropy(head(x[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return head, mean, std


def test_the_probe_is_the_hand_written_loop_and_its_fold_is_exact():
    feats, labels = data()
    head, _ = probes.train_linear_probe(
        feats, labels, num_classes=3, epochs=7, lr=0.05, weight_decay=1e-2, batch_size=16, seed=3
    )
    ref, mean, std = reference_probe(
        feats, labels, epochs=7, lr=0.05, weight_decay=1e-2, batch_size=16, seed=3
    )
    with torch.no_grad():
        assert torch.allclose(head(feats), ref((feats - mean) / std), atol=1e-4)


def test_the_probe_returns_a_history_like_fit():
    feats, labels = data()
    val_feats, val_labels = data(seed=1, n=30)
    head, history = probes.train_linear_probe(
        feats, labels, val_feats, val_labels, num_classes=3, epochs=12
    )
    assert isinstance(history, History) and len(history) == 12
    assert history.epoch == list(range(1, 13)) and history.stage == [0] * 12
    assert history.lr == [{"head": 0.05}] * 12
    assert history.val_acc[-1] == pytest.approx(probes.probe_accuracy(head, val_feats, val_labels))
    assert history.val_acc[history.best_epoch - 1] == history.best("val_acc")
    assert history.train_loss[-1] < history.train_loss[0]
    with torch.no_grad():
        expected = F.cross_entropy(head(val_feats), val_labels).item()
    assert history.val_loss[-1] == pytest.approx(expected, rel=1e-4)  # the folded head is the same
    assert plots.learning_curves(history).axes  # plots take it as they take fit's


def test_without_validation_the_val_columns_are_nan_as_in_fit():
    feats, labels = data()
    _, history = probes.train_linear_probe(feats, labels, num_classes=3, epochs=3)
    assert all(math.isnan(v) for v in history.val_acc + history.val_loss)
    assert history.best_epoch is None


def test_lessons_still_find_the_probe_under_features():
    assert features.train_linear_probe is probes.train_linear_probe
    assert features.probe_accuracy is probes.probe_accuracy
