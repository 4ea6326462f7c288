"""``ftkit bench --real``: a real ImageNet model (SqueezeNet 1.1) on real photo targets.

Four methods on the same network (torchvision's ``squeezenet1_1``; the head is global pooling
and a new linear layer on the 512 trunk features):

- ``finetune``: ImageNet weights, every layer trained (SGD, Nesterov momentum 0.9, cosine);
- ``scratch``: the same network from random init, every layer trained with AdamW (SqueezeNet
  has no batch norm and barely trains from scratch with SGD in a small budget: plain SGD would
  overstate what pretraining gives);
- ``linear_probe`` / ``linear_probe_random_init``: a linear head on frozen pooled features of
  the ImageNet or the random network.

The fair protocol (``ftkit.protocol``): each method's LR is chosen on the validation split from
a grid of the same size; fine-tuning and scratch get the same number of optimizer steps; every
method runs on the same seeds; the paired difference is printed with its spread. The score is
balanced accuracy (the mean of per-class recalls): Tux Paint's test split is imbalanced.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial

import torch
from sklearn.metrics import balanced_accuracy_score

from ftkit import data, evaluation, features, imagenet, models, protocol, training

#: target -> image size (px) the real bench uses
SIZES = {"tux": 96, "fashion": 64, "textures": 96}
METHODS = ("finetune", "scratch", "linear_probe", "linear_probe_random_init")


@dataclass(frozen=True)
class RealSettings:
    """Budgets and the LR grids (one grid size for every method: the same search budget)."""

    steps: int = 120  # optimizer steps for finetune and scratch alike
    batch_size: int = 16
    finetune_lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3)  # SGD
    scratch_lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3)  # AdamW
    probe_lrs: tuple[float, ...] = (0.01, 0.03, 0.1)  # Adam on standardised features
    probe_epochs: int = 100  # full-batch steps


def network(num_classes: int, *, pretrained: bool, seed: int) -> torch.nn.Module:
    """SqueezeNet 1.1 (ImageNet weights or random init from ``seed``) with a new linear head."""
    torch.manual_seed(seed)
    model, _ = models.load_backbone("squeezenet1_1", pretrained=pretrained)
    return models.replace_head(model, num_classes, seed=seed)


def _scores(preds: torch.Tensor, labels: torch.Tensor) -> float:
    return float(balanced_accuracy_score(labels.numpy(), preds.numpy()))


def train_run(
    splits: data.Splits, *, seed: int, lr: float, pretrained: bool, s: RealSettings
) -> dict[str, float]:
    """Every layer trained for ``s.steps`` optimizer steps; validation and test scores."""
    start = time.perf_counter()
    model = network(len(splits.classes), pretrained=pretrained, seed=seed)
    train_loader, val_loader, test_loader = data.make_loaders(
        splits, imagenet.squeezenet_info(), batch_size=s.batch_size, seed=seed
    )
    epochs = protocol.epochs_for_steps(s.steps, len(splits.train), s.batch_size)
    optimizer = "sgd" if pretrained else "adamw"
    training.fit(
        model,
        train_loader,
        None,
        epochs=epochs,
        lr=lr,
        optimizer=optimizer,
        weight_decay=0.0 if pretrained else 0.01,
        schedule="cosine",
        seed=seed,
        on_divergence="stop",
    )
    val = _scores(*evaluation.predict(model, val_loader))
    test = _scores(*evaluation.predict(model, test_loader))
    return {"val": val, "test": test, "seconds": time.perf_counter() - start}


def probe_run(
    splits: data.Splits,
    *,
    seed: int,
    lr: float,
    pretrained: bool,
    s: RealSettings,
    cache: features.FeatureCache,
) -> dict[str, float]:
    """A linear probe on frozen pooled features (cached per backbone and split)."""
    start = time.perf_counter()
    model = network(len(splits.classes), pretrained=pretrained, seed=seed)
    loaders = data.make_loaders(splits, imagenet.squeezenet_info(), batch_size=64, seed=seed)
    (train, val, test) = (cache.features(model, loader) for loader in loaders)
    head, _ = features.train_linear_probe(
        *train, num_classes=len(splits.classes), epochs=s.probe_epochs, lr=lr, seed=seed
    )
    with torch.no_grad():
        val_score = _scores(head(val[0]).argmax(1), val[1])
        test_score = _scores(head(test[0]).argmax(1), test[1])
    return {"val": val_score, "test": test_score, "seconds": time.perf_counter() - start}


def compare_target(
    target: str,
    k: int,
    seeds: list[int],
    s: RealSettings | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> protocol.Comparison:
    """The four methods on one target at ``k`` labelled images per class, tuned on val;
    ``log`` receives one line per run."""
    s = s or RealSettings()
    splits_by_seed = {
        seed: data.load_target(target, k=k, seed=seed, image_size=SIZES[target]) for seed in seeds
    }
    cache = features.FeatureCache()

    def runner(fn, **fixed):
        def run(*, seed: int, **params) -> dict[str, float]:
            scores = fn(splits_by_seed[seed], seed=seed, s=s, **fixed, **params)
            if log is not None:
                name = getattr(fn, "func", fn).__name__
                log(f"  {target} k={k} {name} {fixed} {params} seed {seed}: {scores}")
            return scores

        return run

    grid = lambda lrs: [{"lr": lr} for lr in lrs]  # noqa: E731
    methods = {
        "finetune": (runner(train_run, pretrained=True), grid(s.finetune_lrs)),
        "scratch": (runner(train_run, pretrained=False), grid(s.scratch_lrs)),
        "linear_probe": (
            runner(partial(probe_run, cache=cache), pretrained=True),
            grid(s.probe_lrs),
        ),
        "linear_probe_random_init": (
            runner(partial(probe_run, cache=cache), pretrained=False),
            grid(s.probe_lrs),
        ),
    }
    return protocol.compare(methods, seeds)


def report(target: str, k: int, comparison: protocol.Comparison) -> str:
    """The table (val and test, balanced accuracy) and the paired differences that matter."""
    seconds = {
        m: sum(t.scores["seconds"] for t in comparison.trials if t.method == m)
        / sum(1 for t in comparison.trials if t.method == m)
        for m in comparison.chosen
    }
    lines = [f"{target} k={k} ({SIZES[target]} px, balanced accuracy %)", comparison.table()]
    lines += ["  s/run: " + ", ".join(f"{m} {v:.1f}" for m, v in seconds.items())]
    for a, b in (("finetune", "scratch"), ("linear_probe", "linear_probe_random_init")):
        lines.append("  " + comparison.difference(a, b).verdict())
    return "\n".join(lines)


def run_cli(args: argparse.Namespace) -> int:
    """``ftkit bench --real``: every (target, k) compared, tables printed, records to --json."""
    if args.threads:
        torch.set_num_threads(args.threads)
    targets = [t for t in (args.targets or ["tux"]) if t in SIZES]
    if not targets:
        print(f"bench --real: choose --targets among {', '.join(SIZES)}")
        return 2
    s = RealSettings() if args.steps is None else replace(RealSettings(), steps=args.steps)
    print(f"{protocol.PROTOCOL}\nsettings: {asdict(s)}, torch threads {torch.get_num_threads()}")
    records, start = [], time.perf_counter()
    for target in targets:
        for k in args.ks or [5, 10]:
            comparison = compare_target(target, k, args.seeds, s, log=print)
            print("\n" + report(target, k, comparison), flush=True)
            records += [{"target": target, "k": k, **r} for r in comparison.records()]
    print(f"\n{len(records)} records in {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    return 0
