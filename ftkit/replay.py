"""Comparisons stored as JSON and loaded back, for lessons that replay their costliest runs.

A lesson over its time budget may run an expensive ``protocol.Comparison`` once, store it
(``save``), and load it on every other execution (``load``), provided a cell then trains one of
the stored runs again, live, and checks it against the stored one (``largest_gap``). Only
scores are stored (no models), with the torch version and thread count that made them.

>>> import tempfile
>>> from ftkit import protocol
>>> made = protocol.compare({"a": (lambda seed, x: {"val": x, "test": x}, [{"x": 0.5}])}, [0, 1, 2])
>>> path = save(made, Path(tempfile.mkdtemp()) / "runs.json")
>>> load(path).scores("a") == made.scores("a")
True
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from ftkit import protocol

__all__ = ["largest_gap", "load", "save"]


def save(comparison: protocol.Comparison, path: str | Path) -> Path:
    """Store every trial of ``comparison`` (scores only) and the settings validation chose."""
    path = Path(path)
    stored = {
        "meta": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
        },
        "seeds": list(comparison.seeds),
        "chosen": comparison.chosen,
        "trials": [
            {"method": t.method, "params": dict(t.params), "seed": t.seed, "scores": t.scores}
            for t in comparison.trials
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=1) + "\n")
    return path


def load(
    path: str | Path, *, how_to_make: str = "run the lesson with REPLAY = False"
) -> protocol.Comparison:
    """The stored comparison, as the ``protocol.Comparison`` that made it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no stored runs at {path}; to make them, {how_to_make}")
    stored = json.loads(path.read_text())
    comparison = protocol.Comparison(tuple(stored["seeds"]), dict(stored["chosen"]))
    comparison.trials = [
        protocol.Trial(t["method"], t["params"], t["seed"], t["scores"]) for t in stored["trials"]
    ]
    return comparison


def largest_gap(
    stored: Mapping[str, float], live: Mapping[str, float], metrics: Iterable[str]
) -> float:
    """The largest difference, in points, between a stored run and the same run made live.

    >>> largest_gap({"test": 0.9, "val": 0.8}, {"test": 0.92, "val": 0.8}, ["test", "val"])
    2.0
    """
    return round(max(100 * abs(stored[m] - live[m]) for m in metrics), 6)
