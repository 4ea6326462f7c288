"""Lesson 09's exercises: each reference solution passes its checker, wrong answers fail; and the
stored sweep the lesson reads is complete and replays the protocol's choice.

The checkers and the expected answers live in ``ftkit.studies.parameter_efficient``; the
notebook calls the same functions.
"""

from __future__ import annotations

import statistics

import pytest

from ftkit import evaluation, models
from ftkit.studies import parameter_efficient as pe

# Exercise 3's reference: 3x LoRA's chosen LR collapses training (measured in the stored sweep:
# digits test 14.7% at 0.03 vs 94.2% at 0.01, every seed), so "lower" clears its spread.
EXERCISE3_LR, EXERCISE3_ANSWER = 0.03, "lower"


@pytest.fixture(scope="module")
def sweep():
    return pe.load_sweep()


@pytest.fixture(scope="module")
def rows(sweep):
    backbone, info = models.load_backbone("embedded")
    head = evaluation.keep_source_head(backbone)
    return pe.summary(sweep, evaluation.source_task_accuracy(backbone, head, info))


def test_the_stored_sweep_is_complete_and_replays_the_validation_choice(sweep):
    assert set(sweep.chosen) == set(pe.methods())
    for name, method in pe.methods().items():
        trials = [t for t in sweep.trials if t.method == name]
        grid = pe.GRIDS[method.optimizer]
        assert sorted((t.params["lr"], t.seed) for t in trials) == sorted(
            (lr, s) for lr in grid for s in pe.SEEDS
        )
        mean_val = {
            lr: statistics.fmean(t.scores["val"] for t in trials if t.params["lr"] == lr)
            for lr in grid
        }
        assert mean_val[sweep.chosen[name]["lr"]] == max(mean_val.values())


def test_summary_costs_follow_from_the_methods(rows):
    by_name = {r["method"]: r for r in rows}
    for name, row in by_name.items():
        if pe.methods()[name].kind == "lora":
            assert row["bytes"] == 4 * row["trainable"]  # float32 A, B and the head: all stored
    assert by_name["linear probe"]["trainable"] == 1_290
    assert by_name["full fine-tune"]["trainable"] == 308_826
    assert by_name["linear probe"]["forgetting"] == pytest.approx(0.0, abs=1e-6)


def test_exercise1_lora_parameter_count():
    assert pe.check_lora_count(lambda c_in, c_out, k, r: r * (c_in * k * k + c_out))
    assert not pe.check_lora_count(lambda c_in, c_out, k, r: r * (c_in + c_out))  # no kernel
    assert not pe.check_lora_count(lambda c_in, c_out, k, r: c_in * c_out * k * k)  # all of W
    assert not pe.check_lora_count(lambda c_in, c_out, k, r: None)  # the placeholder
    assert not pe.check_lora_count(None)


def test_exercise2_storage_for_many_tasks(rows):
    kb = {r["method"]: r["bytes"] / 1024 for r in rows}
    backbone_kb = kb["full fine-tune"]  # a fully fine-tuned model changed every entry: its size
    lora = (backbone_kb + 100 * kb["LoRA r=4 all"]) / 1024
    full = 100 * kb["full fine-tune"] / 1024
    assert pe.check_storage(lora, full, rows)
    assert not pe.check_storage(100 * kb["LoRA r=4 all"] / 1024, full, rows)  # no backbone
    assert not pe.check_storage(lora, 100 * kb["LoRA r=4 all"] / 1024, rows)
    assert not pe.check_storage(None, None, rows)


def test_exercise3_rejects_bad_settings_before_training():
    # a missing or unchanged setting, or an unknown prediction, is answered at once
    baseline = [{"test": 0.9}] * 3
    assert not pe.check_prediction(None, None, baseline=baseline, baseline_lr=0.01)
    assert not pe.check_prediction(0.01, "lower", baseline=baseline, baseline_lr=0.01)
    assert not pe.check_prediction(0.03, "much lower", baseline=baseline, baseline_lr=0.01)


def test_exercise3_predict_then_measure(sweep):
    name = "LoRA r=4 all"
    chosen = sweep.chosen[name]["lr"]
    baseline = [{"test": s} for s in sweep.scores(name, "test")]
    measured = pe.measure_lr(EXERCISE3_LR, baseline=baseline)  # 3 training runs
    common = {"baseline": baseline, "baseline_lr": chosen, "measured": measured}
    assert pe.check_prediction(EXERCISE3_LR, EXERCISE3_ANSWER, **common)
    for wrong in set(pe.PREDICTIONS) - {EXERCISE3_ANSWER}:
        assert not pe.check_prediction(EXERCISE3_LR, wrong, **common)
