"""Lesson 09's exercise checkers: the expected answers live here (computed from peft, the
stored sweep, or a live measurement), never in the learner's cell."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from peft import LoraConfig, get_peft_model
from torch import nn

from ftkit import adapters, exercises, models, protocol
from ftkit.studies.parameter_efficient.runs import SEEDS, Method, train


def _peft_count(c_in: int, c_out: int, kernel: int, rank: int) -> int:
    """LoRA's parameter count for one convolution, as peft builds it (the reference)."""
    conv = nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False))
    config = LoraConfig(r=rank, lora_alpha=rank, target_modules=["0"])
    return adapters.trainable_parameters(get_peft_model(conv, config))


def check_lora_count(formula: Any) -> bool:
    """Exercise 1: ``formula(c_in, c_out, kernel, rank)`` must give LoRA's parameter count for
    a ``kernel x kernel`` convolution, checked against peft on several shapes."""
    name, hint = "LoRA parameters of a convolution", "A maps c_in*k*k inputs to r; B is 1x1."
    if not callable(formula):
        return exercises.check(name, formula, "a function", hint="define a function of 4 numbers")
    for shape in ((16, 32, 3, 4), (64, 128, 1, 1), (3, 16, 3, 16), (128, 128, 3, 2)):
        try:
            answer = formula(*shape)
        except Exception as exc:  # noqa: BLE001 -- a broken answer is wrong, not a crash
            answer = f"an error ({type(exc).__name__}: {exc})"
        if answer != _peft_count(*shape):
            where = f" (c_in, c_out, kernel, rank = {shape})"
            return exercises.check(name, answer, _peft_count(*shape), hint=hint + where)
    return exercises.check(name, True, True)


def check_storage(
    lora_mb: Any, full_mb: Any, rows: Sequence[Mapping[str, Any]], *, tasks: int = 100
) -> bool:
    """Exercise 2: megabytes (1 MB = 1024 KB) to serve ``tasks`` tasks with LoRA r=4 on all
    layers (one shared backbone + an adapter per task) and with full fine-tuning (a model per
    task), from the sweep's KB/task column and the backbone's size."""
    backbone, _ = models.load_backbone("embedded")
    shared = adapters.task_bytes(models.replace_head(backbone, 10), {})
    per_task = {r["method"]: r["bytes"] for r in rows}
    expected = (
        (shared + tasks * per_task["LoRA r=4 all"]) / 2**20,
        tasks * per_task["full fine-tune"] / 2**20,
    )
    hint = "LoRA: the backbone once (section 6 prints its size) plus one adapter per task."
    ok = exercises.check_close(lora_mb, expected[0], rel=0.02, name="LoRA, MB", hint=hint)
    hint = "full fine-tuning stores a whole model per task: the table's KB/task, times tasks."
    return exercises.check_close(full_mb, expected[1], rel=0.02, name="full, MB", hint=hint) and ok


PREDICTIONS = ("higher", "lower", "no measurable difference")


def measure_lr(
    lr: float, *, baseline: Sequence[Mapping], source_loader: Any = None
) -> protocol.Difference:
    """Exercise 3's experiment: LoRA r=4 on all layers at ``lr`` over ``SEEDS``, its digits
    test accuracy paired seed by seed with ``baseline`` (the same method at its chosen LR)."""
    method = Method("lora", rank=4, layers="all")
    runs = [train(method, seed=s, lr=lr, source_loader=source_loader)[0] for s in SEEDS]
    return protocol.paired_difference(
        [r["test"] for r in runs],
        [b["test"] for b in baseline],
        names=(f"LoRA at lr {lr:g}", "LoRA at the chosen lr"),
    )


def check_prediction(
    lr: Any,
    prediction: Any,
    *,
    baseline: Sequence[Mapping],
    baseline_lr: float,
    source_loader: Any = None,
    measured: protocol.Difference | None = None,
) -> bool:
    """Exercise 3: run the learner's LR (unless ``measured`` is given), then judge their
    prediction of the test accuracy against the measured paired difference."""
    if not isinstance(lr, (int, float)) or not 1e-5 <= lr <= 1 or lr == baseline_lr:
        hint = f"set lr to a number between 1e-5 and 1, other than the chosen {baseline_lr:g}."
        return exercises.check("your setting", lr, "a new learning rate", hint=hint)
    if prediction not in PREDICTIONS:  # checked before any training: a typo costs nothing
        return exercises.check_choice(prediction, None, PREDICTIONS, name="your prediction")
    diff = measured or measure_lr(lr, baseline=baseline, source_loader=source_loader)
    truth = "no measurable difference"
    if diff.clears:
        truth = "higher" if diff.mean > 0 else "lower"
    print(f"measured, digits test accuracy: {diff.verdict()}")
    return exercises.check_choice(
        prediction,
        truth,
        PREDICTIONS,
        name="your prediction",
        hint="Adam moves every entry of A and B by about the LR per step; how big are A's entries?",
    )
