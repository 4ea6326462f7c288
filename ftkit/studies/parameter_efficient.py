"""Parameter-efficient fine-tuning, measured: which parameters to train, what each choice costs
in trainable parameters, stored bytes, target accuracy and forgetting.

Every method trains the same model (the embedded backbone with a new head) with the same
optimizer (SGD + Nesterov, cosine) for the same number of optimizer steps; they differ only in
*which* parameters train. Each method's LR is chosen on validation from one grid
(``ftkit.protocol``). The full sweep takes minutes, so it is run once by ``main`` and stored in
``results/parameter_efficient_sweep.json``; the lesson re-runs part of it live and checks it.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from peft import LoraConfig, get_peft_model
from torch import nn

from ftkit import adapters, data, evaluation, exercises, freezing, models, plots, protocol, training

STEPS = 60  # optimizer steps per run: 15 epochs of 4 batches at k=10
BATCH_SIZE = 32
#: The LR grid of each optimizer: 4 settings each, so every method has the same search budget.
GRIDS = {"adamw": (0.001, 0.003, 0.01, 0.03), "sgd": (0.003, 0.01, 0.03, 0.1)}
SEEDS = (0, 1, 2)
RANKS = (1, 4, 16)
ALPHA = 4.0  # LoRA's alpha, the same for every rank: scale alpha / r (1 at rank 4)
#: Where LoRA adapts: layer groups (``None``: every group but the head).
LAYERS: dict[str, tuple[str, ...] | None] = {
    "layer4": ("layer4",),
    "layer3-4": ("layer3", "layer4"),
    "all": None,
}
RESULTS = Path(__file__).parent / "results" / "parameter_efficient_sweep.json"


@dataclass(frozen=True)
class Method:
    """Which parameters train (``kind``: probe, bitfit, lora, freeze or full), and with which
    optimizer (``"adamw"``, or ``"sgd"`` with Nesterov momentum)."""

    kind: str
    rank: int = 0
    layers: str = "all"  # a key of LAYERS (LoRA only)
    frozen: int = 0  # layer groups frozen from the input (freeze only)
    optimizer: str = "adamw"

    @property
    def name(self) -> str:
        name = {
            "probe": "linear probe",
            "bitfit": "BitFit",
            "lora": f"LoRA r={self.rank} {self.layers}",
            "freeze": f"freeze {self.frozen}",
            "full": "full fine-tune",
        }[self.kind]
        return name if self.optimizer == "adamw" else f"{name} ({self.optimizer.upper()})"

    def prepare(self, model: nn.Module, seed: int = 0, adapter_name: str = "default") -> nn.Module:
        """``model`` (new head on) with only this method's parameters trainable."""
        if self.kind == "probe":
            freezing.freeze_to(model, -1)
        elif self.kind == "bitfit":
            adapters.bitfit(model)
        elif self.kind == "freeze":
            freezing.freeze_to(model, self.frozen)
        elif self.kind == "lora":
            torch.manual_seed(seed)  # the A matrices are random
            return adapters.lora(
                model,
                self.rank,
                layers=LAYERS[self.layers],
                alpha=ALPHA,
                adapter_name=adapter_name,
            )
        elif self.kind != "full":
            raise ValueError(
                f"unknown kind {self.kind!r}; one of probe, bitfit, lora, freeze, full"
            )
        return model


def methods() -> dict[str, Method]:
    """Every method of the sweep, by name."""
    every = [Method("probe"), Method("bitfit")]
    every += [Method("lora", rank=r, layers=where) for where in LAYERS for r in RANKS]
    every += [Method("freeze", frozen=4), Method("freeze", frozen=2), Method("full")]
    every += [Method("lora", rank=4, optimizer="sgd"), Method("full", optimizer="sgd")]
    return {m.name: m for m in every}


def new_model(
    num_classes: int, seed: int
) -> tuple[nn.Module, nn.Module, dict, models.BackboneInfo]:
    """Pretrained backbone with a seeded new head, its source head and pretrained state."""
    torch.manual_seed(seed)
    model, info = models.load_backbone("embedded")
    source_head = evaluation.keep_source_head(model)
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    models.replace_head(model, num_classes, seed=seed)
    return model, source_head, reference, info


