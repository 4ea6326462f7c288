"""Self-checking exercises: each checker prints one ✅/❌ line and returns a bool.

Checkers never raise, so a wrong answer (or a broken one) does not stop the notebook. They do
not print the expected answer unless asked (``reveal=True``): the hint should lead there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ftkit import models
from ftkit.protocol import Difference


def _report(name: str, ok: bool, problem: str = "", hint: str | None = None) -> bool:
    if ok:
        print(f"✅ {name}: correct")
    else:
        print(f"❌ {name}: {problem}" + (f" Hint: {hint}" if hint else ""))
    return ok


def _equal(answer: Any, expected: Any, tol: float | None) -> bool:
    if isinstance(answer, (torch.Tensor, np.ndarray)) or isinstance(
        expected, (torch.Tensor, np.ndarray)
    ):
        a, e = np.asarray(torch.as_tensor(answer)), np.asarray(torch.as_tensor(expected))
        if a.shape != e.shape:
            return False
        return (
            bool(np.allclose(a, e, atol=tol or 0.0, rtol=0.0))
            if tol is not None
            else bool((a == e).all())
        )
    if tol is not None:
        return abs(float(answer) - float(expected)) <= tol
    return bool(answer == expected)


def check(
    name: str,
    answer: Any,
    expected: Any,
    *,
    tol: float | None = None,
    hint: str | None = None,
    reveal: bool = False,
) -> bool:
    """``answer == expected`` (within absolute ``tol`` for numbers, tensors and arrays).

    >>> check("number of classes", 10, 10)
    ✅ number of classes: correct
    True
    """
    try:
        ok = _equal(answer, expected, tol)
    except Exception as exc:  # noqa: BLE001 -- a malformed answer is wrong, not a crash
        return _report(
            name, False, f"could not compare your answer ({type(exc).__name__}: {exc}).", hint
        )
    problem = f"got {answer!r}" + (f", expected {expected!r}." if reveal else ".")
    return _report(name, ok, problem, hint)


def check_close(
    answer: float,
    expected: float,
    *,
    rel: float = 0.05,
    abs_tol: float = 0.0,
    name: str = "value",
    hint: str | None = None,
    reveal: bool = False,
) -> bool:
    """``answer`` within a relative ``rel`` (or absolute ``abs_tol``) of ``expected``."""
    try:
        ok = math.isclose(float(answer), float(expected), rel_tol=rel, abs_tol=abs_tol)
    except (TypeError, ValueError) as exc:
        return _report(name, False, f"expected a number, got {answer!r} ({exc}).", hint)
    problem = f"got {float(answer):.4g}, which is not within {rel:.0%}" + (
        f" of {float(expected):.4g}." if reveal else " of the answer."
    )
    return _report(name, ok, problem, hint)


def check_choice(
    answer: Any,
    correct: Any,
    options: Sequence[Any],
    *,
    name: str = "choice",
    hint: str | None = None,
) -> bool:
    """A multiple-choice answer; strings compare without case or surrounding spaces."""

    def norm(v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    if norm(answer) not in [norm(o) for o in options]:
        return _report(name, False, f"{answer!r} is not one of the options {list(options)}.", hint)
    return _report(name, norm(answer) == norm(correct), f"{answer!r} is not the best option.", hint)


def group_state(model: nn.Module, groups: Mapping[str, nn.Module] | None = None) -> dict[str, str]:
    """Each layer group's state: ``"trainable"``, ``"frozen"`` or ``"partial"``."""
    groups = groups if groups is not None else models.layer_groups(model)
    state = {}
    for name, module in groups.items():
        flags = [p.requires_grad for p in module.parameters()]
        state[name] = (
            "trainable" if flags and all(flags) else "frozen" if not any(flags) else "partial"
        )
    return state


def check_frozen(
    model: nn.Module,
    expected_trainable_groups: Iterable[str],
    *,
    groups: Mapping[str, nn.Module] | None = None,
    name: str = "frozen layers",
    hint: str | None = None,
) -> bool:
    """Exactly ``expected_trainable_groups`` are trainable; every other group is frozen."""
    try:
        state = group_state(model, groups)
    except Exception as exc:  # noqa: BLE001 -- report, never stop the notebook
        return _report(name, False, f"could not read the model's layer groups ({exc}).", hint)
    expected = set(expected_trainable_groups)
    wrong = [
        f"{g} is {s}"
        for g, s in state.items()
        if (g in expected) != (s == "trainable") or s == "partial"
    ]
    unknown = expected - set(state)
    if unknown:
        wrong.append(f"no group named {sorted(unknown)} (groups: {list(state)})")
    return _report(name, not wrong, "; ".join(wrong) + ".", hint)


