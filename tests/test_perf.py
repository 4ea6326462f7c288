"""``ftkit bench --perf``: interleaved timing gives the same verdict on a quiet and a loaded
machine (the load here is real: two busy processes competing for the two cores)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ftkit.bench import perf


def _work(units: int):
    def run(_: int) -> int:
        total = 0
        for i in range(units * 60_000):
            total += i * i
        return total

    return run


@pytest.fixture
def busy_machine():
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    yield
    for hog in hogs:
        hog.kill()
        hog.wait()


def test_a_twice_as_long_variant_measures_about_two_quiet():
    ratio = perf.interleaved("double", _work(2), _work(1), repeats=4)
    assert 1.6 < ratio.median < 2.5, ratio
    assert len(ratio.cpu) == len(ratio.wall) == 4  # 4 of each, paired in ABBA order


def test_the_ratio_survives_background_load(busy_machine):
    ratio = perf.interleaved("double", _work(2), _work(1), repeats=4)
    assert 1.6 < ratio.median < 2.5, ratio


def test_the_real_ratios_run_and_report_their_spread():
    ratio = perf.fit_overhead(k=2, epochs=1, repeats=2)
    low, high = ratio.spread
    assert 0 < low <= ratio.median <= high
    assert "interleaved repetitions" in str(ratio)
    assert perf.verdicts(
        {"fit_overhead": ratio, "cached_probe_speedup": perf.Ratio("c", (20.0,), (20.0,))}
    )["cached_probe_speedup"]
