"""`ftkit lessons`: runs tiny notebooks in real kernels and checks what the runner measures."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ftkit.tools import colab, lesson_runner
from ftkit.tools.lesson_runner import LessonResult

MIB = 2**20

PASSING = [
    "import os, time\nopen('cwd.txt', 'w').write(os.getcwd())",
    "time.sleep(0.5)\nprint('slept')",
]
RAISING = [
    "print('before')",
    "raise ValueError('boom')",
    "open('after.txt', 'w').write('the cell after an error must not run')",
]
ALLOCATING = [
    f"import numpy as np\nblock = np.ones({300 * MIB // 8})  # 300 MiB, written\nblock.sum()"
]
# The child allocates and holds the memory briefly, then exits before the notebook ends: only
# the runner's background poll can see it.
CHILD = [
    (
        "import subprocess, sys\n"
        "code = 'import numpy as np, time; b = np.ones(%d); time.sleep(1.0)'\n"
        f"subprocess.run([sys.executable, '-c', code % {300 * MIB // 8}], check=True)"
    )
]


def write_lesson(folder: Path, name: str, sources: list[str]) -> Path:
    """A notebook with a markdown title and one code cell per source, never executed."""
    cells = [new_markdown_cell(f"# Lesson {name}\nSome text.")]
    cells += [new_code_cell(source) for source in sources]
    path = folder / f"{name}.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path


@pytest.fixture(scope="module")
def lessons_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("course") / "lessons"
    folder.mkdir()
    write_lesson(folder, "00_passing", PASSING)
    write_lesson(folder, "01_raising", RAISING)
    write_lesson(folder, "02_allocating", ALLOCATING)
    write_lesson(folder, "03_child", CHILD)
    return folder


@pytest.fixture(scope="module")
def results(lessons_dir: Path) -> dict[str, LessonResult]:
    """Each lesson run once, in its own fresh kernel (the raising one with write=True)."""
    runs = {}
    for path in lesson_runner.list_lessons(lessons_dir):
        write = path.stem == "01_raising"
        runs[path.stem] = lesson_runner.run_lesson(path, timeout=120, write=write)
    return runs


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    lesson_runner.add_arguments(parser)
    return lesson_runner.run_cli(parser.parse_args(argv))


def test_list_lessons_keeps_numbered_notebooks_in_order(tmp_path: Path) -> None:
    for name in ["01_b.ipynb", "00_a.ipynb", "notes.ipynb", "2_x.ipynb", "00_a.py", "10_z.ipynb"]:
        (tmp_path / name).write_text("{}")
    assert [p.name for p in lesson_runner.list_lessons(tmp_path)] == [
        "00_a.ipynb",
        "01_b.ipynb",
        "10_z.ipynb",
    ]


def test_select_lessons_by_number_stem_or_file_name() -> None:
    paths = [Path("00_welcome.ipynb"), Path("01_freezing.ipynb"), Path("10_more.ipynb")]
    assert lesson_runner.select_lessons(paths, []) == paths
    assert lesson_runner.select_lessons(paths, ["00"]) == paths[:1]
    assert lesson_runner.select_lessons(paths, ["01_freezing", "00_welcome.ipynb"]) == [
        paths[1],
        paths[0],
    ]
    assert lesson_runner.select_lessons(paths, ["10", "10"]) == paths[2:]  # no lesson twice
    assert lesson_runner.select_lessons(paths, ["lessons/10_more.ipynb"]) == paths[2:]


def test_select_lessons_rejects_unknown_names() -> None:
    paths = [Path("00_welcome.ipynb")]
    with pytest.raises(ValueError, match="'07'"):
        lesson_runner.select_lessons(paths, ["07"])
    with pytest.raises(ValueError):
        lesson_runner.select_lessons(paths, ["00_wel"])  # a prefix of a name is not a lesson
    with pytest.raises(ValueError):
        lesson_runner.select_lessons(paths, ["0"])


def test_default_lessons_dir_prefers_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "lessons").mkdir()
    assert lesson_runner.default_lessons_dir(tmp_path) == tmp_path / "lessons"


def test_default_lessons_dir_falls_back_to_the_repository(tmp_path: Path) -> None:
    repo_lessons = Path(lesson_runner.__file__).resolve().parents[2] / "lessons"
    if repo_lessons.is_dir():
        assert lesson_runner.default_lessons_dir(tmp_path) == repo_lessons
    else:
        with pytest.raises(FileNotFoundError, match="--lessons-dir"):
            lesson_runner.default_lessons_dir(tmp_path)


def test_passing_lesson_runs_in_its_folder(results: dict, lessons_dir: Path) -> None:
    result = results["00_passing"]
    assert result == LessonResult("00_passing", True, result.seconds, result.peak_memory_mb)
    assert (lessons_dir / "cwd.txt").read_text() == str(lessons_dir.resolve())
    assert 0.5 <= result.seconds < 120  # the cell sleeps 0.5 s; the rest is generous sanity
    assert 10 < result.peak_memory_mb < 1500  # a bare kernel: tens of MB


def test_run_does_not_write_the_notebook_back_by_default(lessons_dir: Path) -> None:
    nb = nbformat.read(lessons_dir / "00_passing.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")


def test_raising_lesson_fails_with_the_cell_and_error(results: dict, lessons_dir: Path) -> None:
    result = results["01_raising"]
    assert not result.passed
    assert result.error == "cell 2: ValueError: boom"  # cell 0 is the markdown title
    assert not (lessons_dir / "after.txt").exists()
    nb = nbformat.read(lessons_dir / "01_raising.ipynb", as_version=4)
    assert nb.cells[1].execution_count is None, "a failed run must not be written back"


def test_peak_memory_is_the_kernels(results: dict) -> None:
    allocating = results["02_allocating"]
    assert allocating.passed, allocating.error
    assert allocating.peak_memory_mb > 250
    # The runner's own memory is not counted, and each lesson gets a fresh kernel.
    assert results["00_passing"].peak_memory_mb < allocating.peak_memory_mb - 200


def test_peak_memory_counts_child_processes(results: dict) -> None:
    child = results["03_child"]
    assert child.passed, child.error
    assert child.peak_memory_mb > 250


def test_write_saves_the_executed_notebook_in_place(tmp_path: Path) -> None:
    path = write_lesson(tmp_path, "00_written", ["print('hello')", "6 * 7"])
    result = lesson_runner.run_lesson(path, timeout=120, write=True)
    assert result.passed, result.error
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == [1, 2]
    assert code[0].outputs[0].text == "hello\n"
    assert code[1].outputs[0].data["text/plain"] == "42"
    assert all("execution" not in cell.metadata for cell in code), "no timestamps in lessons"


def test_check_budget_flags_slow_or_large_lessons() -> None:
    ok = LessonResult("00_a", True, 10.0, 500.0)
    assert lesson_runner.check_budget(ok, seconds=120, memory_mb=2048) == ok
    slow = lesson_runner.check_budget(ok, seconds=5, memory_mb=2048)
    assert not slow.passed and slow.error == "over budget: 10 s > 5 s"
    large = lesson_runner.check_budget(ok, seconds=120, memory_mb=100)
    assert not large.passed and "500 MB > 100 MB" in large.error
    failed = LessonResult("00_a", False, 10.0, 500.0, "cell 3: KeyError: 'x'")
    both = lesson_runner.check_budget(failed, seconds=5, memory_mb=2048)
    assert both.error == "cell 3: KeyError: 'x'; over budget: 10 s > 5 s"
    unmeasured = LessonResult("00_a", True, 1.0, math.nan)
    assert lesson_runner.check_budget(unmeasured, seconds=120, memory_mb=1).passed


def test_format_results_is_one_row_per_lesson() -> None:
    table = lesson_runner.format_results(
        [LessonResult("00_a", True, 12.34, 345.6), LessonResult("01_b", False, 1.0, 50, "boom")]
    ).splitlines()
    assert table[0].split() == ["lesson", "threads", "result", "seconds", "peak", "MB", "error"]
    assert table[1].split() == ["00_a", "-", "pass", "12.3", "346"]
    assert table[2].split() == ["01_b", "-", "FAIL", "1.0", "50", "boom"]


def test_readme_table_uses_titles_summaries_and_measured_numbers(lessons_dir: Path) -> None:
    path = lessons_dir / "00_passing.ipynb"
    nb = json.loads(path.read_text())
    nb["metadata"]["ftkit"] = {"teaches": "what fine-tuning is"}
    path.write_text(json.dumps(nb))
    table = lesson_runner.lesson_table.readme_table(
        [
            LessonResult("00_passing", True, 41.6, 812.3, threads=2),
            LessonResult("00_passing", True, 70.2, 790.0, threads=1),
            LessonResult("01_raising", False, 3, 60, threads=2),
        ],
        lessons_dir,
    ).splitlines()
    assert table[:2] == [
        "| # | Lesson | What it teaches | 2 threads | 1 thread | Peak memory | Colab |",
        "|---|---|---|---|---|---|---|",
    ]
    badge = colab.badge("lessons/00_passing.ipynb")
    assert table[2] == (
        "| 00 | [Lesson 00_passing](lessons/00_passing.ipynb) | what fine-tuning is "
        f"| 42 s | 70 s | 812 MB | {badge} |"
    )
    assert table[3].startswith(
        "| 01 | [Lesson 01_raising](lessons/01_raising.ipynb) |  | fails | fails | 60 MB |"
    )


def test_threads_cap_the_kernels_thread_pools(tmp_path: Path) -> None:
    folder = tmp_path / "lessons"
    folder.mkdir()
    source = (
        "import os, torch\n"
        "seen = f\"{os.environ['OMP_NUM_THREADS']} {torch.get_num_threads()}\"\n"
        "open('t.txt', 'w').write(seen)"
    )
    path = write_lesson(folder, "00_threads", [source])
    result = lesson_runner.run_lesson(path, timeout=120, threads=1)
    assert result.passed and result.threads == 1
    assert (folder / "t.txt").read_text() == "1 1"
    with pytest.raises(ValueError, match="positive integer"):
        lesson_runner.thread_env(0)


def test_budgets_follow_the_thread_count() -> None:
    assert lesson_runner.budget_seconds(2) == 60 and lesson_runner.budget_seconds(1) == 120
    assert lesson_runner.budget_seconds(None) == 60


def test_cli_lists_lessons_with_titles(lessons_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli("--lessons-dir", str(lessons_dir)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "00_passing",
        "01_raising",
        "02_allocating",
        "03_child",
    ]
    assert lines[0].endswith("Lesson 00_passing")


def test_cli_run_exits_nonzero_on_any_failure(
    lessons_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli("--lessons-dir", str(lessons_dir), "--run", "00", "01_raising", "--markdown") == 1
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[:3] == ["00_passing", "-", "pass"]
    assert out.splitlines()[2].split()[:3] == ["01_raising", "-", "FAIL"]
    assert "| 00 | [Lesson 00_passing](lessons/00_passing.ipynb) |" in out


def test_cli_flags_over_budget_lessons(lessons_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli("--lessons-dir", str(lessons_dir), "--run", "00", "--budget-mb", "1") == 1
    assert "over budget" in capsys.readouterr().out


def test_cli_rejects_unknown_lessons(lessons_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli("--lessons-dir", str(lessons_dir), "--run", "42") == 2
    assert "no lesson matches '42'" in capsys.readouterr().err
