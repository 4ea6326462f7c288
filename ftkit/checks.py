"""Small validators for ftkit's public functions: bad input is refused at the boundary, once,
before any work, with a message that names the problem, the value seen and the fix.

Every message reads ``<problem>; got <value>. Fix: <what to do>``. All errors are
``InputError``, a ``ValueError``, so ``except ValueError`` keeps working.

>>> whole_number("epochs", 3)
3
>>> whole_number("epochs", 1.5)
Traceback (most recent call last):
...
ftkit.checks.InputError: epochs must be a whole number, at least 1; got 1.5. Fix: pass epochs=2 \
or epochs=1.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import torch

__all__ = [
    "InputError",
    "fail",
    "fraction",
    "learning_rate",
    "optional",
    "real_number",
    "seed_value",
    "whole_number",
]


class InputError(ValueError):
    """An argument or a piece of data ftkit cannot use; the message says why and how to fix it."""


def fail(problem: str, seen: object, fix: str) -> InputError:
    """The error to raise: ``<problem>; got <seen>. Fix: <fix>`` (``seen`` shown with repr)."""
    shown = seen if isinstance(seen, _Shown) else repr(seen)
    return InputError(f"{problem}; got {shown}. Fix: {fix}")


class _Shown(str):
    """A value already written for the learner (not to be repr'ed again)."""


def shown(text: str) -> _Shown:
    """Mark ``text`` as the value seen, written as is in the message."""
    return _Shown(text)


def whole_number(
    name: str, value: object, *, minimum: int = 1, maximum: int | None = None, fix: str = ""
) -> int:
    """``value`` as an int if it is a whole number in ``[minimum, maximum]`` (bools refused)."""
    limits = f"at least {minimum}" + (f" and at most {maximum}" if maximum is not None else "")
    problem = f"{name} must be a whole number, {limits}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(problem, value, fix or f"pass a number, e.g. {name}={max(minimum, 1)}.")
    if not isinstance(value, numbers.Integral):
        if not math.isfinite(value):
            raise fail(problem, value, fix or f"pass a number, e.g. {name}={max(minimum, 1)}.")
        lo, hi = math.floor(value), math.ceil(value)
        options = [v for v in (hi, lo) if v >= minimum and (maximum is None or v <= maximum)]
        hint = " or ".join(f"{name}={v}" for v in dict.fromkeys(options)) or f"{name}={minimum}"
        raise fail(problem, value, fix or f"pass {hint}.")
    if value < minimum or (maximum is not None and value > maximum):
        closest = minimum if value < minimum else maximum
        raise fail(problem, value, fix or f"pass {name}={closest} or another value in range.")
    return int(value)


def real_number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    fix: str = "",
) -> float:
    """``value`` as a float if it is finite and within the bounds (open or closed)."""
    bounds = []
    if low is not None:
        bounds.append(f"{'above' if low_open else 'at least'} {low:g}")
    if high is not None:
        bounds.append(f"{'below' if high_open else 'at most'} {high:g}")
    problem = f"{name} must be a finite number" + (f", {' and '.join(bounds)}" if bounds else "")
    example = fix or f"pass a value in range, e.g. {name}={_example(low, high, low_open)}."
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(problem, value, example)
    value = float(value)
    if not math.isfinite(value):
        raise fail(problem, value, example)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise fail(problem, value, example)
    return value


def _example(low: float | None, high: float | None, low_open: bool) -> str:
    if low is not None and high is not None:
        return f"{(low + high) / 2:g}"
    if low is not None:
        return f"{low + 1 if low_open else low:g}"
    return f"{high:g}" if high is not None else "0"


def fraction(name: str, value: object, *, fix: str = "") -> float:
    """A share of something, strictly between 0 and 1."""
    return real_number(name, value, low=0, high=1, low_open=True, high_open=True, fix=fix)


