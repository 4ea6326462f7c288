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
from ftkit.protocol import Difference, paired_difference

#: The three answers of a "change a setting, predict, then measure" exercise.
PREDICTIONS = ("higher", "lower", "no measurable difference")


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
    missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
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


def measured_outcome(difference: Difference) -> str:
    """``"higher"``, ``"lower"`` or ``"no measurable difference"``: what a paired difference
    (changed setting minus baseline) says once its spread is taken into account.

    >>> from ftkit.protocol import paired_difference
    >>> measured_outcome(paired_difference([0.9, 0.92, 0.91], [0.8, 0.83, 0.8]))
    'higher'
    >>> measured_outcome(paired_difference([0.9, 0.80, 0.91], [0.8, 0.93, 0.8]))
    'no measurable difference'
    """
    if not difference.clears:
        return PREDICTIONS[2]
    return PREDICTIONS[0] if difference.mean > 0 else PREDICTIONS[1]


def check_prediction(
    prediction: Any,
    measure: Callable[[], Difference],
    *,
    name: str = "prediction",
    hint: str | None = None,
) -> bool:
    """Judge a prediction made *before* an experiment by the experiment itself.

    ``prediction`` is one of ``PREDICTIONS``; ``measure()`` runs the learner's experiment and
    returns the paired difference (changed setting minus baseline, over seeds). It is called
    only once the prediction is valid, so an unanswered exercise costs nothing.
    """
    options = list(PREDICTIONS)
    answer = prediction.strip().lower() if isinstance(prediction, str) else prediction
    if answer not in options:
        return _report(name, False, f"predict first: {prediction!r} is not one of {options}.", hint)
    try:
        difference = measure()
    except Exception as exc:  # noqa: BLE001 -- a broken experiment is reported, not raised
        return _report(name, False, f"the experiment failed ({type(exc).__name__}: {exc}).", hint)
    outcome = measured_outcome(difference)
    print(f"measured: {difference} -> {outcome}")
    return _report(name, answer == outcome, f"you predicted {answer!r}; see the line above.", hint)


def check_change_prediction(
    prediction: Any,
    run: Callable[..., Mapping[str, float]],
    *,
    base: Mapping[str, Any],
    change: Mapping[str, Any],
    seeds: Sequence[int],
    metric: str = "test",
) -> bool:
    """Change a setting, predict, then measure: ``run(seed=..., **base)`` against
    ``run(seed=..., **base, **change)`` on every seed; the paired difference (changed minus
    base) judges the prediction ``"higher"``, ``"lower"`` or ``"no measurable difference"``."""
    if not change:
        print("❌ change one setting first, e.g. change = {'schedule': 'constant'}")
        return False

    def measure() -> Difference:
        changed = [run(seed=s, **{**base, **change})[metric] for s in seeds]
        baseline = [run(seed=s, **base)[metric] for s in seeds]
        label = ", ".join(f"{k}={v}" for k, v in change.items())
        return paired_difference(changed, baseline, names=(label, "as before"))

    return check_prediction(
        prediction,
        measure,
        name=f"prediction ({metric} accuracy)",
        hint="the measurement is the answer: read its paired difference and spread.",
    )


def predict_then_measure(
    prediction: Any,
    experiment: Callable[..., Mapping[str, float]],
    baseline: Sequence[float],
    *,
    seeds: Sequence[int],
    metric: str,
    name: str = "prediction",
    hint: str | None = None,
) -> bool:
    """Run ``experiment(seed=s)`` (the learner's changed setting) on ``seeds`` and judge
    ``prediction`` by its ``metric`` paired with ``baseline`` (the lesson's runs on the same
    seeds). Nothing runs before a valid prediction."""

    def measure() -> Difference:
        measured = [float(experiment(seed=s)[metric]) for s in seeds]
        return paired_difference(measured, list(baseline), names=("yours", "lesson"))

    return check_prediction(prediction, measure, name=name, hint=hint)
