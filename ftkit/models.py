"""Backbones: the embedded pretrained ResNet and torchvision's ImageNet models, by name.

The embedded backbone uses torchvision's ResNet attribute names (``conv1, bn1, layer1..layer4,
avgpool, fc``), so what a learner does to it here is what they would do to ``resnet18``. Its
architecture is ``ftkit.resnet.SmallResNet``; its checkpoint is read through
``ftkit.checkpoints`` (sha256 checked before loading). A backbone's anatomy (layer groups, the
head and its replacement) is ``ftkit.layers``, re-exported here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ftkit import checkpoints

# re-exported: lessons and the rest of the core know these as models.<name>
from ftkit.checkpoints import ChecksumError as ChecksumError
from ftkit.checkpoints import sha256_of as sha256_of
from ftkit.layers import count_parameters as count_parameters
from ftkit.layers import head_of as head_of
from ftkit.layers import layer_groups as layer_groups
from ftkit.layers import num_features as num_features
from ftkit.layers import replace_head as replace_head
from ftkit.resnet import SmallResNet as SmallResNet

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


def load_verified(path: Path, remedy: str) -> dict:
    """``checkpoints.load``: the file's sha256 checked against ``<path>.sha256`` before
    ``torch.load(weights_only=True)``; ``remedy`` ends the error messages."""
    return checkpoints.load(path, fix=remedy)


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
    name: str = EMBEDDED_NAME,
    *,
    pretrained: bool = True,
    checkpoint: Path | None = None,
    weights: str | None = None,
) -> tuple[nn.Module, BackboneInfo]:
    """A backbone and what it expects as input.

    ``"embedded"`` is ftkit's own ResNet, pretrained on generated glyphs, offline.
    ``"squeezenet1_1"`` is torchvision's SqueezeNet 1.1 with real ImageNet weights that ship
    with ftkit (``weights="ftkit"``, the default for it, offline) or torchvision's own weights
    (``weights="torchvision"``: cached or downloaded). Any other name is a torchvision
    classifier (``"resnet18"``, ``"mobilenet_v3_small"`` ...) whose ImageNet weights come
    through torchvision's weights API. ``pretrained=False`` gives the same network randomly
    initialised from torch's global RNG (seed it first). The model still carries its source
    head (``fc`` or ``classifier``): use ``replace_head`` for a new task.

    >>> model, info = load_backbone("embedded")
    >>> info.image_size
    32
    >>> model, info = load_backbone("squeezenet1_1")
    >>> info.image_size, len(info.source_classes), count_parameters(model)
    (224, 1000, 1235496)
    """
    from ftkit import imagenet

    choices = {EMBEDDED_NAME: ("ftkit",), imagenet.SQUEEZENET: ("ftkit", "torchvision")}.get(
        name, ("torchvision",)
    )
    if weights is not None and weights not in choices:
        raise ValueError(
            f"weights={weights!r} is not available for {name!r}; choose one of {choices}"
        )
    if name == EMBEDDED_NAME:
        model, config = load_checkpoint(checkpoint)  # the config says how to build it either way
        if not pretrained:  # same anatomy, random init (seed torch first for a reproducible one)
            model = SmallResNet(
                len(config["classes"]), tuple(config["widths"]), tuple(config["blocks"])
            )
        return model, embedded_info(config)
    if name == imagenet.SQUEEZENET and (weights or "ftkit") == "ftkit":
        return imagenet.squeezenet(pretrained=pretrained), imagenet.squeezenet_info()
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
        f"Everything in this course also runs offline with the embedded backbone "
        f"(load_backbone('{EMBEDDED_NAME}')) or ftkit's ImageNet SqueezeNet "
        f"(load_backbone('squeezenet1_1', weights='ftkit'))."
    )


def imagenet_predictions(
    model: nn.Module, images, info: BackboneInfo, *, top: int = 5
) -> list[list[tuple[str, float]]]:
    """What an ImageNet model sees: per image, its ``top`` (class name, probability), best
    first. ``images``: uint8 RGB, one or a list, (3, H, W) tensors or (H, W, 3) arrays, any
    size (resized and centre-cropped like torchvision's ImageNet evaluation). See
    ``imagenet.predictions``."""
    from ftkit import imagenet

    return imagenet.predictions(model, images, info, top=top)