def learning_rate(name: str, value: object) -> float | Mapping[str, float]:
    """One LR, or a dict of LRs by layer group; each finite and above 0."""
    fix = (
        f"a learning rate is a small positive number such as {name}=1e-3 (fine-tuning) or "
        f"{name}=0.05 (a new head); ftkit.lr_finder.lr_range_test helps to choose one."
    )
    if isinstance(value, Mapping):
        if not value:
            raise fail(f"{name} is an empty dict of learning rates", value, fix)
        for group, lr in value.items():
            real_number(f"{name}[{group!r}]", lr, low=0, low_open=True, fix=fix)
        return value
    return real_number(name, value, low=0, low_open=True, fix=fix)


def seed_value(name: str, value: object) -> int:
    """A random seed: a whole number, 0 or more (numpy refuses negative seeds)."""
    return whole_number(
        name, value, minimum=0, fix=f"pass a whole number 0 or more, e.g. {name}=0."
    )


def optional(check, name: str, value: object, **kwargs):
    """``None``, or ``value`` accepted by ``check`` (one of the validators above)."""
    return None if value is None else check(name, value, **kwargs)


def non_negative(name: str, value: object, *, fix: str = "") -> float:
    """A finite number, 0 or more (weight decay, strengths, probabilities' complements)."""
    return real_number(name, value, low=0, fix=fix or f"pass 0 to switch it off, e.g. {name}=0.")


def positive(name: str, value: object, *, fix: str = "") -> float:
    """A finite number above 0."""
    return real_number(name, value, low=0, low_open=True, fix=fix)


def probability(name: str, value: object) -> float:
    """A probability, 0 to 1."""
    return real_number(
        name, value, low=0, high=1, fix=f"pass a value from 0 to 1, e.g. {name}=0.5."
    )


def one_of(name: str, value: object, choices: tuple) -> object:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise fail(f"{name} must be one of {', '.join(map(repr, choices))}", value, "pick one.")
    return value


def is_tensor(name: str, value: object, *, ndim: int | None = None, floating: bool = False):
    """A tensor with ``ndim`` dimensions (floating point if asked)."""
    if not isinstance(value, torch.Tensor):
        raise fail(f"{name} must be a torch.Tensor", shown(type(value).__name__), _TENSOR_FIX)
    if ndim is not None and value.ndim != ndim:
        raise fail(
            f"{name} must have {ndim} dimension(s)",
            shown(f"shape {tuple(value.shape)}"),
            "check which tensor you passed.",
        )
    if floating and not value.is_floating_point():
        raise fail(
            f"{name} must be floating point", shown(str(value.dtype)), f"use {name}.float()."
        )
    return value


_TENSOR_FIX = "convert it with torch.as_tensor(...)."


def label_tensor(labels: object, n_images: int) -> torch.Tensor:
    """Integer class indices (N,), one per image."""
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.is_floating_point() or labels.dtype == torch.bool:
        raise fail(
            "labels must be integer class indices, one per image",
            shown(f"{labels.dtype} of shape {tuple(labels.shape)}"),
            "pass a (N,) integer tensor such as torch.tensor([0, 1, 1, 2]).",
        )
    if len(labels) != n_images:
        raise fail(
            "every image needs one label",
            shown(f"{n_images} images and {len(labels)} labels"),
            "pass as many labels as images.",
        )
    return labels


def augmentation(rotation, scale, translate, crop_padding, hflip, vflip, jitter) -> None:
    """The knobs of ``data.train_transforms``, each in its range."""
    real_number("rotation", rotation, low=0, high=180, fix="degrees, e.g. rotation=10.")
    if not (isinstance(scale, (tuple, list)) and len(scale) == 2):
        raise fail("scale must be a (low, high) pair", scale, "e.g. scale=(0.9, 1.1).")
    low = positive("scale[0]", scale[0], fix="e.g. scale=(0.9, 1.1).")
    real_number("scale[1]", scale[1], low=low, fix="high >= low, e.g. scale=(0.9, 1.1).")
    real_number("translate", translate, low=0, high=1, fix="a share of the size, e.g. 0.1.")
    whole_number("crop_padding", crop_padding, minimum=0)
    probability("hflip_prob", hflip)
    probability("vflip_prob", vflip)
    non_negative("color_jitter", jitter)
