"""The runs of lesson 09: which parameters each method trains, one training run, and the stored
sweep over methods x learning rates x seeds (``python -m ftkit.studies.parameter_efficient``).

Every method trains the same model (the embedded backbone with a new head) for the same number
of optimizer steps; they differ in *which* parameters train (and two rows in the optimizer).
Each method's LR is chosen on validation from a grid of the same size (``ftkit.protocol``).
"""

from __future__ import annotations

import argparse
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
from torch import nn

from ftkit import adapters, data, evaluation, freezing, models, protocol, training
from ftkit.devices import resolve_device

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
RESULTS = Path(__file__).parents[1] / "results" / "parameter_efficient_sweep.json"


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


def epoch_seconds(method: Method, splits: data.Splits, info: models.BackboneInfo) -> float:
    """Seconds of compute per training epoch of ``method``, the mean of two epochs.

    On the CPU: CPU time of one thread, which counts the work done, not the time spent waiting
    for other programs on a shared machine (several threads would add their spin-waits). On a
    GPU: wall time, synchronised."""
    model, _, _, _ = new_model(len(splits.classes), 0)
    model = method.prepare(model)
    train_loader, _, _ = data.make_loaders(splits, info, batch_size=BATCH_SIZE)
    device = resolve_device()
    threads = torch.get_num_threads()
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    torch.set_num_threads(1)
    try:
        start = clock()
        training.fit(model, train_loader, epochs=2, lr=1e-3, optimizer=method.optimizer)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (clock() - start) / 2
    finally:
        torch.set_num_threads(threads)


def agreement(stored: protocol.Comparison, live: Mapping[str, Sequence[Mapping]]) -> float:
    """Largest difference, in points, between live runs (``live[name][i]`` is seed
    ``stored.seeds[i]`` at the chosen LR) and the stored trials, over test and source accuracy."""
    worst = 0.0
    for name, runs in live.items():
        for metric in ("test", "source"):
            for a, b in zip(stored.scores(name, metric), (r[metric] for r in runs)):
                worst = max(worst, 100 * abs(a - b))
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run (or resume) the lesson 09 sweep.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--methods", nargs="*", help="only these methods (default: all)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # stored numbers reproduce bit for bit single-threaded
    comparison = run_sweep(args.out, args.methods)
    print(comparison.table(("val", "test", "source")))
    return 0
