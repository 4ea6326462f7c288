"""Find, run and time the course's lesson notebooks (`ftkit lessons`).

Every lesson promises to run in about a minute on a laptop CPU. This module keeps that promise
honest: it executes each notebook headless in a fresh kernel, measures wall time and the kernel's
peak memory, flags lessons over budget, and renders the README's lesson table from the numbers it
measured (so the README never states a run time nobody measured).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from ftkit.tools.procmem import PeakMemory

LESSON_PATTERN = re.compile(r"^\d{2}_[A-Za-z0-9_]+\.ipynb$")


@dataclasses.dataclass(frozen=True)
class LessonResult:
    """What one headless run of a lesson measured."""

    name: str  # the notebook's stem, e.g. "00_welcome"
    passed: bool
    seconds: float  # wall time, kernel start included: what a learner waits
    peak_memory_mb: float  # MiB; the kernel process and its children; NaN where unmeasurable
    error: str | None = None


def list_lessons(lessons_dir: Path) -> list[Path]:
    """Lesson notebooks (`NN_name.ipynb`) in `lessons_dir`, in course order."""
    return sorted(p for p in Path(lessons_dir).iterdir() if LESSON_PATTERN.match(p.name))


def default_lessons_dir(cwd: Path | None = None) -> Path:
    """`lessons/` under `cwd`, else next to the package (ftkit is installed editable).

    Raises:
        FileNotFoundError: neither place has a `lessons/` folder.
    """
    repo_root = Path(__file__).resolve().parents[2]
    candidates = [Path.cwd() if cwd is None else Path(cwd), repo_root]
    for base in candidates:
        if (base / "lessons").is_dir():
            return base / "lessons"
    searched = ", ".join(str(base / "lessons") for base in candidates)
    raise FileNotFoundError(f"no lessons folder found (looked in {searched}); use --lessons-dir")


def select_lessons(lessons: Sequence[Path], names: Sequence[str]) -> list[Path]:
    """The lessons that `names` pick, in the order named; all of them when `names` is empty.

    A name is a lesson's number (`00`), its stem (`00_welcome`) or its file (`00_welcome.ipynb`,
    with or without a folder).

    >>> [p.name for p in select_lessons([Path("00_a.ipynb"), Path("01_b.ipynb")], ["01"])]
    ['01_b.ipynb']

    Raises:
        ValueError: a name matches no lesson (a typo should not silently run nothing).
    """
    if not names:
        return list(lessons)
    chosen: list[Path] = []
    for name in names:
        stem = Path(name).name.removesuffix(".ipynb")
        matches = [p for p in lessons if p.stem == stem]
        matches = matches or [p for p in lessons if p.stem.split("_", 1)[0] == stem]
        if not matches:
            raise ValueError(f"no lesson matches {name!r}")
        chosen.extend(p for p in matches if p not in chosen)
    return chosen


class _Probe:
    """nbclient hooks: remember the running cell, and watch the kernel's memory while it lives."""

    def __init__(self) -> None:
        self.cell = -1
        self.client: NotebookClient | None = None
        self.memory: PeakMemory | None = None

    def on_notebook_start(self, **_: object) -> None:
        assert self.client is not None and self.client.km is not None
        self.memory = PeakMemory(self.client.km.provisioner.pid).start()

    def on_cell_start(self, cell_index: int, **_: object) -> None:
        self.cell = cell_index

    def on_cell_executed(self, **_: object) -> None:
        if self.memory is not None:
            self.memory.sample()  # the kernel still lives: its VmHWM covers the cell just run

    def stop(self) -> float:
        """End the watch; the peak in MiB (NaN if the kernel never started)."""
        if self.memory is None:
            return math.nan
        self.memory.stop()
        return self.memory.peak_mib


def _execute(client: NotebookClient, probe: _Probe) -> str | None:
    """Run every cell; the first error as one line, or None."""
    try:
        client.execute()
    except CellExecutionError as exc:
        return f"cell {probe.cell}: {exc.ename}: {exc.evalue}"
    except (TimeoutError, RuntimeError) as exc:  # cell timeout, dead kernel, kernel start failure
        return f"cell {probe.cell}: {type(exc).__name__}: {exc}"
    return None


