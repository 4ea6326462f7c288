"""The layers of ftkit, checked by import-linter's contracts in ``pyproject.toml``.

The second test proves that the contract can fail: a copy of the package whose core imports a
lesson study is reported as broken.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = [
    sys.executable,
    "-c",
    "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())",
]


def _lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run(
        [*LINT, "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layer_contracts_are_kept():
    result = _lint(ROOT, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_core_module_importing_a_study_breaks_the_contract(tmp_path):
    shutil.copytree(
        ROOT / "ftkit", tmp_path / "ftkit", ignore=shutil.ignore_patterns("weights", "__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    training = tmp_path / "ftkit" / "training.py"
    training.write_text(training.read_text() + "\nfrom ftkit.studies import welcome  # upward\n")
    result = _lint(tmp_path, tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "ftkit.training -> ftkit.studies.welcome" in result.stdout
