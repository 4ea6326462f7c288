"""Lesson 01's experiments: block-by-block probes and the measured model choice (the idea is
explained in ``ftkit.studies.anatomy``'s docstring)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from matplotlib.figure import Figure
from sklearn.metrics import balanced_accuracy_score
from torch import nn
from torch.utils.data import DataLoader

from ftkit import data, features, inference, models, plots, protocol
from ftkit.data import Splits
from ftkit.models import BackboneInfo

#: The blocks of a ResNet from input to output, as ``features.extract_features`` names them.
BLOCKS: tuple[str, ...] = ("stem", "layer1", "layer2", "layer3", "layer4")
#: The probes' search grid: the same for every backbone and block (the same search budget).
PROBE_GRID: tuple[dict[str, float], ...] = (
    {"weight_decay": 1e-3},
    {"weight_decay": 1e-2},
    {"weight_decay": 1e-1},
)


def _loader(dataset: data.TensorImageDataset, info: BackboneInfo) -> DataLoader:
    return DataLoader(dataset.with_transform(data.eval_transforms(info)), batch_size=256)


def balanced_accuracy(head: nn.Module, feats: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean per-class recall of ``head`` on features (N, D): chance is 1 / classes."""
    with torch.no_grad():
        predictions = head(feats).argmax(1)
    return float(balanced_accuracy_score(labels.numpy(), predictions.numpy()))


def block_scores(
    backbone: nn.Module,
    splits: Splits,
    info: BackboneInfo,
    *,
    block: str = "avgpool",
    seed: int,
    weight_decay: float = 1e-2,
    cache: features.FeatureCache | None = None,
) -> dict[str, float]:
    """Validation and test balanced accuracy of a linear probe on ``block``'s globally pooled
    output (``"avgpool"``: the features the head sees)."""
    cache = cache if cache is not None else features.FeatureCache()
    train, val, test = (
        cache.features(backbone, _loader(part, info), layer=block)
        for part in (splits.train, splits.val, splits.test)
    )
    head, _ = features.train_linear_probe(
        *train, num_classes=len(splits.classes), weight_decay=weight_decay, seed=seed
    )
    return {"val": balanced_accuracy(head, *val), "test": balanced_accuracy(head, *test)}


def compare_blocks(
    backbones: Mapping[str, Callable[[int], nn.Module]],
    target: str,
    info: BackboneInfo,
    *,
    k: int = 10,
    seeds: Sequence[int] = (0, 1, 2),
    grid: Sequence[Mapping[str, Any]] = PROBE_GRID,
    blocks: Sequence[str] = BLOCKS,
    cache: features.FeatureCache | None = None,
) -> protocol.Comparison:
    """A probe per (backbone, block), each tuned on validation over the same ``grid`` and run
    on the same seeds. ``backbones`` maps a name to ``seed -> backbone`` (a random init may
    depend on the seed). Methods are named ``"<backbone> <block>"``."""
    cache = cache if cache is not None else features.FeatureCache()
    made: dict[tuple[str, int], nn.Module] = {}
    splits = {s: data.load_target(target, k=k, seed=s) for s in seeds}

    def run(name: str, block: str, seed: int, **params: Any) -> dict[str, float]:
        if (name, seed) not in made:
            made[name, seed] = backbones[name](seed)
        net = made[name, seed]
        return block_scores(net, splits[seed], info, block=block, seed=seed, cache=cache, **params)

    methods = {
        f"{name} {block}": (partial(run, name, block), grid)
        for name in backbones
        for block in blocks
    }
    return protocol.compare(methods, seeds)


def block_records(comparison: protocol.Comparison, **fields: Any) -> list[dict[str, Any]]:
    """``comparison.records()`` with ``init``, ``block`` and ``depth`` split out of the method
    name, plus ``fields`` (e.g. ``target="digits"``)."""
    rows = []
    for r in comparison.records():
        init, block = r["method"].rsplit(" ", 1)
        rows.append({**r, **fields, "init": init, "block": block, "depth": BLOCKS.index(block)})
    return rows


def gap_growth(
    comparison: protocol.Comparison,
    low: str,
    high: str,
    a: str = "pretrained",
    b: str = "random init",
) -> protocol.Difference:
    """Per seed, how much more ``a`` beats ``b`` at block ``high`` than at block ``low``."""
    at_high = comparison.difference(f"{a} {high}", f"{b} {high}").diffs
    at_low = comparison.difference(f"{a} {low}", f"{b} {low}").diffs
    return protocol.paired_difference(
        at_high, at_low, names=(f"gap at {high}", f"gap at {low}"), scale=1
    )


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


# --- choosing a model, measured ----------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A backbone to choose from: how to build it for a seed, and the input it expects."""

    make: Callable[[int], nn.Module]  # seed -> backbone (a random init draws from the seed)
    info: BackboneInfo  # its normalisation; ``info.image_size`` is the size the target is read at


def compare_candidates(
    candidates: Mapping[str, Candidate],
    target: str,
    *,
    k: int,
    seeds: Sequence[int] = (0, 1, 2),
    grid: Sequence[Mapping[str, Any]] = PROBE_GRID,
    cache: features.FeatureCache | None = None,
) -> protocol.Comparison:
    """A linear probe on each candidate's last features, tuned on validation over the same
    ``grid``, on the same seeds (each candidate reads ``target`` at its own input size)."""
    cache = cache if cache is not None else features.FeatureCache()
    made: dict[tuple[str, int], nn.Module] = {}

    def run(name: str, seed: int, **params: Any) -> dict[str, float]:
        c = candidates[name]
        if (name, seed) not in made:
            made[name, seed] = c.make(seed)
        splits = data.load_target(target, k=k, seed=seed, image_size=c.info.image_size)
        return block_scores(made[name, seed], splits, c.info, seed=seed, cache=cache, **params)

    return protocol.compare({name: (partial(run, name), grid) for name in candidates}, seeds)


def size_and_speed(
    backbone: nn.Module, info: BackboneInfo, images: torch.Tensor, *, repeats: int = 3
) -> dict[str, float]:
    """Parameters, size in MB (float32 weights) and milliseconds per image to extract features
    from ``images`` (uint8 (N, 3, S, S) at ``info.image_size``; best of ``repeats``)."""
    n_params = models.count_parameters(backbone)
    size_mb = sum(t.numel() * t.element_size() for t in backbone.state_dict().values()) / 1e6
    loader = _loader(
        data.TensorImageDataset(images, torch.zeros(len(images), dtype=torch.long), ["?"]), info
    )
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        features.extract_features(backbone, loader)
        best = min(best, time.perf_counter() - start)
    return {"parameters": n_params, "MB": size_mb, "ms per image": 1000 * best / len(images)}