def run_lesson(
    path: Path, *, timeout: float = 600, write: bool = False, kernel_name: str = "python3"
) -> LessonResult:
    """Execute a notebook top to bottom in a fresh kernel whose cwd is the notebook's folder.

    Args:
        path: the notebook.
        timeout: seconds any one cell may run (nbclient's per-cell timeout).
        write: save the executed notebook back to `path` (only when every cell succeeded), which
            is how lessons get committed executed.
        kernel_name: `python3` runs the kernel in this Python environment, whatever kernelspec
            the notebook names.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    probe = _Probe()
    probe.client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        record_timing=False,  # no per-cell timestamps: they would churn committed lessons
        resources={"metadata": {"path": str(path.parent.resolve())}},
        on_notebook_start=probe.on_notebook_start,
        on_cell_start=probe.on_cell_start,
        on_cell_executed=probe.on_cell_executed,
    )
    started = time.perf_counter()
    try:
        error = _execute(probe.client, probe)
    finally:
        seconds = time.perf_counter() - started
        peak_mb = probe.stop()
    if write and error is None:
        nbformat.write(nb, path)
    return LessonResult(path.stem, error is None, seconds, peak_mb, error)


def check_budget(result: LessonResult, *, seconds: float, memory_mb: float) -> LessonResult:
    """`result`, failed if it ran longer or used more memory than the course promises."""
    over = []
    if result.seconds > seconds:
        over.append(f"{result.seconds:.0f} s > {seconds:.0f} s")
    if result.peak_memory_mb > memory_mb:  # NaN (unmeasured) is never over budget
        over.append(f"{result.peak_memory_mb:.0f} MB > {memory_mb:.0f} MB")
    if not over:
        return result
    message = "over budget: " + ", ".join(over)
    error = message if result.error is None else f"{result.error}; {message}"
    return dataclasses.replace(result, passed=False, error=error)


def _mb(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0f}"


def format_results(results: Iterable[LessonResult]) -> str:
    """A plain-text table: lesson, pass/fail, wall seconds, peak MB, and the error if any."""
    rows = [f"{'lesson':<32} {'result':<6} {'seconds':>8} {'peak MB':>8}  error"]
    for r in results:
        verdict = "pass" if r.passed else "FAIL"
        rows.append(
            f"{r.name:<32} {verdict:<6} {r.seconds:>8.1f} {_mb(r.peak_memory_mb):>8}  "
            f"{r.error or ''}"
        )
    return "\n".join(row.rstrip() for row in rows)


def lesson_title(path: Path) -> str:
    """The first markdown heading of a notebook, without its `#`s; the file stem if none."""
    cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = "".join(cell.get("source", []))
        for line in source.splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return Path(path).stem


def lesson_summary(path: Path) -> str:
    """What a lesson teaches, in one line: the notebook's ``metadata.ftkit.teaches``."""
    metadata = json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {})
    return str(metadata.get("ftkit", {}).get("teaches", ""))


def readme_table(results: Iterable[LessonResult], lessons_dir: Path) -> str:
    """The README's lesson table (markdown), with run times and memory as measured here."""
    lines = [
        "| # | Lesson | What it teaches | Run time (CPU) | Peak memory |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        path = Path(lessons_dir) / f"{r.name}.ipynb"
        number = r.name.split("_", 1)[0]
        link = f"[{lesson_title(path)}]({Path(lessons_dir).name}/{path.name})"
        seconds = f"{r.seconds:.0f} s" if r.passed else "fails"
        lines.append(
            f"| {number} | {link} | {lesson_summary(path)} | {seconds} "
            f"| {_mb(r.peak_memory_mb)} MB |"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `ftkit lessons`; `ftkit.tools.cli` owns the parser and calls `run_cli`."""
    parser.add_argument("--lessons-dir", type=Path, help="default: ./lessons or the repo's")
    parser.add_argument(
        "--run", nargs="*", metavar="NAME", help="run these lessons (00, 00_welcome); all if none"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per cell")
    parser.add_argument("--budget-seconds", type=float, default=120)
    parser.add_argument("--budget-mb", type=float, default=2048)
    parser.add_argument(
        "--write",
        action="store_true",
        help="save each lesson that ran without error back in place, executed",
    )
    parser.add_argument(
        "--markdown", action="store_true", help="also print the README lesson table"
    )


def run_cli(args: argparse.Namespace) -> int:
    """List lessons, or run them and print a table; 0 when all pass, 1 on any failure, 2 on
    usage."""
    try:
        lessons_dir = args.lessons_dir or default_lessons_dir()
        lessons = list_lessons(lessons_dir)
        selected = select_lessons(lessons, args.run or [])
    except (FileNotFoundError, ValueError) as exc:
        print(f"ftkit lessons: {exc}", file=sys.stderr)
        return 2
    if args.run is None:
        for path in lessons:
            print(f"{path.stem:<32} {lesson_title(path)}")
        return 0
    if not selected:
        print(f"ftkit lessons: no lessons in {lessons_dir}", file=sys.stderr)
        return 1
    results = []
    for path in selected:
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        result = run_lesson(path, timeout=args.timeout, write=args.write)
        results.append(check_budget(result, seconds=args.budget_seconds, memory_mb=args.budget_mb))
    print(format_results(results))
    if args.markdown:
        print("\n" + readme_table(results, lessons_dir))
    return 0 if all(r.passed for r in results) else 1
