"""Linear probes on a frozen backbone: what each block knows, and how many labels a probe needs.

A probe is a linear classifier trained on fixed features (``ftkit.features``). Probing the
pooled output of every block (stem, layer1 .. layer4) of a pretrained and of a randomly
initialised backbone measures how transferable each depth is (in the spirit of Yosinski et al.,
2014, "How transferable are features in deep neural networks?"). Probing at several k measures
how far a frozen feature extractor gets with few labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import DataLoader

from ftkit import data, features, inference, plots
from ftkit.data import Splits
from ftkit.models import BackboneInfo

#: The blocks of a ResNet from input to output, as ``features.extract_features`` names them.
BLOCKS: tuple[str, ...] = ("stem", "layer1", "layer2", "layer3", "layer4")


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


def _loader(dataset: data.TensorImageDataset, info: BackboneInfo) -> DataLoader:
    return DataLoader(dataset.with_transform(data.eval_transforms(info)), batch_size=256)


def probe(
    backbone: nn.Module,
    splits: Splits,
    info: BackboneInfo,
    *,
    layer: str = "avgpool",
    seed: int = 0,
    cache: features.FeatureCache | None = None,
    epochs: int = 100,
    lr: float = 0.05,
) -> ProbeResult:
    """Train a linear probe on ``layer``'s pooled features of ``splits.train``; score it on the
    test split.

    Features come from ``cache`` (a fixed test set is extracted once for all seeds and k).
    """
    cache = cache if cache is not None else features.FeatureCache()
    train_feats, train_labels = cache.features(backbone, _loader(splits.train, info), layer=layer)
    test_feats, test_labels = cache.features(backbone, _loader(splits.test, info), layer=layer)
    head, _ = features.train_linear_probe(
        train_feats, train_labels, num_classes=len(splits.classes), epochs=epochs, lr=lr, seed=seed
    )
    with torch.no_grad():
        predictions = head(test_feats).argmax(1)
    accuracy = (predictions == test_labels).float().mean().item()
    return ProbeResult(accuracy, predictions, test_labels, splits.test.images, list(splits.classes))


def probe_by_block(
    backbone: nn.Module,
    splits: Splits,
    info: BackboneInfo,
    *,
    blocks: tuple[str, ...] = BLOCKS,
    seed: int = 0,
    cache: features.FeatureCache | None = None,
) -> dict[str, float]:
    """Test accuracy of a linear probe on each block's globally pooled output, by block name."""
    cache = cache if cache is not None else features.FeatureCache()
    return {
        b: probe(backbone, splits, info, layer=b, seed=seed, cache=cache).accuracy for b in blocks
    }


def block_activations(
    backbone: nn.Module,
    image: torch.Tensor,
    info: BackboneInfo,
    *,
    blocks: tuple[str, ...] = BLOCKS,
) -> dict[str, torch.Tensor]:
    """Every block's output (C, H, W) for one uint8 image (3, S, S), in one eval-mode forward
    pass."""
    captured: dict[str, torch.Tensor] = {}
    handles = [
        features.feature_module(backbone, b).register_forward_hook(
            lambda module, inputs, output, name=b: captured.__setitem__(name, output[0].clone())
        )
        for b in blocks
    ]
    try:
        with inference.eval_mode(backbone), torch.inference_mode():
            backbone(data.eval_transforms(info)(image).unsqueeze(0))  # (1, 3, S, S)
    finally:
        for handle in handles:
            handle.remove()
    return {b: captured[b].clone() for b in blocks}  # a clone outside inference mode: normal


def activations_figure(activations: dict[str, torch.Tensor], block: str, *, n: int = 16) -> Figure:
    """The first ``n`` channel maps of ``block`` from ``block_activations``, with a title."""
    a = activations[block]
    fig = plots.feature_maps_plot(a, n=n, ncols=8)
    fig.suptitle(
        f"{block}: {a.shape[0]} channels of {a.shape[1]}x{a.shape[2]} (first {min(n, a.shape[0])})",
        fontsize=10,
    )
    return fig


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
