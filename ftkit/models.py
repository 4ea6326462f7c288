"""Backbones: the embedded pretrained ResNet, torchvision's ImageNet models, and their anatomy.

The embedded backbone uses torchvision's ResNet attribute names (``conv1, bn1, layer1..layer4,
avgpool, fc``), so what a learner does to it here is what they would do to ``resnet18``. Its
architecture is ``ftkit.resnet.SmallResNet``; its checkpoint is read through
``ftkit.checkpoints`` (sha256 checked before loading).
"""

from __future__ import annotations

import itertools
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ftkit import checkpoints

# re-exported: lessons catch models.ChecksumError, and doctor checks models.sha256_of
from ftkit.checkpoints import ChecksumError as ChecksumError
from ftkit.checkpoints import sha256_of as sha256_of
from ftkit.resnet import SmallResNet as SmallResNet  # re-exported: models.SmallResNet

EMBEDDED_NAME = "embedded"
CHECKPOINT_FILE = "embedded_resnet.pt"
_REINSTALL = "Reinstall ftkit, or make the checkpoint again with `ftkit pretrain --out DIR`."
#: torchvision backbones this course knows the anatomy of (any torchvision classifier loads).
TORCHVISION_BACKBONES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
)


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither cached nor downloadable (we are offline)."""


@dataclass(frozen=True)
class BackboneInfo:
    """What a learner needs to feed a backbone: input size and normalisation, and its origin."""

    name: str
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source_classes: tuple[str, ...] = field(default=(), repr=False)


# --- the embedded checkpoint -------------------------------------------------------------


def weights_dir() -> Path:
    """Where the embedded checkpoint, its sha256 and its model card ship (package data)."""
    return Path(__file__).parent / "source" / "weights"


def save_checkpoint(
    model: SmallResNet, config: dict, path: Path, *, overwrite: bool = False
) -> str:
    """Save weights and config as plain tensors and values (``weights_only`` loadable), with a
    sha256 beside them (``checkpoints.save``); return the sha256."""
    return checkpoints.save(
        {"state_dict": model.state_dict(), "config": config}, path, overwrite=overwrite
    )


def load_checkpoint(path: Path | None = None) -> tuple[SmallResNet, dict]:
    """Load a SmallResNet checkpoint after checking its sha256, with ``weights_only=True``."""
    path = Path(path) if path is not None else weights_dir() / CHECKPOINT_FILE
    blob = checkpoints.load(path, fix=_REINSTALL)
    config = blob["config"]
    model = SmallResNet(len(config["classes"]), tuple(config["widths"]), tuple(config["blocks"]))
    model.load_state_dict(blob["state_dict"])
    return model, config


def embedded_info(config: dict) -> BackboneInfo:
    return BackboneInfo(
        name=EMBEDDED_NAME,
        image_size=int(config["image_size"]),
        mean=tuple(config["mean"]),
        std=tuple(config["std"]),
        source_classes=tuple(config["classes"]),
    )


# --- the registry ------------------------------------------------------------------------


def load_backbone(
    name: str = EMBEDDED_NAME, *, pretrained: bool = True, checkpoint: Path | None = None
) -> tuple[nn.Module, BackboneInfo]:
    """A backbone and what it expects as input.

    ``"embedded"`` is ftkit's own ResNet, pretrained on generated glyphs, offline. Any other
    name is a torchvision classifier (``"resnet18"``, ``"mobilenet_v3_small"`` ...) whose
    ImageNet weights come through torchvision's weights API: from the torch hub cache, or
    downloaded when online. The returned model still carries its source head (``fc`` or
    ``classifier``): use ``replace_head`` for a new task.

    >>> model, info = load_backbone("embedded")
    >>> info.image_size
    32
    """
    if name == EMBEDDED_NAME:
        model, config = load_checkpoint(checkpoint)  # the config says how to build it either way
        if not pretrained:  # same anatomy, random init (seed torch first for a reproducible one)
            model = SmallResNet(
                len(config["classes"]), tuple(config["widths"]), tuple(config["blocks"])
            )
        return model, embedded_info(config)
    return _torchvision_backbone(name, pretrained=pretrained)


def _torchvision_backbone(name: str, *, pretrained: bool) -> tuple[nn.Module, BackboneInfo]:
    import torchvision.models as tvm

    try:
        weights_enum = tvm.get_model_weights(name)
    except ValueError:
        raise ValueError(
            f"Unknown backbone {name!r}. Use {EMBEDDED_NAME!r} (offline) or a torchvision "
            f"classifier such as {', '.join(TORCHVISION_BACKBONES)}."
        ) from None
    weights = weights_enum.DEFAULT
    crop = int(weights.transforms().crop_size[0])
    info = BackboneInfo(
        name,
        crop,
        tuple(weights.transforms().mean),
        tuple(weights.transforms().std),
        tuple(weights.meta.get("categories", ())),
    )
    if not pretrained:
        return tvm.get_model(name, weights=None), info
    cached = cached_weights_path(name)
    if not cached.exists() and os.environ.get("FTKIT_OFFLINE") == "1":
        raise WeightsUnavailableError(_offline_message(name, cached, "FTKIT_OFFLINE=1 is set"))
    try:
        return tvm.get_model(name, weights=weights), info
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        if cached.exists():
            raise
        raise WeightsUnavailableError(_offline_message(name, cached, str(exc))) from exc


def cached_weights_path(name: str) -> Path:
    """Where torchvision looks for ``name``'s ImageNet weights: ``<torch hub dir>/checkpoints``."""
    import torchvision.models as tvm

    url = tvm.get_model_weights(name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _offline_message(name: str, cached: Path, reason: str) -> str:
    import torchvision.models as tvm

    url = tvm.get_model_weights(name).DEFAULT.url
    return (
        f"Cannot load ImageNet weights for {name!r}: they are not in the torch hub cache and "
        f"the download failed ({reason}).\n"
        f'To fix: on a machine with internet run `python -c "import torchvision; '
        f"torchvision.models.get_model('{name}', weights='DEFAULT')\"`, or download {url} "
        f"and copy the file to {cached}.\n"
        f"Everything in this course also runs offline with the embedded backbone: "
        f"load_backbone('{EMBEDDED_NAME}')."
    )


# --- anatomy -------------------------------------------------------------------------------


def layer_groups(model: nn.Module) -> OrderedDict[str, nn.Module]:
    """The model's named layer groups, ordered from input to head.

    ResNets (the embedded one and torchvision's): ``stem`` (conv1+bn1), ``layer1`` ..
    ``layer4``, ``head`` (fc). MobileNetV3: ``stem`` (features[0]), four feature stages, and
    ``head`` (classifier). For another architecture pass your own ordered dict of modules.
    """
    if all(hasattr(model, a) for a in ("conv1", "bn1", "layer1", "layer4", "fc")):
        return OrderedDict(
            stem=nn.ModuleList([model.conv1, model.bn1]),
            layer1=model.layer1,
            layer2=model.layer2,
            layer3=model.layer3,
            layer4=model.layer4,
            head=model.fc,
        )
    if hasattr(model, "features") and hasattr(model, "classifier") and len(model.features) >= 5:
        features = list(model.features)
        cuts = _quarters(len(features) - 1)
        groups: OrderedDict[str, nn.Module] = OrderedDict(stem=features[0])
        for i, (lo, hi) in enumerate(cuts, start=1):
            groups[f"features{i}"] = nn.ModuleList(features[1 + lo : 1 + hi])
        groups["head"] = model.classifier
        return groups
    raise TypeError(
        f"ftkit does not know the layer groups of {type(model).__name__}. Pass them by hand as "
        "an OrderedDict from input to head, e.g. OrderedDict(early=model.block1, "
        "late=model.block2, head=model.classifier)."
    )


def _quarters(n: int) -> list[tuple[int, int]]:
    bounds = [round(n * i / 4) for i in range(5)]
    return list(itertools.pairwise(bounds))


def head_of(model: nn.Module) -> tuple[str, nn.Module]:
    """The attribute name and module of the classifier head (``fc`` or ``classifier``)."""
    for name in ("fc", "classifier", "head"):
        if hasattr(model, name):
            return name, getattr(model, name)
    raise TypeError(f"{type(model).__name__} has no fc/classifier/head attribute to replace.")


def num_features(model: nn.Module) -> int:
    """Width of the feature vector that enters the head."""
    _, head = head_of(model)
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError("the head has no nn.Linear layer; cannot tell its input width")
    return linears[0].in_features


def replace_head(
    model: nn.Module, num_classes: int, *, dropout: float = 0.0, seed: int | None = None
) -> nn.Module:
    """Swap the source-task classifier for a new one with ``num_classes`` outputs (in place).

    The new head is ``Dropout(p) -> Linear`` for ResNets; for MobileNetV3 only the last Linear
    of the classifier is replaced. Returns the model for chaining.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if seed is not None:
        torch.manual_seed(seed)
    name, head = head_of(model)
    if isinstance(head, nn.Sequential):  # torchvision mobilenet/efficientnet style
        last = max(i for i, m in enumerate(head) if isinstance(m, nn.Linear))
        head[last] = nn.Linear(head[last].in_features, num_classes)
        if dropout:
            for m in head:
                if isinstance(m, nn.Dropout):
                    m.p = dropout
        return model
    new_head: nn.Module = nn.Linear(num_features(model), num_classes)
    if dropout:
        new_head = nn.Sequential(nn.Dropout(dropout), new_head)
    setattr(model, name, new_head)
    return model


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
