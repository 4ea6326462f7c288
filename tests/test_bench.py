import json

from ftkit.bench import recipes, runner
from ftkit.tools import cli


def test_plan_runs_foundation_methods_everywhere_and_toolkit_methods_at_one_k():
    runs = runner.plan(["digits", "near"], [5, 10], [0, 1], ["scratch", "finetune", "l2sp"])
    assert ("scratch", "near", 5, 1) in runs and ("finetune", "digits", 10, 0) in runs
    assert {r for r in runs if r[0] == "l2sp"} == {
        ("l2sp", "digits", 10, 0),
        ("l2sp", "digits", 10, 1),
    }
    assert len(runs) == 2 * 2 * 2 * 2 + 2


def test_table_and_headline_summarise_records():
    records = [
        {"target": "digits", "method": m, "k": 10, "seed": s, "accuracy": a, "seconds": 1.0}
        for m, accs in {
            "finetune": (0.95, 0.93),
            "scratch": (0.85, 0.87),
            "linear_probe": (0.9, 0.9),
            "linear_probe_random_init": (0.85, 0.85),
        }.items()
        for s, a in enumerate(accs)
    ]
    text = runner.table(records)
    assert "finetune" in text and "94.0%" in text and "86.0%" in text
    head = runner.headline(records)
    assert "+8.0 points (bar: +7) -> holds" in head
    assert "+5.0 points (bar: +10) -> DOES NOT HOLD" in head


def test_recipe_records_carry_forgetting_and_a_high_lr_forgets_more():
    high = recipes.run("high_lr", "near", k=5, seed=0, epochs=3)
    small = recipes.run("finetune", "near", k=5, seed=0, epochs=3)
    assert set(high) >= {
        "target",
        "method",
        "k",
        "seed",
        "accuracy",
        "seconds",
        "source_accuracy_after",
    }
    assert high["target"] == "near" and high["k"] == 5 and 0.0 <= high["accuracy"] <= 1.0
    # measured: 0.48 after LR 0.2 vs 0.9965 after LR 0.01 (3 epochs, 6 steps)
    assert small["source_accuracy_after"] > 0.95
    assert high["source_accuracy_after"] < small["source_accuracy_after"] - 0.25


def test_bench_cli_writes_json_records(tmp_path, capsys):
    out = tmp_path / "runner.json"
    assert (
        cli.main(
            [
                "bench",
                "--targets",
                "digits",
                "--ks",
                "5",
                "--seeds",
                "0",
                "--methods",
                "linear_probe",
                "linear_probe_random_init",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    records = json.loads(out.read_text())
    assert [r["method"] for r in records] == ["linear_probe", "linear_probe_random_init"]
    assert records[0]["accuracy"] > records[1]["accuracy"]  # pretrained features beat random ones
    assert "linear_probe" in capsys.readouterr().out


def test_random_init_recipes_do_not_depend_on_earlier_random_draws():
    import torch

    first = recipes.run("linear_probe_random_init", "digits", k=2, seed=3, probe_epochs=5)
    torch.rand(1000)  # whatever ran before must not change the random init
    second = recipes.run("linear_probe_random_init", "digits", k=2, seed=3, probe_epochs=5)
    assert first["accuracy"] == second["accuracy"]


def test_bitfit_and_lora_records_carry_trainable_params_and_forgetting():
    records = {
        m: recipes.run(m, "near", k=5, seed=0, epochs=2) for m in ("lora", "bitfit", "finetune")
    }
    # LoRA rank 4 on the 12 convolutions: 4 * (c_in * 3 * 3 + c_out) each (1x1 shortcuts:
    # c_in + c_out), plus the 10-class head (1,290); BitFit: the batch norms' 1,440 + the head
    assert records["lora"]["trainable_params"] == 17_974
    assert records["bitfit"]["trainable_params"] == 1_440 + 1_290
    assert records["finetune"]["trainable_params"] == 308_826
    for r in records.values():
        assert 0.0 <= r["source_accuracy_after"] <= 1.0 and 0.0 <= r["accuracy"] <= 1.0
    text = runner.table([{**r, "method": m} for m, r in records.items()])
    assert "trainable" in text and "17,974" in text


def test_headline_says_whether_lora_is_within_a_few_points_of_full_fine_tuning():
    def record(method, seed, accuracy, source, trainable):
        return {
            "target": "digits",
            "k": 10,
            "method": method,
            "seed": seed,
            "seconds": 1.0,
            "accuracy": accuracy,
            "source_accuracy_after": source,
            "trainable_params": trainable,
        }

    records = [record("finetune", s, 0.97, 0.90, 300_000) for s in range(3)]
    close = records + [record("lora", s, 0.955, 0.99, 15_000) for s in range(3)]
    line = runner.lora_line(close)
    assert "-1.5 points" in line and "5.0% of its trainable parameters -> holds" in line
    assert "lora 99.0%, finetune 90.0%" in line
    far = records + [record("lora", s, 0.90, 0.99, 15_000) for s in range(3)]
    assert "DOES NOT HOLD" in runner.headline(far)
    assert runner.lora_line(records) is None


def test_real_bench_tunes_on_validation_and_pairs_seeds(monkeypatch):
    """The real-model bench on scikit-image's textures (no Debian data needed), tiny budgets;
    one LR for the trained methods (a grid of one is allowed), two for the probes."""
    from ftkit.bench import real

    monkeypatch.setitem(real.SIZES, "textures", 32)
    s = real.RealSettings(steps=2, finetune_lrs=(1e-3,), scratch_lrs=(1e-3,))
    s = real.replace(s, probe_lrs=(0.03, 0.3), probe_epochs=20)
    comparison = real.compare_target("textures", 5, [0, 1, 2], s)
    assert set(comparison.chosen) == set(real.METHODS)
    for method, params in comparison.chosen.items():  # the chosen LR has the best mean val
        by_lr: dict[float, list[float]] = {}
        for t in comparison.trials:
            if t.method == method:
                by_lr.setdefault(t.params["lr"], []).append(t.scores["val"])
        assert max(by_lr, key=lambda lr: sum(by_lr[lr])) == params["lr"]
        assert len(comparison.scores(method)) == 3
    text = real.report("textures", 5, comparison)
    assert "finetune" in text and "paired over 3 seeds" in text or "no measurable" in text


def test_real_bench_refuses_synthetic_targets(capsys):
    assert cli.main(["bench", "--real", "--targets", "digits"]) == 2
    assert "tux" in capsys.readouterr().out
