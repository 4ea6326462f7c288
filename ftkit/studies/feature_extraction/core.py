"""Lesson 02: feature extraction (a frozen backbone and a new head) measured against training
from scratch on digits, and against random-init features and raw pixels on real photographs.

Every comparison goes through ``ftkit.protocol``: each method tuned on the validation split over
a grid of the same size, budgets in optimizer steps, paired seeds. Scores are balanced accuracy
(the mean per-class recall), which is plain accuracy on a balanced test set such as the digits'
and stays fair on an imbalanced one such as Tux Paint's photos.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from matplotlib.figure import Figure
from sklearn.metrics import balanced_accuracy_score
from torch import nn
from torch.utils.data import DataLoader

from ftkit import data, features, models, plots, protocol, training
from ftkit.data import Splits
from ftkit.models import BackboneInfo

Features = tuple[torch.Tensor, torch.Tensor]
SEEDS = (0, 1, 2)
#: The probes' grid on the photos: the same for every feature extractor (the same search budget).
#: Centred where validation chooses (1e-1 was never chosen; 1e-3 is, for the pretrained features).
PHOTO_GRID: tuple[dict[str, float], ...] = (
    {"weight_decay": 1e-4},
    {"weight_decay": 1e-3},
    {"weight_decay": 1e-2},
)


def balanced_accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean per-class recall: chance is 1 / classes whatever the class sizes.

    >>> balanced_accuracy(torch.tensor([0, 0, 0, 0]), torch.tensor([0, 0, 0, 1]))  # accuracy .75
    0.5
    """
    return float(balanced_accuracy_score(labels.numpy(), predictions.numpy()))


@torch.no_grad()
def _scores(head: nn.Module, val: Features, test: Features) -> dict[str, float]:
    return {
        "val": balanced_accuracy(head(val[0]).argmax(1), val[1]),
        "test": balanced_accuracy(head(test[0]).argmax(1), test[1]),
    }


def _loader(dataset: data.TensorImageDataset, info: BackboneInfo) -> DataLoader:
    return DataLoader(dataset.with_transform(data.eval_transforms(info)), batch_size=256)


# --- the probe, with its predictions (the explorer shows the mistakes) ----------------------


@dataclass(frozen=True)
class ProbeResult:
    """A probe's test accuracy, its predictions and the test images (uint8) it was scored on."""

    accuracy: float
    predictions: torch.Tensor  # (N,)
    labels: torch.Tensor  # (N,)
    images: torch.Tensor  # (N, 3, S, S) uint8
    classes: list[str]

    @property
    def wrong(self) -> torch.Tensor:
        """Indices of the misclassified test images."""
        return torch.nonzero(self.predictions != self.labels).flatten()


def probe(
    backbone: nn.Module,
    splits: Splits,
    info: BackboneInfo,
    *,
    seed: int = 0,
    cache: features.FeatureCache | None = None,
    **probe_kwargs: Any,
) -> ProbeResult:
    """Train a linear probe on the pooled features of ``splits.train``; score it on the test
    split (features from ``cache``: a fixed test set is extracted once for all seeds and k)."""
    cache = cache if cache is not None else features.FeatureCache()
    train_feats, train_labels = cache.features(backbone, _loader(splits.train, info))
    test_feats, test_labels = cache.features(backbone, _loader(splits.test, info))
    head, _ = features.train_linear_probe(
        train_feats, train_labels, num_classes=len(splits.classes), seed=seed, **probe_kwargs
    )
    with torch.no_grad():
        predictions = head(test_feats).argmax(1)
    accuracy = (predictions == test_labels).float().mean().item()
    return ProbeResult(accuracy, predictions, test_labels, splits.test.images, list(splits.classes))


def misclassified_figure(result: ProbeResult, *, n: int = 8) -> Figure:
    """Up to ``n`` misclassified test images, titled ``true -> predicted``."""
    wrong = result.wrong[:n]
    if len(wrong) == 0:
        fig = Figure(figsize=(4, 1), layout="constrained")
        fig.text(0.5, 0.5, "no test image misclassified", ha="center", va="center")
        return fig
    titles = [
        f"{result.classes[int(result.labels[i])]} -> {result.classes[int(result.predictions[i])]}"
        for i in wrong
    ]
    return plots.image_grid(result.images[wrong], titles, ncols=8)


# --- probe vs scratch, fairly ---------------------------------------------------------------


def probe_scores(
    seed: int,
    *,
    k: int,
    steps: int,
    weight_decay: float,
    target: str = "digits",
    cache: features.FeatureCache | None = None,
) -> dict[str, float]:
    """A linear probe on the frozen pretrained embedded backbone, ``steps`` full-batch steps."""
    backbone, info = models.load_backbone("embedded")
    splits = data.load_target(target, k=k, seed=seed)
    cache = cache if cache is not None else features.FeatureCache()
    train, val, test = (
        cache.features(backbone, _loader(p, info)) for p in (splits.train, splits.val, splits.test)
    )
    head, _ = features.train_linear_probe(
        *train, num_classes=len(splits.classes), epochs=steps, weight_decay=weight_decay, seed=seed
    )
    return _scores(head, val, test)