def check_head(
    model: nn.Module, num_classes: int, *, name: str = "new head", hint: str | None = None
) -> bool:
    """The head ends in a trainable ``nn.Linear`` with ``num_classes`` outputs."""
    try:
        _, head = models.head_of(model)
    except TypeError as exc:
        return _report(name, False, str(exc), hint)
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    if not linears:
        return _report(name, False, f"the head is {type(head).__name__}, with no nn.Linear.", hint)
    out = linears[-1].out_features
    if out != num_classes:
        return _report(
            name, False, f"the head has {out} outputs; the task has {num_classes} classes.", hint
        )
    if not all(p.requires_grad for p in head.parameters()):
        return _report(name, False, "the head is frozen: it could not learn.", hint)
    return _report(name, True)


def check_param_groups(
    optimizer: torch.optim.Optimizer,
    model: nn.Module,
    *,
    name: str = "optimizer parameter groups",
    hint: str | None = None,
) -> bool:
    """Every trainable parameter of ``model`` is in exactly one optimizer group, and nothing
    from outside the model is."""
    names = {id(p): n for n, p in model.named_parameters()}
    seen: dict[int, int] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            seen[id(p)] = seen.get(id(p), 0) + 1
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    missing = [names[i] for i in trainable if i not in seen]
    twice = [names.get(i, "?") for i, c in seen.items() if c > 1]
    foreign = [i for i in seen if i not in names]
    problems = []
    if missing:
        problems.append(f"{len(missing)} trainable parameters in no group (e.g. {missing[0]})")
    if twice:
        problems.append(f"{len(twice)} parameters in more than one group (e.g. {twice[0]})")
    if foreign:
        problems.append(f"{len(foreign)} parameters that are not the model's")
    return _report(name, not problems, "; ".join(problems) + ".", hint)


# --- predict, then measure ------------------------------------------------------------------

#: What a "predict, then measure" exercise asks: how will A compare with B?
OUTCOMES = ("better", "worse", "no measurable difference")


def measured_outcome(difference: Difference) -> str:
    """``"better"``/``"worse"`` where the paired difference A - B clears its spread, else
    ``"no measurable difference"`` (``ftkit.protocol``'s rule for making a claim).

    >>> from ftkit.protocol import paired_difference
    >>> measured_outcome(paired_difference([0.8, 0.82, 0.81], [0.9, 0.91, 0.9]))
    'worse'
    """
    if not difference.clears:
        return "no measurable difference"
    return "better" if difference.mean > 0 else "worse"


def check_prediction(
    prediction: Any,
    measure: Callable[[], Difference],
    *,
    name: str = "prediction",
    hint: str | None = None,
) -> bool:
    """A "change a setting, predict, then measure" exercise: ``prediction`` (one of
    ``OUTCOMES``) is judged by the experiment ``measure()`` runs, not by a stored answer.

    The prediction is checked first, so a missing one costs no training.

    >>> from ftkit.protocol import paired_difference
    >>> check_prediction("worse", lambda: paired_difference([0.8, 0.82, 0.81], [0.9, 0.91, 0.9]))
    measured: B beats A by 9.3 ± 0.6 points (paired over 3 seeds)
    ✅ prediction: correct
    True
    """
    said = prediction.strip().lower() if isinstance(prediction, str) else prediction
    if said not in OUTCOMES:
        problem = f"{prediction!r} is not one of {list(OUTCOMES)}: predict before you measure."
        return _report(name, False, problem, hint)
    try:
        difference = measure()
    except Exception as exc:  # noqa: BLE001 -- report, never stop the notebook
        return _report(name, False, f"the experiment failed ({type(exc).__name__}: {exc}).", hint)
    print(f"measured: {difference.verdict()}")
    outcome = measured_outcome(difference)
    problem = f"you predicted {said!r}; the measurement says {outcome!r}."
    return _report(name, said == outcome, problem, hint)
