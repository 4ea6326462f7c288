"""Linear probes: a linear head trained on fixed features, reported as a ``History`` like ``fit``.

A frozen backbone maps each image to the same feature vector every epoch, so the head can be
trained on a small (N, D) tensor of features (``ftkit.features`` extracts and caches them).
The optimisation is convex: Adam on cross-entropy from zero-initialised weights, so the result
depends only on the data, the minibatch order and the hyper-parameters.

>>> feats, labels = torch.eye(4).repeat(5, 1), torch.arange(4).repeat(5)  # (20, 4), (20,)
>>> head, history = train_linear_probe(feats, labels, num_classes=4, epochs=30)
>>> probe_accuracy(head, feats, labels), len(history)
(1.0, 30)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ftkit import preflight
from ftkit.history import History
from ftkit.stopping import EarlyStopping

Features = tuple[torch.Tensor, torch.Tensor]  # (N, D) float32, (N,) int64
FeatureSource = Callable[[int], Features]  # epoch -> that epoch's features and labels


def train_linear_probe(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    val_feats: torch.Tensor | None = None,
    val_labels: torch.Tensor | None = None,
    *,
    num_classes: int,
    epochs: int = 100,
    lr: float = 0.05,
    weight_decay: float = 1e-2,
    batch_size: int | None = None,
    seed: int = 0,
    standardize: bool = True,
    device: torch.device | str | None = None,
) -> tuple[nn.Linear, History]:
    """A linear head trained on fixed features; returns the head and its per-epoch ``History``.

    Full batch by default; the minibatch order is drawn from ``seed`` (a private generator).
    Features are standardised with the training set's mean and std
    so that one ``lr`` suits any layer; the scaling is folded back into the returned
    ``nn.Linear``, which takes raw features and can replace ``model.fc``. It runs on
    ``device`` (default: where the features are). Without validation features the History's
    ``val_loss``/``val_acc`` are NaN, as in ``fit``.
    """
    preflight.probe_features(**locals())  # shapes, label range and numbers, before training
    train = (train_feats, train_labels.long())
    val = None if val_feats is None or val_labels is None else (val_feats, val_labels.long())
    return train_head(
        lambda epoch: train,
        (lambda epoch: val) if val is not None else None,
        num_classes=num_classes,
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        seed=seed,
        standardize=standardize,
        device=device,
    )


def train_head(
    train_source: FeatureSource,
    val_source: FeatureSource | None,
    *,
    num_classes: int,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int | None,
    seed: int,
    standardize: bool,
    device: torch.device | str | None = None,
) -> tuple[nn.Linear, History]:
    """The one probe optimisation; ``train_source(epoch)`` supplies that epoch's features (so
    a caller can recompute them each epoch, as ``features.linear_probe_recompute`` does)."""
    feats, labels = train_source(0)
    device = torch.device(device) if device is not None else feats.device
    scale = _Standardizer(feats.to(device), standardize)
    head = nn.Linear(feats.shape[1], num_classes).to(device)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    optimizer = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    order = torch.Generator().manual_seed(seed)  # the minibatch order, on the CPU
    history, best = History(), EarlyStopping(head)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        if epoch > 1:
            feats, labels = train_source(epoch - 1)
        x, y = scale(feats.to(device)), labels.to(device)  # (N, D), (N,)
        perm = torch.randperm(len(y), generator=order).to(device)
        sums = _train_epoch(head, optimizer, x, y, perm, batch_size or len(y))
        val = val_source(epoch - 1) if val_source is not None else None
        row = _read(sums, len(y), head, scale, val, device)  # the epoch's one host sync
        history.append(epoch=epoch, **row, lr={"head": lr}, seconds=time.perf_counter() - start)
        if val is not None:
            best.update(epoch, row["val_acc"])
    history.best_epoch = best.best_epoch
    return scale.fold(head), history


class _Standardizer:
    """``(x - mean) / std`` with the training features' statistics (dead units keep std 1)."""

    def __init__(self, feats: torch.Tensor, enabled: bool) -> None:
        width = feats.shape[1]
        if enabled:
            std = feats.std(0, unbiased=False)
            self.mean = feats.mean(0)
            self.std = torch.where(std > 1e-6, std, torch.ones_like(std))
        else:
            self.mean = torch.zeros(width, device=feats.device)
            self.std = torch.ones(width, device=feats.device)

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.mean) / self.std

    @torch.no_grad()
    def fold(self, head: nn.Linear) -> nn.Linear:
        """W((x - m) / s) + b == (W / s) x + (b - (W / s) m): the same head on raw features."""
        raw = nn.Linear(head.in_features, head.out_features).to(head.weight.device)
        raw.weight.copy_(head.weight / self.std)
        raw.bias.copy_(head.bias - raw.weight @ self.mean)
        return raw


def _train_epoch(head, optimizer, x, y, perm, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch Adam steps in ``perm`` order; loss and correct sums stay on the device."""
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    for start in range(0, len(y), step):
        idx = perm[start : start + step]
        logits = head(x[idx])
        loss = F.cross_entropy(logits, y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.argmax(1) == y[idx]).sum()
    return loss_sum, correct


@torch.no_grad()
def _read(sums, n: int, head, scale, val: Features | None, device) -> dict[str, float]:
    """The epoch's metrics, copied to the host in one go."""
    values = [sums[0], sums[1].float()]
    if val is not None:
        logits = head(scale(val[0].to(device)))
        labels = val[1].to(device)
        values += [F.cross_entropy(logits, labels), (logits.argmax(1) == labels).float().mean()]
    read = torch.stack(values).tolist()
    val_loss, val_acc = read[2:] if val is not None else (float("nan"), float("nan"))
    return {
        "train_loss": read[0] / n,
        "train_acc": read[1] / n,
        "val_loss": val_loss,
        "val_acc": val_acc,
    }


@torch.no_grad()
def probe_accuracy(head: nn.Module, feats: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of ``head`` on features (N, D) with labels (N,), on the head's device."""
    device = next(head.parameters()).device
    return (head(feats.to(device)).argmax(1) == labels.to(device)).float().mean().item()
