"""Linear probes on a frozen backbone: what each block knows, and how many labels a probe needs.

A probe is a linear classifier trained on fixed features (``ftkit.features``). Probing the
pooled output of every block (stem, layer1 .. layer4) of a pretrained and of a randomly
initialised backbone measures how transferable each depth is (in the spirit of Yosinski et al.,
2014, "How transferable are features in deep neural networks?"). Probing at several k measures
how far a frozen feature extractor gets with few labels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import DataLoader

from ftkit import data, features, plots, protocol
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


def block_scores(
    backbone: nn.Module,
    splits: Splits,
    info: BackboneInfo,
    *,
    block: str,
    seed: int,
    weight_decay: float = 1e-2,
    cache: features.FeatureCache | None = None,
) -> dict[str, float]:
    """Validation and test accuracy of a linear probe on ``block``'s globally pooled output."""
    cache = cache if cache is not None else features.FeatureCache()
    train, val, test = (
        cache.features(backbone, _loader(part, info), layer=block)
        for part in (splits.train, splits.val, splits.test)
    )
    head, _ = features.train_linear_probe(
        *train, num_classes=len(splits.classes), weight_decay=weight_decay, seed=seed
    )
    return {
        "val": features.probe_accuracy(head, *val),
        "test": features.probe_accuracy(head, *test),
    }


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


@torch.no_grad()
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
            lambda module, inputs, output, name=b: captured.__setitem__(
                name, output[0].detach().clone()
            )
        )
        for b in blocks
    ]
    was_training = backbone.training
    backbone.eval()
    try:
        backbone(data.eval_transforms(info)(image).unsqueeze(0))  # (1, 3, S, S)
    finally:
        for handle in handles:
            handle.remove()
        backbone.train(was_training)
    return {b: captured[b] for b in blocks}


def activations_figure(activations: dict[str, torch.Tensor], block: str, *, n: int = 16) -> Figure:
    """The first ``n`` channel maps of ``block`` from ``block_activations``, with a title."""
    a = activations[block]
    fig = plots.feature_maps_plot(a, n=n, ncols=8)
    fig.suptitle(
        f"{block}: {a.shape[0]} channels of {a.shape[1]}x{a.shape[2]} (first {min(n, a.shape[0])})",
        fontsize=10,
    )
    return fig
