"""Regularizers for fine-tuning: L2-SP, and the no-weight-decay split for norm and bias.

Label smoothing needs no code here: ``fit(..., label_smoothing=0.1)`` passes it to
``nn.CrossEntropyLoss(label_smoothing=...)``.
"""

from __future__ import annotations

import torch
from torch import nn

from ftkit import models

NORM_TYPES = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.instancenorm._InstanceNorm,
)


def no_decay_split(
    module: nn.Module, *, trainable_only: bool = True
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split parameters into ``(decay, no_decay)``: norm-layer parameters and biases get no decay.

    Weight decay pulls weights toward zero. For a norm layer's scale that shrinks the signal
    for no benefit, and biases do not contribute to overfitting the way weights do, so the usual
    recipe (timm, BERT, fastai) exempts both.
    """
    decay, no_decay = [], []
    for m in module.modules():
        for name, p in m.named_parameters(recurse=False):
            if trainable_only and not p.requires_grad:
                continue
            (no_decay if isinstance(m, NORM_TYPES) or name == "bias" else decay).append(p)
    return decay, no_decay


class L2SP:
    """L2-SP (Li et al., 2018): pull the backbone toward its pretrained weights, not toward zero.

    ``penalty = alpha/2 * sum ||w - w0||^2`` over the backbone's parameters (all but the head),
    ``+ beta/2 * ||w_head||^2`` over the new head, whose weights have no pretrained value.
    The starting weights ``w0`` are a detached copy taken when the object is made, so make it
    right before training. Frozen parameters are skipped (they still equal ``w0``).

    >>> model = models.SmallResNet(10, widths=(4, 8, 8, 8))
    >>> L2SP(model, alpha=0.01)(model).item()
    0.0
    """

    def __init__(
        self, model: nn.Module, alpha: float, beta: float = 0.0, head: nn.Module | None = None
    ) -> None:
        head = head if head is not None else models.head_of(model)[1]
        head_ids = {id(p) for p in head.parameters()}
        self.alpha, self.beta = float(alpha), float(beta)
        self.start = {
            n: p.detach().clone() for n, p in model.named_parameters() if id(p) not in head_ids
        }
        self.head_names = [n for n, p in model.named_parameters() if id(p) in head_ids]

    def __call__(self, model: nn.Module) -> torch.Tensor:
        params = dict(model.named_parameters())
        terms = [
            (params[n] - w0).pow(2).sum() for n, w0 in self.start.items() if params[n].requires_grad
        ]
        penalty = self.alpha / 2 * torch.stack(terms).sum() if terms else None
        if self.beta:
            squares = [params[n].pow(2).sum() for n in self.head_names]
            head = self.beta / 2 * torch.stack(squares).sum()
            penalty = head if penalty is None else penalty + head
        if penalty is None:
            return torch.zeros((), device=next(iter(params.values())).device)
        return penalty