def train(
    method: Method,
    *,
    seed: int,
    lr: float,
    target: str = "digits",
    k: int = 10,
    source_loader: Any = None,
    adapter_name: str = "default",
) -> tuple[dict[str, float], nn.Module]:
    """One run from a fresh pretrained model: scores (``val``, ``test``, ``source``,
    ``trainable``, ``bytes``, ``seconds_per_epoch``, ``diverged``) and the trained model."""
    splits = data.load_target(target, k=k, seed=seed)
    fresh, source_head, reference, info = new_model(len(splits.classes), seed)
    model = method.prepare(fresh, seed, adapter_name)
    train_loader, val_loader, test_loader = data.make_loaders(
        splits, info, batch_size=BATCH_SIZE, seed=seed
    )
    epochs = protocol.epochs_for_steps(STEPS, len(splits.train), BATCH_SIZE)
    history = training.fit(
        model,
        train_loader,
        None,
        epochs=epochs,
        lr=lr,
        optimizer=method.optimizer,
        schedule="cosine",
        seed=seed,
        on_divergence="stop",
    )
    loader = source_loader if source_loader is not None else evaluation.source_loader(info)
    scores = {
        "val": training.evaluate(model, val_loader)[1],
        "test": evaluation.accuracy(model, test_loader),
        "source": evaluation.source_task_accuracy(model, source_head, info, loader=loader),
        "trainable": adapters.trainable_parameters(model),
        "bytes": adapters.task_bytes(model, reference),
        "seconds_per_epoch": statistics.fmean(history.seconds) if len(history) else float("nan"),
        "diverged": float(history.diverged),
    }
    return scores, model


def _scores(method: Method, source_loader: Any, *, seed: int, lr: float) -> dict[str, float]:
    return train(method, seed=seed, lr=lr, source_loader=source_loader)[0]


# --- the stored sweep ----------------------------------------------------------------------


def run_sweep(path: Path = RESULTS, names: Sequence[str] | None = None) -> protocol.Comparison:
    """Tune every method on validation over its optimizer's LR grid x ``SEEDS``
    (``protocol.tune``), saving the trials to ``path`` after each method; methods already in
    the file are skipped, so an interrupted sweep resumes."""
    _, info = models.load_backbone("embedded")
    loader = evaluation.source_loader(info)
    stored = json.loads(path.read_text()) if path.exists() else _empty_sweep()
    done = {t["method"] for t in stored["trials"]}
    for name, method in methods().items():
        if (names and name not in names) or name in done:
            continue
        grid = [{"lr": lr} for lr in GRIDS[method.optimizer]]
        _, trials = protocol.tune(partial(_scores, method, loader), grid, SEEDS, method=name)
        stored["trials"] += [
            {"method": name, **t.params, "seed": t.seed, **t.scores} for t in trials
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored, indent=0))
        print(f"{name}: {len(trials)} runs stored", flush=True)
    return load_sweep(path)


def _empty_sweep() -> dict:
    return {
        "meta": {
            "command": "python -m ftkit.studies.parameter_efficient",
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
            "steps": STEPS,
            "batch_size": BATCH_SIZE,
            "grids": {name: list(lrs) for name, lrs in GRIDS.items()},
            "seeds": list(SEEDS),
        },
        "trials": [],
    }


def load_sweep(path: Path = RESULTS) -> protocol.Comparison:
    """The stored sweep as a ``protocol.Comparison``: each method's LR chosen on validation by
    ``protocol.tune`` itself (replaying the stored trials, no training)."""
    if not path.exists():
        raise FileNotFoundError(
            f"no stored sweep at {path}; make it with `python -m ftkit.studies.parameter_efficient`"
        )
    stored = json.loads(path.read_text())
    seeds = tuple(stored["meta"]["seeds"])
    result = protocol.Comparison(seeds)
    by_key = {(t["method"], t["lr"], t["seed"]): t for t in stored["trials"]}
    for name in dict.fromkeys(t["method"] for t in stored["trials"]):
        lrs = dict.fromkeys(t["lr"] for t in stored["trials"] if t["method"] == name)
        grid = [{"lr": lr} for lr in lrs]  # in the order it was run: ties go to the first

        def replay(*, seed: int, lr: float, name: str = name) -> Mapping[str, float]:
            trial = by_key[(name, lr, seed)]
            return {k: v for k, v in trial.items() if k not in ("method", "lr", "seed")}

        result.chosen[name], trials = protocol.tune(replay, grid, seeds, method=name)
        result.trials += trials
    return result


