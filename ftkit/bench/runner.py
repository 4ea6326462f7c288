"""``ftkit bench``: the course's headline table, and ``--perf`` ratios measured in one run.

Records are ``{"target", "method", "k", "seed", "accuracy", "seconds", "trainable_params"}``
(plus ``source_accuracy_after`` for recipes that change the backbone), accuracy on the test
split.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from ftkit import data, features, models, training
from ftkit.bench import recipes

FOUNDATION_METHODS = ("scratch", "linear_probe", "linear_probe_random_init", "finetune")
TOOLKIT_METHODS = (
    "freeze_1",
    "freeze_2",
    "freeze_3",
    "freeze_4",
    "discriminative_lr",
    "high_lr",
    "augment",
    "l2sp",
    "gradual_unfreeze",
    "lp_ft",
    "bitfit",
    "lora",
)


def plan(
    targets: list[str], ks: list[int], seeds: list[int], methods: list[str], toolkit_k: int = 10
) -> list[tuple[str, str, int, int]]:
    """(method, target, k, seed) runs: foundation methods everywhere, toolkit ones at one k on
    digits."""
    runs = [
        (m, t, k, s)
        for t in targets
        for k in ks
        for m in methods
        if m in FOUNDATION_METHODS
        for s in seeds
    ]
    runs += [
        (m, "digits", toolkit_k, s) for m in methods if m not in FOUNDATION_METHODS for s in seeds
    ]
    return runs


def table(records: list[dict]) -> str:
    """Mean and std over seeds per (target, k, method)."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["target"], r["k"], r["method"]), []).append(r)
    lines = [
        f"{'target':<7} {'k':>3} {'method':<25} {'accuracy':>16} {'source after':>13} "
        f"{'trainable':>10} {'s/run':>6}"
    ]
    for (target, k, method), rs in groups.items():
        acc = [r["accuracy"] * 100 for r in rs]
        spread = statistics.stdev(acc) if len(acc) > 1 else 0.0
        src = [r["source_accuracy_after"] * 100 for r in rs if "source_accuracy_after" in r]
        src_text = f"{statistics.mean(src):.1f}%" if src else ""
        trainable = f"{rs[0]['trainable_params']:,}" if "trainable_params" in rs[0] else ""
        lines.append(
            f"{target:<7} {k:>3} {method:<25} {statistics.mean(acc):>8.1f}% ± {spread:4.1f} "
            f"{src_text:>13} {trainable:>10} {statistics.mean(r['seconds'] for r in rs):>6.1f}"
        )
    return "\n".join(lines)


def mean_accuracy(
    records: list[dict], method: str, target: str = "digits", k: int = 10
) -> float | None:
    accs = [
        r["accuracy"] for r in records if (r["method"], r["target"], r["k"]) == (method, target, k)
    ]
    return statistics.mean(accs) * 100 if accs else None


def _mean_of(records: list[dict], method: str, key: str) -> float | None:
    values = [
        r[key]
        for r in records
        if (r["method"], r["target"], r["k"]) == (method, "digits", 10) and key in r
    ]
    return statistics.mean(values) if values else None


def lora_line(records: list[dict], bar: float = 3.0) -> str | None:
    """LoRA against full fine-tuning on digits at k = 10: accuracy within ``bar`` points, the
    share of trainable parameters, and the source task kept by each."""
    lora, full = mean_accuracy(records, "lora"), mean_accuracy(records, "finetune")
    if lora is None or full is None:
        return None
    share = _mean_of(records, "lora", "trainable_params") / _mean_of(
        records, "finetune", "trainable_params"
    )
    src = {
        m: 100 * (_mean_of(records, m, "source_accuracy_after") or 0) for m in ("lora", "finetune")
    }
    verdict = "holds" if full - lora <= bar else "DOES NOT HOLD"
    return (
        f"digits k=10: lora {lora:.1f}% vs finetune {full:.1f}% ({lora - full:+.1f} points, bar: "
        f"within {bar:g}) with {100 * share:.1f}% of its trainable parameters -> {verdict}; "
        f"source task after: lora {src['lora']:.1f}%, finetune {src['finetune']:.1f}%"
    )


def headline(records: list[dict]) -> str:
    """The quality bar of the course, at k = 10 on digits."""
    lines = []
    for better, worse, bar in (
        ("finetune", "scratch", 7),
        ("linear_probe", "linear_probe_random_init", 10),
    ):
        a, b = mean_accuracy(records, better), mean_accuracy(records, worse)
        if a is not None and b is not None:
            verdict = "holds" if a - b >= bar else "DOES NOT HOLD"
            lines.append(
                f"digits k=10: {better} {a:.1f}% vs {worse} {b:.1f}%: "
                f"+{a - b:.1f} points (bar: +{bar}) -> {verdict}"
            )
    if line := lora_line(records):
        lines.append(line)
    return "\n".join(lines)


