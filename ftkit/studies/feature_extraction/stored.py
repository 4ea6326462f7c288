"""The probe-vs-scratch race that lesson 02 replays instead of training it on every execution.

The race trains 12 scratch networks for 150 steps each (two LRs, three seeds, k = 1 and 10),
two thirds of the lesson's run time. The lesson made it once, with ``REPLAY = False``, and
stored it here (``ftkit.replay``); every other execution replays it, and the next cell trains
one scratch run again live and checks it against the stored one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ftkit import protocol, replay

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _path(k: int, folder: Path) -> Path:
    return Path(folder) / f"feature_extraction_race_k{k}.json"


def save_race(race: Mapping[int, protocol.Comparison], folder: str | Path = RESULTS) -> None:
    """Store the race's comparison at each k."""
    for k, comparison in race.items():
        replay.save(comparison, _path(k, Path(folder)))


def load_race(ks: tuple[int, ...] = (1, 10), folder: str | Path = RESULTS) -> dict:
    """The stored race, ``{k: protocol.Comparison}``.

    >>> race = load_race()
    >>> sorted(race), sorted(race[10].chosen)
    ([1, 10], ['linear probe', 'scratch'])
    """
    how = "set REPLAY = False in lesson 02 and run it"
    return {k: replay.load(_path(k, Path(folder)), how_to_make=how) for k in ks}
