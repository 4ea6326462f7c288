"""Runs that lesson 04 replays instead of training them again on every execution.

Two of the lesson's comparisons cost more than the rest of it together: discriminative LRs and
AdamW against the best single SGD LR (18 runs), and the real ImageNet model on photos (27 runs).
The lesson made them once, with ``REPLAY = False``, and saved their scores here; every other
execution replays them and trains one of each again, live, to check that the stored numbers
are still what the code in the cell produces (``ftkit.replay.largest_gap``).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ftkit import replay

RESULTS = Path(__file__).resolve().parents[1] / "results" / "learning_rate_runs.json"
SCORES = ("val", "test", "source", "diverged")


def save_runs(
    runs: Mapping[tuple, Mapping[str, Any]], section: str, path: str | Path = RESULTS
) -> Path:
    """Store the scores of ``runs`` (settings tuple -> result) as ``section`` of ``path``.

    Only the numbers are kept (histories and models are not), with the torch version and the
    thread count that made them; other sections of the file are left as they are."""
    path = Path(path)
    if not runs:
        raise ValueError(f"no runs to store for section {section!r}; train them first")
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored[section] = {
        "meta": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
        },
        "runs": [
            {"key": list(key), **{k: run[k] for k in SCORES if k in run}}
            for key, run in runs.items()
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=1) + "\n")
    return path


def load_runs(section: str, path: str | Path = RESULTS) -> dict[tuple, dict[str, Any]]:
    """The stored runs of ``section``: settings tuple -> scores, ready for the lesson's cache.

    >>> runs = load_runs("recipes")
    >>> all(0 <= run["test"] <= 1 for run in runs.values())
    True
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no stored runs at {path}; set REPLAY = False in lesson 04 and run it to make them"
        )
    stored = json.loads(path.read_text())
    if section not in stored:
        raise KeyError(
            f"no section {section!r} in {path} (it has {sorted(stored)}); "
            "set REPLAY = False in lesson 04 and run it to store it"
        )
    return {
        tuple(run["key"]): {k: v for k, v in run.items() if k != "key"}
        for run in stored[section]["runs"]
    }


largest_gap = replay.largest_gap  # stored vs live, in points
