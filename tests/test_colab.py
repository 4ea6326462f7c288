"""Every lesson opens on Colab (badge) and its install cell is a no-op off Colab."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ftkit.tools import colab

LESSONS = sorted((Path(__file__).resolve().parents[1] / "lessons").glob("*.ipynb"))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_each_lesson_has_its_badge_and_the_install_cell_first(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]
    assert colab.badge(f"lessons/{path.name}") in "".join(cells[0]["source"])
    first_code = next(c for c in cells if c["cell_type"] == "code")
    assert "".join(first_code["source"]) == colab.INSTALL_CELL
    assert first_code["outputs"] == []  # offline it prints nothing


def test_the_install_cell_does_nothing_off_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    exec(compile(colab.INSTALL_CELL, "install-cell", "exec"), {})
    assert calls == []


def test_the_install_cell_installs_on_colab_when_ftkit_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    present = {"google.colab": object(), "ftkit": None}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: present[name] if name in present else real(name)
    )
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: calls.append(cmd))
    exec(compile(colab.INSTALL_CELL, "install-cell", "exec"), {})
    assert len(calls) == 1 and calls[0][-1] == "git+https://github.com/ftkit/ftkit@main"
