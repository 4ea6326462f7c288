"""When a training run stops, and which weights it ends with: the two guards of ``fit``.

- ``DivergenceGuard``: a batch loss that became NaN/inf or exploded means the LR is too high.
  It keeps a copy of the last known-good weights (the end of the last completed epoch) and
  puts them back.
- ``EarlyStopping``: remembers the best epoch on the monitored metric (and, with a patience,
  its weights); says stop after ``patience`` epochs without improvement.

Both read the device once per epoch, never per batch.

>>> stopper = EarlyStopping(nn.Linear(1, 1), monitor="val_acc", patience=1)
>>> [stopper.update(epoch, value) for epoch, value in [(1, 0.5), (2, 0.7), (3, 0.6)]]
[False, False, True]
>>> stopper.best_epoch
2
"""

from __future__ import annotations

import math

import torch
from torch import nn

DIVERGENCE_FACTOR = 10.0  # a batch loss above 10 x ln(num_classes) (10 x chance) is divergence


def _clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class DivergenceGuard:
    """The last known-good weights, and the check that decides they are needed.

    ``max_loss`` defaults to ``DIVERGENCE_FACTOR * ln(num_classes)``: ten times the loss of
    guessing. The copy lives on the model's device (one extra copy of the weights).
    """

    def __init__(self, model: nn.Module, max_loss: float | None = None) -> None:
        self.max_loss = max_loss
        self._live = list(model.state_dict().values())  # views of the model's tensors
        self._good = [t.detach().clone() for t in self._live]

    def limit(self, num_classes: int) -> float:
        if self.max_loss is not None:
            return self.max_loss
        return DIVERGENCE_FACTOR * math.log(max(num_classes, 2))

    def diverged(self, worst: float, mean: float, num_classes: int) -> bool:
        """True when the epoch's worst batch loss or mean loss is NaN/inf or above the limit."""
        finite = math.isfinite(worst) and math.isfinite(mean)
        return not finite or worst > self.limit(num_classes)

    def commit(self) -> None:
        """The current weights are good (an epoch completed): remember them."""
        self._copy(self._good, self._live)

    def restore(self) -> None:
        """Put the last known-good weights back into the model, in place."""
        self._copy(self._live, self._good)

    @staticmethod
    def _copy(dst: list[torch.Tensor], src: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for d, s in zip(dst, src):
                d.copy_(s)


class EarlyStopping:
    """The best epoch on ``monitor`` (``"val_acc"`` higher is better, ``"val_loss"`` lower).

    With ``patience=None`` it only tracks the best epoch (``fit`` reports it in the History);
    with a patience it also keeps the best weights, so ``restore_best`` can put them back.
    """

    def __init__(self, model: nn.Module, monitor: str = "val_acc", patience: int | None = None):
        if monitor not in ("val_acc", "val_loss"):
            raise ValueError(f"monitor must be 'val_acc' or 'val_loss', got {monitor!r}")
        self.model, self.monitor, self.patience = model, monitor, patience
        self.best_epoch: int | None = None
        self.best_value = -math.inf  # of sign * value: higher is better
        self.waited = 0
        self._best_state: dict[str, torch.Tensor] | None = None

    def update(self, epoch: int, value: float) -> bool:
        """Record the epoch's monitored value; True when training should stop now."""
        score = value if self.monitor == "val_acc" else -value
        if score > self.best_value:
            self.best_value, self.best_epoch, self.waited = score, epoch, 0
            if self.patience is not None:
                self._best_state = _clone_state(self.model)
            return False
        self.waited += 1
        return self.patience is not None and self.waited >= self.patience

    def restore_best(self) -> bool:
        """Load the best epoch's weights (with a patience); True if it did."""
        if self._best_state is None:
            return False
        self.model.load_state_dict(self._best_state)
        return True
