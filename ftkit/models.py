"""Backbones: the embedded pretrained ResNet, torchvision's ImageNet models, and their anatomy.

The embedded backbone uses torchvision's ResNet attribute names (``conv1, bn1, layer1..layer4,
avgpool, fc``), so what a learner does to it here is what they would do to ``resnet18``.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

EMBEDDED_NAME = "embedded"
CHECKPOINT_FILE = "embedded_resnet.pt"
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


class ChecksumError(RuntimeError):
    """A checkpoint's bytes differ from its recorded sha256: refuse to load it."""


@dataclass(frozen=True)
class BackboneInfo:
    """What a learner needs to feed a backbone: input size and normalisation, and its origin."""

    name: str
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source_classes: tuple[str, ...] = field(default=(), repr=False)


class SmallResNet(nn.Module):
    """A ResNet with torchvision's anatomy, sized for 32x32 images on a laptop CPU.

    A 3x3 stride-1 stem with no max-pool (tiny images), one BasicBlock per stage by default,
    widths doubling per stage. Forward is torchvision's ``ResNet._forward_impl``.
    """

    def __init__(
        self,
        num_classes: int,
        widths: tuple[int, ...] = (16, 32, 64, 128),
        blocks: tuple[int, ...] = (1, 1, 1, 1),
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        in_width = widths[0]
        for i, (width, depth) in enumerate(zip(widths, blocks), start=1):
            stride = 1 if i == 1 else 2
            setattr(self, f"layer{i}", _stage(in_width, width, depth, stride))
            in_width = width
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 3, H, W)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))  # (B, num_classes)


def _stage(in_width: int, width: int, depth: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or in_width != width:
        downsample = nn.Sequential(
            nn.Conv2d(in_width, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width)
        )
    layers = [BasicBlock(in_width, width, stride, downsample)]
    layers += [BasicBlock(width, width) for _ in range(depth - 1)]
    return nn.Sequential(*layers)


# --- the embedded checkpoint -------------------------------------------------------------


def weights_dir() -> Path:
    """Where the embedded checkpoint, its sha256 and its model card ship (package data)."""
    return Path(__file__).parent / "source" / "weights"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_checkpoint(model: SmallResNet, config: dict, path: Path) -> str:
    """Save weights and config as plain tensors and values (``weights_only`` loadable); return
    the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "config": config}, path)
    digest = sha256_of(path)
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    return digest


def load_verified(path: Path, remedy: str) -> dict:
    """``torch.load(weights_only=True)`` of a file whose sha256 matches ``<path>.sha256``.

    ``remedy`` ends the error messages: how to get a good copy of this file.
    """
    sha_file = path.with_name(path.name + ".sha256")
    if not path.exists() or not sha_file.exists():
        raise FileNotFoundError(
            f"No checkpoint at {path} (with {sha_file.name} beside it). {remedy}"
        )
    expected = sha_file.read_text().split()[0]
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumError(
            f"{path} has sha256 {actual[:12]}... but {sha_file.name} says {expected[:12]}...: "
            f"the file is corrupt or was replaced. {remedy}"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


def load_checkpoint(path: Path | None = None) -> tuple[SmallResNet, dict]:
    """Load a SmallResNet checkpoint after checking its sha256, with ``weights_only=True``."""
    path = Path(path) if path is not None else weights_dir() / CHECKPOINT_FILE
    blob = load_verified(path, "Reinstall ftkit, or make one with `ftkit pretrain --out DIR`.")
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
        f"Everything in this course also runs offline with the embedded backbone: "
        f"load_backbone('{EMBEDDED_NAME}')."
    )


# --- anatomy -------------------------------------------------------------------------------


def layer_groups(model: nn.Module) -> OrderedDict[str, nn.Module]:
    """The model's named layer groups, ordered from input to head.

    ResNets (the embedded one and torchvision's): ``stem`` (conv1+bn1), ``layer1`` ..
    ``layer4``, ``head`` (fc). SqueezeNet: ``stem`` (conv1, ReLU, max-pool), ``fire2_3``,
    ``fire4_5``, ``fire6_7``, ``fire8_9`` (each pair of fire modules with the max-pool before
    it), ``head`` (classifier). MobileNetV3: ``stem`` (features[0]), four feature stages, and
    ``head`` (classifier). For another architecture pass your own ordered dict of modules.
    """
    from torchvision.models import SqueezeNet

    if isinstance(model, SqueezeNet):
        f = list(model.features)
        cuts = {"stem": (0, 3), "fire2_3": (3, 5), "fire4_5": (5, 8), "fire6_7": (8, 11)}
        groups = OrderedDict((k, nn.ModuleList(f[lo:hi])) for k, (lo, hi) in cuts.items())
        return OrderedDict(**groups, fire8_9=nn.ModuleList(f[11:]), head=model.classifier)
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
    layers = [m for m in head.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    if not layers:
        raise TypeError("the head has no nn.Linear or nn.Conv2d layer; cannot tell its width")
    first = layers[0]
    return first.in_features if isinstance(first, nn.Linear) else first.in_channels


def replace_head(
    model: nn.Module, num_classes: int, *, dropout: float = 0.0, seed: int | None = None
) -> nn.Module:
    """Swap the source-task classifier for a new one with ``num_classes`` outputs (in place).

    The new head is ``Dropout(p) -> Linear`` for ResNets; for MobileNetV3 only the last Linear
    of the classifier is replaced. SqueezeNet's convolutional classifier becomes
    ``AdaptiveAvgPool2d(1) -> Flatten -> Dropout(p) -> Linear(512, num_classes)``: global
    pooling of the trunk's features and a linear head, as for a ResNet. Returns the model.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if seed is not None:
        torch.manual_seed(seed)
    name, head = head_of(model)
    if isinstance(head, nn.Sequential) and not any(isinstance(m, nn.Linear) for m in head):
        pooled = [nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Dropout(dropout)]  # squeezenet
        setattr(model, name, nn.Sequential(*pooled, nn.Linear(num_features(model), num_classes)))
        return model
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


def imagenet_predictions(
    model: nn.Module, images, info: BackboneInfo, *, top: int = 5
) -> list[list[tuple[str, float]]]:
    """What an ImageNet model sees: per image, its ``top`` (class name, probability), best
    first. ``images``: uint8 RGB, one or a list, (3, H, W) tensors or (H, W, 3) arrays, any
    size (resized and centre-cropped like torchvision's ImageNet evaluation). See
    ``imagenet.predictions``."""
    from ftkit import imagenet

    return imagenet.predictions(model, images, info, top=top)
