"""Where fine-tuning acts: a backbone's layer groups, from input to head, and the head itself.

``layer_groups`` names the stages of ResNets (the embedded one and torchvision's), SqueezeNet
and MobileNetV3 the same way for every lesson (``stem``, the stages, ``head``); ``head_of``,
``num_features`` and ``replace_head`` find, measure and swap the classifier. All re-exported
by ``ftkit.models``.

>>> from ftkit.resnet import SmallResNet
>>> list(layer_groups(SmallResNet(10)))
['stem', 'layer1', 'layer2', 'layer3', 'layer4', 'head']
"""

from __future__ import annotations

import itertools
from collections import OrderedDict

import torch
from torch import nn


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
