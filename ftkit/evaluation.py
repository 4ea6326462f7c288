"""How good is a fine-tuned model, and what did fine-tuning cost?

Accuracy and confusions on the target; **forgetting** (accuracy on the source task, read
through the original source head kept aside before ``replace_head``); how far each layer
group moved from its pretrained weights; accuracy under domain shift.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.metrics import confusion_matrix
from torch import nn
from torch.utils.data import DataLoader

from ftkit import data, inference, models
from ftkit.models import BackboneInfo


def predict(
    model: nn.Module, loader: DataLoader, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true labels (N,) over ``loader``, in eval mode (each module's mode is
    restored after; see ``ftkit.inference``)."""
    return inference.predictions(model, loader, device)


def accuracy(
    model: nn.Module, loader: DataLoader, device: torch.device | str | None = None
) -> float:
    """Top-1 accuracy over ``loader``, between 0 and 1."""
    preds, labels = predict(model, loader, device)
    return (preds == labels).float().mean().item()


def per_class_accuracy(
    model: nn.Module,
    loader: DataLoader,
    classes: list[str],
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Accuracy of each class (recall), by class name; NaN for a class absent from ``loader``."""
    preds, labels = predict(model, loader, device)
    result = {}
    for i, name in enumerate(classes):
        mask = labels == i
        result[name] = (preds[mask] == i).float().mean().item() if mask.any() else float("nan")
    return result


def confusion(
    model: nn.Module,
    loader: DataLoader,
    *,
    num_classes: int | None = None,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Confusion matrix (C, C): row = true class, column = predicted class, counts.

    ``num_classes`` defaults to ``len(loader.dataset.classes)`` so that absent classes still
    get a row.
    """
    preds, labels = predict(model, loader, device)
    if num_classes is None:
        classes = getattr(loader.dataset, "classes", None)
        num_classes = len(classes) if classes else int(max(preds.max(), labels.max())) + 1
    return confusion_matrix(labels.numpy(), preds.numpy(), labels=np.arange(num_classes))


def most_confused(cm: np.ndarray, classes: list[str], n: int = 5) -> list[tuple[str, str, int]]:
    """The ``n`` largest off-diagonal cells as (true, predicted, count), largest first."""
    off = np.array(cm, copy=True)
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:n]
    rows, cols = np.unravel_index(flat, off.shape)
    return [(classes[r], classes[c], int(off[r, c])) for r, c in zip(rows, cols) if off[r, c] > 0]


# --- forgetting ----------------------------------------------------------------------------


def keep_source_head(model: nn.Module) -> nn.Module:
    """A frozen copy of the pretrained head: call it *before* ``replace_head``.

    >>> source_head = keep_source_head(model)        # doctest: +SKIP
    >>> models.replace_head(model, 10)               # doctest: +SKIP
    """
    head = copy.deepcopy(models.head_of(model)[1])
    head.requires_grad_(False)
    return head.eval()


@contextmanager
def swapped_head(model: nn.Module, head: nn.Module) -> Iterator[nn.Module]:
    """Temporarily put ``head`` on ``model``; the model's own head comes back even on error.

    A peft wrapper (``get_base_model``) is unwrapped first: its forward pass runs the wrapped
    model, so that is where the head must go.
    """
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    name, own = models.head_of(model)
    setattr(model, name, head)
    try:
        yield model
    finally:
        setattr(model, name, own)


def source_loader(info: BackboneInfo, *, per_class: int = 10, batch_size: int = 256) -> DataLoader:
    """Held-out source-task images (86 glyph classes), eval transforms."""
    dataset = data.source_eval_set(per_class, image_size=info.image_size)
    return DataLoader(dataset.with_transform(data.eval_transforms(info)), batch_size=batch_size)


def source_task_accuracy(
    model: nn.Module,
    source_head: nn.Module,
    info: BackboneInfo,
    *,
    per_class: int = 10,
    loader: DataLoader | None = None,
    device: torch.device | str | None = None,
) -> float:
    """Accuracy on the source task of ``model``'s (possibly fine-tuned) backbone read through
    the original ``source_head``: how much of the source task survived fine-tuning.

    Pass ``loader`` (from ``source_loader``) to avoid regenerating the images on every call.
    """
    loader = loader if loader is not None else source_loader(info, per_class=per_class)
    if device is not None:
        source_head = source_head.to(device)
    with swapped_head(model, source_head):
        return accuracy(model, loader, device)


def shift_accuracy(
    model: nn.Module,
    info: BackboneInfo,
    *,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> float:
    """Accuracy on the test set of the ``"shift"`` target (the ``"near"`` classes on stripes).

    The test split is fixed whatever ``k`` and seed, so a model fine-tuned on ``"near"`` can be
    compared on it directly.
    """
    test = data.load_target("shift", k=1, image_size=info.image_size).test
    loader = DataLoader(test.with_transform(data.eval_transforms(info)), batch_size=batch_size)
    return accuracy(model, loader, device)


def weight_change(
    model: nn.Module,
    reference_state_dict: Mapping[str, torch.Tensor],
    groups: Mapping[str, nn.Module] | None = None,
) -> dict[str, float]:
    """Relative L2 distance ``||w - w0|| / ||w0||`` of each layer group from its reference.

    Parameters only (batch-norm running statistics are not weights). A group whose parameters
    are missing from the reference or changed shape (a replaced head) is left out.

    >>> w0 = copy.deepcopy(model.state_dict())      # doctest: +SKIP
    >>> ...fine-tune...; weight_change(model, w0)   # doctest: +SKIP
    {'stem': 0.08, 'layer1': 0.05, ..., 'layer4': 0.21}
    """
    groups = groups if groups is not None else models.layer_groups(model)
    names = {id(p): name for name, p in model.named_parameters()}
    changes = {}
    for group, module in groups.items():
        diff = ref = 0.0
        comparable = True
        for p in module.parameters():
            w0 = reference_state_dict.get(names.get(id(p), ""))
            if w0 is None or w0.shape != p.shape:
                comparable = False
                break
            w0 = w0.detach().to(p.device, torch.float32)
            diff += (p.detach().float() - w0).pow(2).sum().item()
            ref += w0.pow(2).sum().item()
        if comparable and ref > 0:
            changes[group] = (diff / ref) ** 0.5
    return changes
