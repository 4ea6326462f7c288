"""The README's lesson table, rendered from what ``ftkit lessons --run`` measured.

One row per lesson: its title (linked), what it teaches (the notebook's
``metadata.ftkit.teaches``), its wall time for each thread count that was run, its peak kernel
memory, and its "Open in Colab" badge. The README never states a time nobody measured.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ftkit.tools import colab


def mb(value: float) -> str:
    """Memory in whole MiB, or ``n/a`` where it could not be measured.

    >>> mb(812.3), mb(math.nan)
    ('812', 'n/a')
    """
    return "n/a" if math.isnan(value) else f"{value:.0f}"


def _notebook(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def lesson_title(path: Path) -> str:
    """The first markdown heading of a notebook, without its `#`s; the file stem if none."""
    for cell in _notebook(path).get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        for line in "".join(cell.get("source", [])).splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return Path(path).stem


def lesson_summary(path: Path) -> str:
    """What a lesson teaches, in one line: the notebook's ``metadata.ftkit.teaches``."""
    return str(_notebook(path).get("metadata", {}).get("ftkit", {}).get("teaches", ""))


def _threads_label(threads: int | None) -> str:
    if threads is None:
        return "Run time (CPU)"
    return f"{threads} thread{'s' if threads != 1 else ''}"


def readme_table(results: Iterable[Any], lessons_dir: Path) -> str:
    """The README's lesson table (markdown): one time column per thread count that was run."""
    results = list(results)
    thread_counts = list(dict.fromkeys(r.threads for r in results))
    by_lesson: dict[str, dict[int | None, Any]] = {}
    for r in results:
        by_lesson.setdefault(r.name, {})[r.threads] = r
    header = ["#", "Lesson", "What it teaches", *map(_threads_label, thread_counts)]
    header += ["Peak memory", "Colab"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, runs in by_lesson.items():
        path = Path(lessons_dir) / f"{name}.ipynb"
        link = f"[{lesson_title(path)}]({Path(lessons_dir).name}/{path.name})"
        times = [
            f"{runs[t].seconds:.0f} s" if t in runs and runs[t].passed else "fails"
            for t in thread_counts
        ]
        peak = max(r.peak_memory_mb for r in runs.values())
        badge = colab.badge(f"{Path(lessons_dir).name}/{path.name}")
        cells = [name.split("_", 1)[0], link, lesson_summary(path), *times, f"{mb(peak)} MB", badge]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
