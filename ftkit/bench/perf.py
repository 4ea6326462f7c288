"""``ftkit bench --perf``: speed ratios that survive a noisy, shared machine.

A ratio of two timings taken minutes apart measures the machine's mood as much as the code. So
every comparison here is *interleaved*: after one discarded warm-up of each variant, repetitions
alternate A B B A A B ... (an ABBA order also cancels a linear drift), each on one torch thread,
timed by the process's CPU time (which other processes barely touch) as well as by wall time.
The report gives the median ratio and its spread (the range over repetitions).

Three ratios:

- ``fit_overhead``: ``training.fit`` vs the bare PyTorch loop it wraps (same model, data, epochs);
- ``cached_probe_speedup``: a linear probe on cached features vs one that recomputes them;
- ``probe_vs_forward``: the cached probe vs ONE forward pass over the same images, its physical
  limit (a probe must see every image once).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ftkit import data, features, models, training
from ftkit.bench import recipes


@dataclass(frozen=True)
class Ratio:
    """Per-repetition ratios ``numerator / denominator`` of CPU and of wall seconds."""

    name: str
    cpu: tuple[float, ...]
    wall: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.cpu), max(self.cpu)

    def __str__(self) -> str:
        low, high = self.spread
        return (
            f"{self.name}: {self.median:.3f}x (CPU time; range {low:.3f}-{high:.3f} over "
            f"{len(self.cpu)} interleaved repetitions; wall-time median "
            f"{statistics.median(self.wall):.3f}x)"
        )


def abba_order(names: tuple[str, str], repeats: int) -> list[str]:
    """A B B A A B B A ... : each pair's order flips, so a steady drift cancels.

    >>> abba_order(("a", "b"), 3)
    ['a', 'b', 'b', 'a', 'a', 'b']
    """
    a, b = names
    return [x for r in range(repeats) for x in ((a, b) if r % 2 == 0 else (b, a))]


def _timed(fn: Callable[[int], object], repeat: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn(repeat)
    return time.process_time() - cpu, time.perf_counter() - wall


def interleaved(
    name: str,
    numerator: Callable[[int], object],
    denominator: Callable[[int], object],
    *,
    repeats: int = 5,
    threads: int = 1,
) -> Ratio:
    """Time ``numerator(r)`` against ``denominator(r)``, interleaved, after a warm-up of each."""
    variants: Mapping[str, Callable[[int], object]] = {"num": numerator, "den": denominator}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)  # one thread: CPU time then barely depends on other load
    try:
        for fn in variants.values():
            fn(-1)  # warm-up: allocator, kernels, caches; discarded
        times: dict[str, list[tuple[float, float]]] = {"num": [], "den": []}
        for i, which in enumerate(abba_order(("num", "den"), repeats)):
            times[which].append(_timed(variants[which], i // 2))
    finally:
        torch.set_num_threads(previous)
    pairs = list(zip(times["num"], times["den"]))
    return Ratio(name, tuple(n[0] / d[0] for n, d in pairs), tuple(n[1] / d[1] for n, d in pairs))


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


def fit_overhead(*, k: int = 20, epochs: int = 5, repeats: int = 5) -> Ratio:
    """``fit`` vs the bare loop on the same fresh model, data and seed."""
    splits = data.load_target("digits", k=k, seed=0)

    def run(use_fit: bool) -> Callable[[int], object]:
        def go(r: int) -> None:
            model, info = recipes.new_model(10, seed=max(r, 0))
            train_loader, val_loader, _ = data.make_loaders(splits, info, seed=max(r, 0))
            if use_fit:
                training.fit(
                    model, train_loader, val_loader, epochs=epochs, lr=0.01, seed=max(r, 0)
                )
            else:
                bare_loop(model, train_loader, val_loader, epochs=epochs, lr=0.01)

        return go

    return interleaved("fit_overhead", run(True), run(False), repeats=repeats)


def probe_ratios(*, k: int = 20, epochs: int = 20, repeats: int = 5) -> tuple[Ratio, Ratio]:
    """(recompute / cached, cached / one forward pass) for a linear probe on digits."""
    splits = data.load_target("digits", k=k, seed=0)
    backbone, info = models.load_backbone("embedded")
    train_loader, val_loader, _ = data.make_loaders(splits, info, seed=0)
    n = len(splits.classes)

    def cached(_: int) -> None:
        features.linear_probe(backbone, train_loader, val_loader, num_classes=n, epochs=epochs)

    def recompute(_: int) -> None:
        features.linear_probe_recompute(
            backbone, train_loader, val_loader, num_classes=n, epochs=epochs
        )

    def forward(_: int) -> None:  # the images a probe must see, once: train and val
        features.extract_features(backbone, train_loader)
        features.extract_features(backbone, val_loader)

    return (
        interleaved("cached_probe_speedup", recompute, cached, repeats=repeats),
        interleaved("probe_vs_forward", cached, forward, repeats=repeats),
    )


def perf(*, repeats: int = 5) -> dict[str, Ratio]:
    """All three ratios, each measured interleaved."""
    speedup, limit = probe_ratios(repeats=repeats)
    return {"fit_overhead": fit_overhead(repeats=repeats), speedup.name: speedup, limit.name: limit}


#: The verdicts the course states, and the bars they must clear.
BARS = {"fit_overhead": ("<=", 1.10), "cached_probe_speedup": (">=", 10.0)}


def verdicts(ratios: Mapping[str, Ratio]) -> dict[str, bool]:
    """Whether each barred ratio clears its bar (on the median)."""
    out = {}
    for name, (op, bar) in BARS.items():
        value = ratios[name].median
        out[name] = value <= bar if op == "<=" else value >= bar
    return out