# --- tables and figures --------------------------------------------------------------------

KIND_COLORS = {"probe": "C7", "bitfit": "C2", "lora": "C0", "freeze": "C1", "full": "C3"}


def summary(comparison: protocol.Comparison, pretrained_source: float) -> list[dict[str, Any]]:
    """One row per method at its chosen LR: costs, mean and spread over seeds, forgetting in
    points (pretrained source accuracy minus the source accuracy afterwards)."""
    rows = []
    for name, chosen in comparison.chosen.items():
        test, source = comparison.scores(name, "test"), comparison.scores(name, "source")
        rows.append(
            {
                "method": name,
                "kind": methods()[name].kind,
                "lr": chosen["lr"],
                "trainable": int(comparison.scores(name, "trainable")[0]),
                "bytes": int(comparison.scores(name, "bytes")[0]),
                "test": 100 * statistics.fmean(test),
                "test_sd": 100 * statistics.stdev(test),
                "source": 100 * statistics.fmean(source),
                "forgetting": 100 * (pretrained_source - statistics.fmean(source)),
                "seconds_per_epoch": statistics.fmean(comparison.scores(name, "seconds_per_epoch")),
            }
        )
    return rows


def efficiency_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The comparison as fixed-width text (accuracies in %, storage in KB)."""
    lines = [
        f"{'method':<20}{'LR':>6}{'trainable':>11}{'KB/task':>9}{'digits test':>15}"
        f"{'source after':>14}{'forgot':>8}"
    ]
    for r in rows:
        lines.append(
            f"{r['method']:<20}{r['lr']:>6g}{r['trainable']:>11,}{r['bytes'] / 1024:>9.1f}"
            f"{r['test']:>8.1f} ± {r['test_sd']:3.1f}{r['source']:>13.1f}%{r['forgetting']:>8.1f}"
        )
    return "\n".join(lines)


def efficiency_plot(
    rows: Sequence[Mapping[str, Any]], ax: Axes | None = None, *, highlight: str | None = None
) -> Figure:
    """Test accuracy against trainable parameters (log x); a marker's area grows with the
    forgetting, its colour is the family; ``highlight`` is ringed in black."""
    fig, ax = plots.new_axes(ax, (7.5, 4.2))
    for r in rows:
        size = 25 + 12 * max(r["forgetting"], 0.0)
        edge = "k" if r["method"] == highlight else "none"
        ax.errorbar(
            r["trainable"],
            r["test"],
            yerr=r["test_sd"],
            color=KIND_COLORS[r["kind"]],
            alpha=0.4,
            capsize=2,
            linestyle="none",
        )
        ax.scatter(
            r["trainable"],
            r["test"],
            s=size,
            color=KIND_COLORS[r["kind"]],
            alpha=0.8,
            edgecolors=edge,
            linewidths=2,
            zorder=3,
        )
        ax.annotate(
            r["method"],
            (r["trainable"], r["test"]),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    for kind, color in KIND_COLORS.items():
        ax.scatter([], [], color=color, s=30, label=kind)
    for points in (1, 10, 40):
        ax.scatter([], [], color="0.6", s=25 + 12 * points, label=f"forgot {points} points")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel("digits test accuracy (%, mean ± std)")
    ax.legend(fontsize=7, loc="lower right", ncols=2)
    return fig


def learning_forgetting_plot(
    comparison: protocol.Comparison, names: Sequence[str], ax: Axes | None = None
) -> Figure:
    """Target accuracy against source accuracy afterwards, one point per LR of the grid (mean
    over seeds), one line per method: who learns more for the same forgetting."""
    fig, ax = plots.new_axes(ax, (5.5, 4.2))
    for i, name in enumerate(names):
        points = []
        for lr in sorted({t.params["lr"] for t in comparison.trials if t.method == name}):
            trials = [t for t in comparison.trials if t.method == name and t.params["lr"] == lr]
            points.append(
                (
                    lr,
                    *(
                        100 * statistics.fmean(t.scores[k] for t in trials)
                        for k in ("source", "test")
                    ),
                )
            )
        lrs, source, test = zip(*points)
        ax.plot(source, test, marker="o", color=f"C{i}", label=name)
        for lr, x, y in points:
            ax.annotate(f"{lr:g}", (x, y), fontsize=7, xytext=(3, -9), textcoords="offset points")
    ax.set_xlabel("source-task accuracy afterwards (%): right = forgot less")
    ax.set_ylabel("digits test accuracy (%)")
    ax.set_title("each point: one LR of the grid (mean of 3 seeds)", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def lora_view(
    rows: Sequence[Mapping[str, Any]], rank: int, layers: str, model: nn.Module
) -> Figure:
    """The explorer: where LoRA of ``rank`` on ``layers`` sits among all methods (left), and
    where its trainable parameters are, per layer group (right, log scale)."""
    if layers not in LAYERS:
        raise ValueError(f"layers must be one of {list(LAYERS)}, got {layers!r}")
    name = Method("lora", rank=rank, layers=layers).name
    fig = Figure(figsize=(12, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.6, 1])
    efficiency_plot(rows, left, highlight=name)
    adapted = adapters.lora(copy.deepcopy(model), rank, layers=LAYERS[layers])
    summary_rows = freezing.trainable_summary(adapted)[::-1]  # input at the top
    labels = [r["name"] for r in summary_rows]
    right.barh(
        labels,
        [r["params"] - r["trainable"] for r in summary_rows],
        color="0.85",
        label="frozen (pretrained, shared)",
    )
    right.barh(
        labels,
        [max(r["trainable"], 0.5) for r in summary_rows],
        color="C0",
        label="trainable (stored per task)",
    )
    right.legend(fontsize=7, loc="lower right")
    right.set_xscale("log")
    right.set_xlim(0.8, 5e5)
    total = sum(r["trainable"] for r in summary_rows)
    row = next((r for r in rows if r["method"] == name), None)
    measured = f", test {row['test']:.1f}%, forgot {row['forgetting']:.1f} pts" if row else ""
    right.set_title(f"{name}: {total:,} trainable{measured}", fontsize=9)
    right.set_xlabel("trainable parameters per layer group (log)")
    return fig


def latency(model: nn.Module, images: torch.Tensor, repeats: int = 7) -> float:
    """Median seconds of one forward pass over ``images`` (eval mode, no grad)."""
    model.eval()
    times = []
    with torch.no_grad():
        model(images)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model(images)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def epoch_seconds(method: Method, splits: data.Splits, info: models.BackboneInfo) -> float:
    """Seconds of one training epoch of ``method`` on this machine (the faster of two)."""
    model, _, _, _ = new_model(len(splits.classes), 0)
    model = method.prepare(model)
    train_loader, _, _ = data.make_loaders(splits, info, batch_size=BATCH_SIZE)
    history = training.fit(model, train_loader, epochs=2, lr=1e-3, optimizer=method.optimizer)
    return min(history.seconds)


def agreement(stored: protocol.Comparison, live: Mapping[str, Sequence[Mapping]]) -> float:
    """Largest difference, in points, between live runs (``live[name][i]`` is seed
    ``stored.seeds[i]`` at the chosen LR) and the stored trials, over test and source accuracy."""
    worst = 0.0
    for name, runs in live.items():
        for metric in ("test", "source"):
            for a, b in zip(stored.scores(name, metric), (r[metric] for r in runs)):
                worst = max(worst, 100 * abs(a - b))
    return worst


# --- exercises ------------------------------------------------------------------------------


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run (or resume) the lesson 09 sweep.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--methods", nargs="*", help="only these methods (default: all)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # stored numbers reproduce bit for bit single-threaded
    comparison = run_sweep(args.out, args.methods)
    print(comparison.table(("val", "test", "source")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
