"""The regularizer sweep that lesson 06 replays instead of training it on every execution.

Section 4 trains 48 runs (six methods, three strengths, three seeds), more than half of the
lesson's run time. The lesson made them once, with ``REPLAY = False``, and stored every trial
here (``ftkit.replay``); every other execution replays them, and the cell after the sweep
trains one of them again live and compares it with the stored one.
"""

from __future__ import annotations

from pathlib import Path

from ftkit import protocol, replay

RESULTS = Path(__file__).resolve().parents[1] / "results" / "regularizers_sweep.json"


def save_sweep(sweep: protocol.Comparison, path: str | Path = RESULTS) -> Path:
    """Store every trial of ``sweep`` (scores only) and the settings validation chose."""
    return replay.save(sweep, path)


def load_sweep(path: str | Path = RESULTS) -> protocol.Comparison:
    """The stored sweep as the ``protocol.Comparison`` that made it.

    >>> sweep = load_sweep()
    >>> len(sweep.trials), sorted(sweep.chosen)[:2]
    (48, ['L1', 'L2-SP'])
    """
    return replay.load(path, how_to_make="set REPLAY = False in lesson 06 and run it")
