"""One optimisation step, as a hand-written loop does it, and an epoch of them: ``fit``'s inner
loop.

``TrainStep`` is built once per ``fit`` call from its ``FitConfig``: param groups (one LR per
layer group), the optimizer (a name or a factory), the per-batch LR schedule, the criterion,
L2-SP and gradient clipping. An epoch keeps its sums on the device and reads them once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ftkit import freezing
from ftkit.devices import to_device
from ftkit.fit_config import FitConfig, check_batch, check_labels
from ftkit.optim import make_optimizer, param_groups
from ftkit.regularization import L2SP
from ftkit.schedules import make_scheduler


@dataclass(frozen=True)
class EpochTotals:
    """One epoch of training, read from the device once: mean loss, accuracy, worst batch loss."""

    loss: float
    acc: float
    worst: float
    num_classes: int

    def metrics(self) -> dict[str, float]:
        return {"train_loss": self.loss, "train_acc": self.acc}


class TrainStep:
    """One optimisation step, as lesson 07 writes it by hand, and an epoch of them.

    Built from a ``FitConfig``: param groups (one LR per layer group), the optimizer (a name or
    a factory), the per-batch LR schedule, the criterion, L2-SP and gradient clipping.
    """

    def __init__(self, model: nn.Module, cfg: FitConfig, *, steps_per_epoch: int) -> None:
        self.bn_policy = cfg.bn_policy
        groups = param_groups(model, cfg.lr, weight_decay=cfg.weight_decay, groups=cfg.groups)
        if not groups:
            raise ValueError("no trainable parameters: everything is frozen (freezing.unfreeze)")
        self.model, self.clip = model, cfg.clip_grad_norm
        self.params = [p for g in groups for p in g["params"]]
        factory = cfg.optimizer if callable(cfg.optimizer) else None
        self.opt = factory(groups) if factory else make_optimizer(groups, cfg.optimizer)
        total, warmup = cfg.epochs * steps_per_epoch, round(cfg.warmup_epochs * steps_per_epoch)
        self.scheduler = make_scheduler(self.opt, cfg.schedule, total, warmup_steps=warmup)
        self.criterion = cfg.criterion or nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.checks = cfg.criterion is None  # class-index labels, checked against the head
        head = list(cfg.groups.values())[-1] if cfg.groups is not None else None
        self.penalty = L2SP(model, alpha=cfg.l2sp, head=head) if cfg.l2sp else None

    def lrs(self) -> dict[str, float]:
        return {g.get("name", str(i)): g["lr"] for i, g in enumerate(self.opt.param_groups)}

    def __call__(self, x: torch.Tensor, y: torch.Tensor, host_y: torch.Tensor | None = None):
        logits = self.model(x)  # (B, num_classes)
        if host_y is not None:
            check_labels(host_y, logits.shape[1])
        loss = self.criterion(logits, y)
        self.opt.zero_grad(set_to_none=True)
        (loss + self.penalty(self.model) if self.penalty is not None else loss).backward()
        if self.clip is not None:
            nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return logits.detach(), loss.detach()

    def epoch(self, batches: Iterable, device: torch.device) -> EpochTotals:
        """A pass over ``batches`` in train mode (with the batch-norm policy); sums stay on the
        device and are read once at the end."""
        self.model.train()
        freezing.apply_bn_policy(self.model, self.bn_policy)
        loss_sum = torch.zeros((), device=device)
        worst = torch.zeros((), device=device)  # the largest batch loss: the divergence check
        correct = torch.zeros((), dtype=torch.long, device=device)
        seen = num_classes = 0
        for x, y in batches:
            if self.checks:
                check_batch(x, torch.as_tensor(y))  # on the host: no device sync
            xd, yd = to_device(x, y, device)
            logits, loss = self(xd, yd, torch.as_tensor(y) if self.checks else None)
            loss_sum += loss * yd.shape[0]
            worst = torch.maximum(worst, loss)
            correct += (logits.argmax(1) == yd).sum()
            seen, num_classes = seen + yd.shape[0], logits.shape[1]
        if seen == 0:
            raise ValueError("train_loader yielded no batch")
        total, hits, top = torch.stack(
            [loss_sum.double(), correct.double(), worst.double()]
        ).tolist()
        return EpochTotals(total / seen, hits / seen, top, num_classes)  # one host sync above
