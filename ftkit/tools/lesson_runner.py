"""Find, run and time the course's lesson notebooks (`ftkit lessons`).

Every lesson promises to run in about a minute on a laptop CPU. This module keeps that promise
honest: it executes each notebook headless in a fresh kernel, measures wall time and the kernel's
peak memory, flags lessons over budget, and renders the README's lesson table from the numbers it
measured (so the README never states a run time nobody measured).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from ftkit.tools import lesson_table
from ftkit.tools.procmem import PeakMemory

LESSON_PATTERN = re.compile(r"^\d{2}_[A-Za-z0-9_]+\.ipynb$")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: The course's promise per thread count: seconds a lesson may take (1 thread: twice 2's).
BUDGET_SECONDS = {1: 120.0}
DEFAULT_BUDGET_SECONDS = 60.0
BUDGET_MB = 1536.0


@dataclasses.dataclass(frozen=True)
class LessonResult:
    """What one headless run of a lesson measured."""

    name: str  # the notebook's stem, e.g. "00_welcome"
    passed: bool
    seconds: float  # wall time, kernel start included: what a learner waits
    peak_memory_mb: float  # MiB; the kernel process and its children; NaN where unmeasurable
    error: str | None = None
    threads: int | None = None  # torch/OpenMP threads the kernel ran with (None: its default)


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


def _execute(client: NotebookClient, probe: _Probe, env: dict[str, str]) -> str | None:
    """Run every cell in a kernel started with ``env``; the first error as one line, or None."""
    try:
        client.execute(env=env)
    except CellExecutionError as exc:
        return f"cell {probe.cell}: {exc.ename}: {exc.evalue}"
    except (TimeoutError, RuntimeError) as exc:  # cell timeout, dead kernel, kernel start failure
        return f"cell {probe.cell}: {type(exc).__name__}: {exc}"
    return None


def thread_env(threads: int | None) -> dict[str, str]:
    """The kernel's environment: this one, with every thread pool capped at ``threads``.

    torch reads ``OMP_NUM_THREADS`` when it starts, so a kernel started with it runs its
    intra-op pool (and BLAS) on that many threads, as a 1-core Binder would.

    >>> thread_env(1)["OMP_NUM_THREADS"], thread_env(1)["MKL_NUM_THREADS"]
    ('1', '1')
    """
    env = dict(os.environ)
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        for name in THREAD_VARIABLES:
            env[name] = str(threads)
    return env


def run_lesson(
    path: Path,
    *,
    timeout: float = 600,
    write: bool = False,
    kernel_name: str = "python3",
    threads: int | None = None,
) -> LessonResult:
    """Execute a notebook top to bottom in a fresh kernel whose cwd is the notebook's folder.

    Args:
        path: the notebook.
        timeout: seconds any one cell may run (nbclient's per-cell timeout).
        write: save the executed notebook back to `path` (only when every cell succeeded), which
            is how lessons get committed executed.
        kernel_name: `python3` runs the kernel in this Python environment, whatever kernelspec
            the notebook names.
        threads: cap the kernel's torch/OpenMP/BLAS threads (1 is Binder's single core).
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
        error = _execute(probe.client, probe, thread_env(threads))
    finally:
        seconds = time.perf_counter() - started
        peak_mb = probe.stop()
    if write and error is None:
        nbformat.write(nb, path)
    return LessonResult(path.stem, error is None, seconds, peak_mb, error, threads)


def budget_seconds(threads: int | None) -> float:
    """The course's promise: about a minute on 2 threads, two on Binder's single core."""
    return BUDGET_SECONDS.get(threads, DEFAULT_BUDGET_SECONDS)


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


def format_results(results: Iterable[LessonResult]) -> str:
    """A plain-text table: lesson, pass/fail, wall seconds, peak MB, and the error if any."""
    rows = [f"{'lesson':<32} {'threads':>7} {'result':<6} {'seconds':>8} {'peak MB':>8}  error"]
    for r in results:
        verdict = "pass" if r.passed else "FAIL"
        rows.append(
            f"{r.name:<32} {r.threads or '-':>7} {verdict:<6} {r.seconds:>8.1f} "
            f"{lesson_table.mb(r.peak_memory_mb):>8}  {r.error or ''}"
        )
    return "\n".join(row.rstrip() for row in rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `ftkit lessons`; `ftkit.tools.cli` owns the parser and calls `run_cli`."""
    parser.add_argument("--lessons-dir", type=Path, help="default: ./lessons or the repo's")
    parser.add_argument(
        "--run", nargs="*", metavar="NAME", help="run these lessons (00, 00_welcome); all if none"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per cell")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        metavar="N",
        help="run each lesson with N torch threads (several: one run per N, e.g. --threads 2 1)",
    )
    parser.add_argument(
        "--budget-seconds",
        type=float,
        help=f"seconds a lesson may take (default {DEFAULT_BUDGET_SECONDS:.0f}, 1 thread: "
        f"{BUDGET_SECONDS[1]:.0f})",
    )
    parser.add_argument("--budget-mb", type=float, default=BUDGET_MB)
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
            print(f"{path.stem:<32} {lesson_table.lesson_title(path)}")
        return 0
    if not selected:
        print(f"ftkit lessons: no lessons in {lessons_dir}", file=sys.stderr)
        return 1
    results = []
    for path in selected:
        for i, threads in enumerate(args.threads or [None]):
            print(f"running {path.name} (threads: {threads or 'default'}) ...", file=sys.stderr)
            write = args.write and i == 0  # the committed outputs come from the first setting
            result = run_lesson(path, timeout=args.timeout, write=write, threads=threads)
            budget = args.budget_seconds or budget_seconds(threads)
            results.append(check_budget(result, seconds=budget, memory_mb=args.budget_mb))
    print(format_results(results))
    if args.markdown:
        print("\n" + lesson_table.readme_table(results, lessons_dir))
    return 0 if all(r.passed for r in results) else 1
