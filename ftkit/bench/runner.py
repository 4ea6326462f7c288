"""``ftkit bench``: the course's headline table, and ``--perf`` ratios measured in one run.

Records are ``{"target", "method", "k", "seed", "accuracy", "seconds", "trainable_params"}``
(plus ``source_accuracy_after`` for recipes that change the backbone), accuracy on the test
split.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from ftkit import data, outputs
from ftkit.bench import recipes
from ftkit.checks import InputError

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


# --- command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--targets", nargs="+", choices=data.TARGETS, help="default digits near (--real: tux)"
    )
    parser.add_argument("--ks", nargs="+", type=int, help="default 5 10 20 (--real: 5 10)")
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
    parser.add_argument(
        "--real",
        action="store_true",
        help="the ImageNet SqueezeNet on real photo targets (tux, fashion, textures)",
    )
    parser.add_argument("--steps", type=int, help="--real: optimizer steps per training run")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--repeats", type=int, default=5, help="--perf: interleaved repetitions per ratio"
    )


def run_cli(args: argparse.Namespace) -> int:
    if args.json:  # a bad --json path fails now, not after minutes of runs
        try:
            outputs.new_file(args.json, overwrite=True)
        except InputError as exc:
            print(f"ftkit bench: error: {exc}", file=sys.stderr)
            return 2
    if args.real:
        from ftkit.bench import real

        return real.run_cli(args)
    args.targets, args.ks = args.targets or ["digits", "near"], args.ks or [5, 10, 20]
    if args.perf:
        return _run_perf(args)
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
        _write_json(args.json, records)
    return 0


def _run_perf(args: argparse.Namespace) -> int:
    from ftkit.bench import perf

    ratios = perf.perf(repeats=args.repeats)
    for ratio in ratios.values():
        print(ratio)
    for name, ok in perf.verdicts(ratios).items():
        op, bar = perf.BARS[name]
        print(f"{name} {op} {bar}: {'holds' if ok else 'DOES NOT HOLD'}")
    if args.json:
        summary = {
            name: {"median": r.median, "range": r.spread, "cpu": r.cpu, "wall": r.wall}
            for name, r in ratios.items()
        }
        _write_json(args.json, summary)
    return 0


def _write_json(path: Path, value: object) -> None:
    with outputs.atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(value, indent=1))
