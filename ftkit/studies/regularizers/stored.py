"""The regularizer sweep that lesson 06 replays instead of training it on every execution.

Section 4 trains 48 runs (six methods, three strengths, three seeds), more than half of the
lesson's run time. The lesson made them once, with ``REPLAY = False``, and stored every trial
here; every other execution replays them, and the cell after the sweep trains one of them again
live and compares it with the stored one.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

from ftkit import protocol

RESULTS = Path(__file__).resolve().parents[1] / "results" / "regularizers_sweep.json"


def save_sweep(sweep: protocol.Comparison, path: str | Path = RESULTS) -> Path:
    """Store every trial of ``sweep`` (scores only) and the settings validation chose."""
    path = Path(path)
    stored = {
        "meta": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
        },
        "seeds": list(sweep.seeds),
        "chosen": sweep.chosen,
        "trials": [
            {"method": t.method, "params": dict(t.params), "seed": t.seed, "scores": t.scores}
            for t in sweep.trials
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=1) + "\n")
    return path


def load_sweep(path: str | Path = RESULTS) -> protocol.Comparison:
    """The stored sweep as the ``protocol.Comparison`` that made it.

    >>> sweep = load_sweep()
    >>> len(sweep.trials), sorted(sweep.chosen)[:2]
    (48, ['L1', 'L2-SP'])
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no stored sweep at {path}; set REPLAY = False in lesson 06 and run it to make it"
        )
    stored = json.loads(path.read_text())
    sweep = protocol.Comparison(tuple(stored["seeds"]), dict(stored["chosen"]))
    sweep.trials = [
        protocol.Trial(t["method"], t["params"], t["seed"], t["scores"]) for t in stored["trials"]
    ]
    return sweep