# --- performance ratios --------------------------------------------------------------------


def bare_loop(model: nn.Module, train_loader, val_loader, *, epochs: int, lr: float) -> None:
    """The plain PyTorch loop ``fit`` is compared with: same optimizer, same per-epoch
    validation."""
    opt = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9, nesterov=True
    )
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        for x, y in train_loader:
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            correct = sum((model(x).argmax(1) == y).sum() for x, y in val_loader)
        _ = float(correct)


def fit_overhead(*, k: int = 20, epochs: int = 10, repeats: int = 3) -> float:
    """Median over ``repeats`` of time(fit) / time(bare loop), interleaved so drift cancels."""
    splits = data.load_target("digits", k=k, seed=0)
    ratios = []
    for r in range(repeats):
        times = {}
        for name in ("bare", "fit"):
            model, info = recipes.new_model(10, seed=r)
            train_loader, val_loader, _ = data.make_loaders(splits, info, seed=r)
            torch.manual_seed(r)
            start = time.perf_counter()
            if name == "bare":
                bare_loop(model, train_loader, val_loader, epochs=epochs, lr=0.01)
            else:
                training.fit(model, train_loader, val_loader, epochs=epochs, lr=0.01, seed=r)
            times[name] = time.perf_counter() - start
        ratios.append(times["fit"] / times["bare"])
    return statistics.median(ratios)


def cached_probe(*, k: int = 20, epochs: int = 20) -> tuple[float, float]:
    """(speedup, accuracy gap in points) of a probe on cached features vs recomputing them."""
    splits = data.load_target("digits", k=k, seed=0)
    backbone, info = models.load_backbone("embedded")
    train_loader, val_loader, test_loader = data.make_loaders(splits, info, seed=0)
    n = len(splits.classes)
    start = time.perf_counter()
    cached_head, _ = features.linear_probe(
        backbone, train_loader, val_loader, num_classes=n, epochs=epochs
    )
    cached_seconds = time.perf_counter() - start
    start = time.perf_counter()
    recomputed_head, _ = features.linear_probe_recompute(
        backbone, train_loader, val_loader, num_classes=n, epochs=epochs
    )
    recompute_seconds = time.perf_counter() - start
    test = features.extract_features(backbone, test_loader)
    gap = (
        features.probe_accuracy(cached_head, *test)
        - features.probe_accuracy(recomputed_head, *test)
    ) * 100
    return recompute_seconds / cached_seconds, gap


def perf() -> dict:
    speedup, gap = cached_probe()
    return {
        "cached_probe_speedup": round(speedup, 2),
        "cached_probe_accuracy_gap": round(gap, 2),
        "fit_overhead": round(fit_overhead(), 3),
    }


# --- command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--targets", nargs="+", default=["digits", "near"], choices=data.TARGETS)
    parser.add_argument("--ks", nargs="+", type=int, default=[5, 10, 20])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--methods", nargs="+", default=list(recipes.RECIPES), choices=list(recipes.RECIPES)
    )
    parser.add_argument(
        "--json", type=Path, help="write the records (or, with --perf, the ratios) here"
    )
    parser.add_argument(
        "--perf",
        action="store_true",
        help="measure cached-probe speedup and fit overhead instead of the table",
    )


def run_cli(args: argparse.Namespace) -> int:
    if args.perf:
        result = perf()
        print(
            "linear probe, 20 epochs: cached features "
            f"{result['cached_probe_speedup']:.1f}x faster "
            "than recomputing the backbone (accuracy gap "
            f"{result['cached_probe_accuracy_gap']:+.2f} points)"
        )
        print(
            "fit vs a bare PyTorch loop (same model, data, epochs): "
            f"{result['fit_overhead']:.3f}x the time"
        )
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        return 0
    records = []
    runs = plan(args.targets, args.ks, args.seeds, args.methods)
    start = time.perf_counter()
    for i, (method, target, k, seed) in enumerate(runs, 1):
        records.append(recipes.run(method, target, k=k, seed=seed))
        print(f"[{i}/{len(runs)}] {json.dumps(records[-1])}", flush=True)
    print(
        f"\n{table(records)}\n\n{headline(records)}\n"
        f"{len(runs)} runs in {time.perf_counter() - start:.0f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    return 0