def scratch_scores(
    seed: int,
    *,
    k: int,
    steps: int,
    lr: float,
    batch_size: int = 32,
    target: str = "digits",
) -> dict[str, float]:
    """The same architecture from random init, every layer trained for ``steps`` optimizer
    steps (SGD with Nesterov momentum, cosine schedule) at ``lr``."""
    splits = data.load_target(target, k=k, seed=seed)
    torch.manual_seed(seed)
    model, info = models.load_backbone("embedded", pretrained=False)
    models.replace_head(model, len(splits.classes), seed=seed)
    train_loader, val_loader, test_loader = data.make_loaders(
        splits, info, batch_size=batch_size, seed=seed
    )
    epochs = protocol.epochs_for_steps(steps, len(splits.train), batch_size)
    training.fit(model, train_loader, epochs=epochs, lr=lr, schedule="cosine", seed=seed)
    scores = {}
    for name, loader in (("val", val_loader), ("test", test_loader)):
        logits, labels = _logits(model, loader)
        scores[name] = balanced_accuracy(logits.argmax(1), labels)
    return scores


@torch.no_grad()
def _logits(model: nn.Module, loader: DataLoader) -> Features:
    device = next(model.parameters()).device
    model.eval()
    out = [(model(x.to(device)).cpu(), y) for x, y in loader]
    return torch.cat([o for o, _ in out]), torch.cat([y for _, y in out])


def compare_probe_scratch(
    k: int,
    *,
    steps: int,
    probe_grid: Sequence[Mapping[str, Any]],
    scratch_grid: Sequence[Mapping[str, Any]],
    seeds: Sequence[int] = SEEDS,
    cache: features.FeatureCache | None = None,
) -> protocol.Comparison:
    """Linear probe vs scratch at ``k`` labels per class: equal steps, grids of equal size."""
    cache = cache if cache is not None else features.FeatureCache()
    return protocol.compare(
        {
            "linear probe": (partial(probe_scores, k=k, steps=steps, cache=cache), probe_grid),
            "scratch": (partial(scratch_scores, k=k, steps=steps), scratch_grid),
        },
        seeds,
    )


# --- real photographs: ImageNet features vs random-init features vs raw pixels ----------------


def pixel_features(dataset: data.TensorImageDataset) -> Features:
    """Raw pixels as features: each image flattened to (3 * S * S,) values in [0, 1]."""
    return dataset.images.flatten(1).float() / 255, dataset.labels


def photo_scores(
    extract: Callable[[data.TensorImageDataset], Features],
    splits: Splits,
    *,
    seed: int,
    weight_decay: float,
) -> dict[str, float]:
    """A linear probe on ``extract``'s features of the splits: validation and test balanced
    accuracy."""
    train, val, test = (extract(p) for p in (splits.train, splits.val, splits.test))
    head, _ = features.train_linear_probe(
        *train, num_classes=len(splits.classes), weight_decay=weight_decay, seed=seed
    )
    return _scores(head, val, test)


def compare_photo_features(
    target: str,
    *,
    k: int,
    image_size: int,
    backbone: str = "squeezenet1_1",
    seeds: Sequence[int] = SEEDS,
    grid: Sequence[Mapping[str, Any]] = PHOTO_GRID,
    cache: features.FeatureCache | None = None,
) -> protocol.Comparison:
    """Probes on the pretrained ``backbone``'s features, on the same network's random-init
    features (one init per seed) and on raw pixels, each tuned on validation over ``grid``."""
    cache = cache if cache is not None else features.FeatureCache()
    pretrained, info = models.load_backbone(backbone)
    random_inits: dict[int, nn.Module] = {}

    def extractor(net: nn.Module) -> Callable[[data.TensorImageDataset], Features]:
        return lambda dataset: cache.features(net, _loader(dataset, info))

    def run(method: str, seed: int, weight_decay: float) -> dict[str, float]:
        splits = data.load_target(target, k=k, seed=seed, image_size=image_size)
        if method == "random-init features" and seed not in random_inits:
            torch.manual_seed(seed)
            random_inits[seed] = models.load_backbone(backbone, pretrained=False)[0]
        extract = {
            "pretrained features": lambda: extractor(pretrained),
            "random-init features": lambda: extractor(random_inits[seed]),
            "raw pixels": lambda: pixel_features,
        }[method]()
        return photo_scores(extract, splits, seed=seed, weight_decay=weight_decay)

    names = ("pretrained features", "random-init features", "raw pixels")
    return protocol.compare({m: (partial(run, m), grid) for m in names}, seeds)
