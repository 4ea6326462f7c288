"""Frozen-backbone features, computed once and cached; a linear probe trained on them.

A frozen backbone maps each image to the same feature vector every epoch, so a linear probe
needs the backbone only once: extract the features, then train the head on a small (N, D)
tensor. ``linear_probe_recompute`` runs the identical optimisation but recomputes the features
every epoch, which is what a fit loop over a frozen model does; the benchmark compares the two.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ftkit import models

Features = tuple[torch.Tensor, torch.Tensor]  # (N, D) float32, (N,) int64


class _StopForward(Exception):
    """Raised by a hook once the wanted layer has run: the rest of the network is not needed."""


def feature_module(backbone: nn.Module, layer: str) -> nn.Module:
    """The module whose output is the ``layer`` feature: a submodule name or a layer group.

    ``"avgpool"`` is the pooled vector the head sees. A layer-group name (``"stem"``,
    ``"layer1"`` .. ``"layer4"``, see ``models.layer_groups``) is that stage's output; the
    ResNet stem ends at ``maxpool`` (an Identity in the embedded backbone). A network without
    an ``avgpool`` module (SqueezeNet) gives its ``features`` trunk, pooled here to (N, C).
    """
    if layer == "avgpool" and not hasattr(backbone, "avgpool") and hasattr(backbone, "features"):
        return backbone.features
    if layer == "stem" and hasattr(backbone, "maxpool"):
        return backbone.maxpool
    try:
        groups = models.layer_groups(backbone)
    except TypeError:
        groups = {}
    if layer in groups:
        group = groups[layer]
        return group[-1] if isinstance(group, nn.ModuleList) else group
    try:
        return backbone.get_submodule(layer)
    except AttributeError:
        raise ValueError(
            f"unknown layer {layer!r}: use 'avgpool', a layer group ({', '.join(groups)}) "
            "or a submodule name"
        ) from None


@torch.no_grad()
def extract_features(
    backbone: nn.Module,
    loader: DataLoader,
    *,
    layer: str = "avgpool",
    device: torch.device | str | None = None,
) -> Features:
    """Features (N, D) and labels (N,) of every batch of ``loader``, in the loader's order.

    The backbone runs in eval mode without gradients (its previous mode is restored); the
    forward stops at ``layer``. Spatial maps (N, C, H, W) are global-average-pooled to (N, C).
    Features come back on the CPU as float32.
    """
    device = torch.device(device) if device is not None else _device_of(backbone)
    captured: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        captured.append(output)
        raise _StopForward

    handle = feature_module(backbone, layer).register_forward_hook(hook)
    was_training = backbone.training
    backbone.eval()
    feats, labels = [], []
    try:
        for images, targets in loader:
            captured.clear()
            try:
                backbone(images.to(device))
            except _StopForward:
                pass
            feats.append(_pool(captured[0]).float().cpu())
            labels.append(torch.as_tensor(targets).long())
    finally:
        handle.remove()
        backbone.train(was_training)
    return torch.cat(feats), torch.cat(labels)


def _pool(output: torch.Tensor) -> torch.Tensor:
    if output.ndim == 4:  # (B, C, H, W) -> (B, C)
        return output.mean(dim=(2, 3))
    return torch.flatten(output, 1)


def _device_of(module: nn.Module) -> torch.device:
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def in_order(loader: DataLoader) -> DataLoader:
    """The loader's dataset in index order (no shuffling), same batch size and workers."""
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size or 256,
        shuffle=False,
        num_workers=loader.num_workers,
    )


# --- the cache -----------------------------------------------------------------------------


