"""Every flat core module is declared where a newcomer and the contracts look for it: in
``ftkit.__all__``, in the import-linter contract that keeps the core below the course, and in
the README's library table."""

import re
from pathlib import Path

import pytest

import ftkit

ROOT = Path(__file__).resolve().parents[1]
CORE = sorted(p.stem for p in (ROOT / "ftkit").glob("*.py") if not p.stem.startswith("_"))


def test_all_lists_every_core_module():
    assert sorted(ftkit.__all__) == CORE


def test_the_forbidden_contract_covers_every_core_module():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c["type"] == "forbidden"
        and "ftkit.studies" in c["forbidden_modules"]
        and c["source_modules"] != ["ftkit.source.glyphs"]
    ]
    assert sorted(contract["source_modules"]) == [f"ftkit.{m}" for m in CORE]


def test_the_readme_table_names_every_core_module():
    rows = [
        line
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("| core |")
    ]
    named = set(re.findall(r"`ftkit\.(\w+)`", "\n".join(rows)))
    assert set(CORE) <= named, f"missing from the README's library table: {set(CORE) - named}"