def weights_checksum(backbone: nn.Module, *, skip_head: bool = True) -> str:
    """sha256 of the state_dict tensors (names, shapes, values; BN statistics included).

    The head is skipped by default: features before the head do not depend on it, so a
    backbone keeps its cache entries when its head is replaced.
    """
    skip = ""
    if skip_head:
        try:
            skip = models.head_of(backbone)[0] + "."
        except TypeError:
            pass
    digest = hashlib.sha256()
    for name, tensor in backbone.state_dict().items():
        if skip and name.startswith(skip):
            continue
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(
            tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()


def dataset_fingerprint(dataset: Dataset) -> str:
    """sha256 of a dataset's images, labels and transform.

    In-memory datasets (``images``/``labels`` tensors) hash their pixels; image folders hash
    their file paths and labels; any other dataset is hashed item by item.
    """
    digest = hashlib.sha256(repr(getattr(dataset, "transform", None)).encode())
    if isinstance(getattr(dataset, "images", None), torch.Tensor):
        for t in (dataset.images, torch.as_tensor(dataset.labels)):
            digest.update(t.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    elif hasattr(dataset, "samples"):
        digest.update(repr(list(dataset.samples)).encode())
    else:
        for i in range(len(dataset)):
            image, label = dataset[i]
            digest.update(torch.as_tensor(image).contiguous().numpy().tobytes())
            digest.update(str(int(label)).encode())
    return digest.hexdigest()


class FeatureCache:
    """Features computed once per (backbone weights, layer, dataset), in memory and optionally
    on disk as ``<directory>/<key>.pt``.

    The key changes when any backbone weight, the layer, the images, the labels or the
    transform changes, so a stale entry is never returned. Random augmentation defeats the
    point of a cache: cache the un-augmented (eval-transform) datasets.

    >>> cache = FeatureCache()
    >>> train_feats, train_labels = cache.features(backbone, train_loader)  # doctest: +SKIP
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._memory: dict[str, Features] = {}
        self.hits = 0
        self.misses = 0

    def key(self, backbone: nn.Module, dataset: Dataset, layer: str = "avgpool") -> str:
        """``<weights checksum>-<layer>-<dataset fingerprint>``, shortened."""
        return f"{weights_checksum(backbone)[:16]}-{layer}-{dataset_fingerprint(dataset)[:16]}"

    def features(
        self,
        backbone: nn.Module,
        loader: DataLoader,
        *,
        layer: str = "avgpool",
        device: torch.device | str | None = None,
    ) -> Features:
        """Features and labels of ``loader.dataset`` in index order, computed at most once."""
        key = self.key(backbone, loader.dataset, layer)
        if key in self._memory:
            self.hits += 1
            return self._memory[key]
        path = self.directory / f"{key}.pt" if self.directory is not None else None
        if path is not None and path.exists():
            blob = torch.load(path, map_location="cpu", weights_only=True)
            self.hits += 1
            result = (blob["features"], blob["labels"])
        else:
            self.misses += 1
            result = extract_features(backbone, in_order(loader), layer=layer, device=device)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"features": result[0], "labels": result[1]}, path)
        self._memory[key] = result
        return result

    def clear(self) -> None:
        """Forget the in-memory entries (files on disk stay)."""
        self._memory.clear()


# --- the linear probe ----------------------------------------------------------------------


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
) -> tuple[nn.Linear, dict[str, list[float]]]:
    """A linear head trained on fixed features; returns the head and a per-epoch history.

    Adam on cross-entropy, zero-initialised weights (the problem is convex, so the result
    depends only on the data, the minibatch order and the hyper-parameters), full batch by
    default, minibatch order drawn from ``seed``. Features are standardised with the training
    set's mean and std so that one ``lr`` suits any layer; the scaling is folded back into the
    returned ``nn.Linear``, which therefore takes raw features and can replace ``model.fc``.

    History keys: ``epoch, train_loss, train_acc`` and, with validation features,
    ``val_loss, val_acc`` (lists, one value per epoch).
    """
    train = (train_feats, train_labels.long())
    val = (
        (val_feats, val_labels.long()) if val_feats is not None and val_labels is not None else None
    )
    return _train_head(
        lambda epoch: train,
        (lambda epoch: val) if val else None,
        num_classes=num_classes,
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        seed=seed,
        standardize=standardize,
    )


def _train_head(
    train_fn: Callable[[int], Features],
    val_fn: Callable[[int], Features] | None,
    *,
    num_classes: int,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int | None,
    seed: int,
    standardize: bool,
) -> tuple[nn.Linear, dict[str, list[float]]]:
    """The one probe optimisation; ``train_fn(epoch)`` supplies that epoch's features and labels."""
    feats, train_labels = train_fn(0)
    n = len(train_labels)
    mean, std = (
        _stats(feats) if standardize else (torch.zeros(feats.shape[1]), torch.ones(feats.shape[1]))
    )
    head = nn.Linear(feats.shape[1], num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    optimizer = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    step = batch_size or n
    history: dict[str, list[float]] = {"epoch": [], "train_loss": [], "train_acc": []}
    for epoch in range(epochs):
        if epoch:
            feats, train_labels = train_fn(epoch)
        x = (feats - mean) / std  # (N, D)
        order = torch.randperm(n, generator=g)
        loss_sum, correct = 0.0, 0
        for start in range(0, n, step):
            idx = order[start : start + step]
            logits = head(x[idx])
            loss = F.cross_entropy(logits, train_labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == train_labels[idx]).sum())
        history["epoch"].append(epoch + 1)
        history["train_loss"].append(loss_sum / n)
        history["train_acc"].append(correct / n)
        if val_fn is not None:
            val_feats, val_labels = val_fn(epoch)
            val_loss, val_acc = _evaluate(head, (val_feats - mean) / std, val_labels)
            history.setdefault("val_loss", []).append(val_loss)
            history.setdefault("val_acc", []).append(val_acc)
    return _fold(head, mean, std), history


def _stats(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    std = feats.std(0, unbiased=False)
    return feats.mean(0), torch.where(std > 1e-6, std, torch.ones_like(std))  # dead units stay 0


@torch.no_grad()
def _evaluate(head: nn.Module, feats: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    logits = head(feats)
    return F.cross_entropy(logits, labels).item(), (
        logits.argmax(1) == labels
    ).float().mean().item()


@torch.no_grad()
def _fold(head: nn.Linear, mean: torch.Tensor, std: torch.Tensor) -> nn.Linear:
    """W((x - m) / s) + b == (W / s) x + (b - (W / s) m): a head on raw features."""
    raw = nn.Linear(head.in_features, head.out_features)
    raw.weight.copy_(head.weight / std)
    raw.bias.copy_(head.bias - raw.weight @ mean)
    return raw


@torch.no_grad()
def probe_accuracy(head: nn.Module, feats: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of ``head`` on features (N, D) with labels (N,)."""
    return (head(feats).argmax(1) == labels).float().mean().item()


def linear_probe(
    backbone: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    *,
    num_classes: int,
    layer: str = "avgpool",
    cache: FeatureCache | None = None,
    device: torch.device | str | None = None,
    **probe_kwargs,
) -> tuple[nn.Linear, dict[str, list[float]]]:
    """Extract (or fetch from ``cache``) features once, then ``train_linear_probe``."""
    cache = cache if cache is not None else FeatureCache()
    train = cache.features(backbone, train_loader, layer=layer, device=device)
    val = (
        cache.features(backbone, val_loader, layer=layer, device=device)
        if val_loader
        else (None, None)
    )
    return train_linear_probe(*train, *val, num_classes=num_classes, **probe_kwargs)


def linear_probe_recompute(
    backbone: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    *,
    num_classes: int,
    layer: str = "avgpool",
    epochs: int = 100,
    lr: float = 0.05,
    weight_decay: float = 1e-2,
    batch_size: int | None = None,
    seed: int = 0,
    standardize: bool = True,
    device: torch.device | str | None = None,
) -> tuple[nn.Linear, dict[str, list[float]]]:
    """``linear_probe`` without the cache: the backbone re-runs on every image every epoch.

    Same initialisation, minibatch order, optimiser and standardisation as
    ``train_linear_probe``; only the source of the features differs. It exists to measure what
    caching saves.
    """

    def run(loader: DataLoader) -> Callable[[int], Features]:
        return lambda epoch: extract_features(
            backbone, in_order(loader), layer=layer, device=device
        )

    return _train_head(
        run(train_loader),
        run(val_loader) if val_loader is not None else None,
        num_classes=num_classes,
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        seed=seed,
        standardize=standardize,
    )
