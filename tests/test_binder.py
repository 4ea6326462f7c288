"""binder/ must build what pyproject.toml declares, with CPU-only torch, and start lean.

repo2docker ignores the top-level pyproject.toml once binder/ exists, so the two files can drift
apart silently; these tests make the drift loud. No Docker engine here: repo2docker itself is not
run, but the start script is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement  # packaging comes with pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 has no tomllib; tomli is the same parser
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_PACKAGES = {"torch", "torchvision"}


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def runtime_requirements() -> dict[str, Requirement]:
    reqs = [Requirement(line) for line in pyproject()["project"]["dependencies"]]
    return {canonicalize_name(req.name): req for req in reqs}


def requirements_file() -> tuple[dict[str, Requirement], list[list[str]]]:
    """binder/requirements.txt as (requirements by name, option lines split into words)."""
    reqs: dict[str, Requirement] = {}
    options: list[list[str]] = []
    for raw in (BINDER / "requirements.txt").read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.append(re.split(r"[=\s]+", line, maxsplit=1))  # --opt=value or --opt value
            continue
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name not in reqs, f"{req.name} listed twice in binder/requirements.txt"
        reqs[name] = req
    return reqs, options


def pinned_version(req: Requirement) -> Version | None:
    """The version of an exact `==` pin, else None."""
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version:
        return Version(specs[0].version)
    return None


def code_lines(path: Path) -> list[str]:
    """The script's lines without the shebang, comments and blank lines."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_binder_installs_exactly_the_runtime_dependencies() -> None:
    binder, _ = requirements_file()
    runtime = runtime_requirements()
    assert set(binder) == set(runtime), (
        f"missing in binder/requirements.txt: {sorted(set(runtime) - set(binder))}; "
        f"not in pyproject dependencies: {sorted(set(binder) - set(runtime))}"
    )


def test_binder_versions_agree_with_pyproject() -> None:
    binder, _ = requirements_file()
    for name, declared in runtime_requirements().items():
        req = binder[name]
        pin = pinned_version(req)
        if pin is not None:
            assert pin in declared.specifier, f"binder pins {req}, pyproject says {declared}"
        else:
            assert req.specifier == declared.specifier, f"binder {req} != pyproject {declared}"
        assert req.marker == declared.marker and req.extras == declared.extras, name


def test_torch_comes_from_the_cpu_index() -> None:
    binder, options = requirements_file()
    assert ["--extra-index-url", CPU_INDEX] in options
    # --index-url would replace PyPI for every requirement in the file, not only torch.
    assert not any(option[0] in {"--index-url", "-i"} for option in options)
    for name in TORCH_PACKAGES:
        pin = pinned_version(binder[name])
        # Only the CPU index publishes `+cpu` local versions, so pip cannot fall back to PyPI's
        # CUDA build: the build fails loudly instead of pulling gigabytes of CUDA libraries.
        assert pin is not None and pin.local == "cpu", f"{binder[name]} must pin a +cpu build"


def test_torchvision_pin_pairs_with_torch() -> None:
    binder, _ = requirements_file()
    torch, vision = pinned_version(binder["torch"]), pinned_version(binder["torchvision"])
    assert torch is not None and vision is not None
    # Since torch 2.0 / torchvision 0.15, torchvision 0.N is built for torch 2.(N - 15).
    assert (torch.major, torch.minor) == (2, vision.minor - 15), f"torch {torch}, vision {vision}"


def test_ftkit_itself_is_installed_by_postbuild_not_requirements() -> None:
    binder, options = requirements_file()
    assert "ftkit" not in binder
    assert not any(option[0] in {"-e", "--editable"} for option in options)
    lines = code_lines(BINDER / "postBuild")
    installs = [line for line in lines if re.search(r"\bpip install\b", line)]
    assert len(installs) == 1, installs
    words = installs[0].split()
    assert "--no-deps" in words, "resolving deps here could swap in PyPI's CUDA torch"
    assert words[-2:] == ["-e", "."] or words[-1] == "."


def test_postbuild_stops_on_the_first_error() -> None:
    path = BINDER / "postBuild"
    assert path.read_text().startswith("#!/bin/bash\n")
    first = code_lines(path)[0]
    assert re.fullmatch(r"set -(e|eu|euo pipefail|o errexit)", first), first
    assert os.access(path, os.X_OK), "postBuild must be executable"
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_runtime_python_satisfies_requires_python() -> None:
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert match, f"runtime.txt must read python-X.Y, not {runtime!r}"
    assert Version(match.group(1)) in SpecifierSet(pyproject()["project"]["requires-python"])


def test_start_script_is_an_executable_entrypoint() -> None:
    path = BINDER / "start"
    assert path.read_text().startswith("#!/bin/bash\n")
    assert os.access(path, os.X_OK), "start must be executable"
    assert code_lines(path)[-1] == 'exec "$@"', "start must hand over to Jupyter"
    # Session start must be fast and offline: installs and downloads belong in postBuild.
    assert not re.search(r"\b(pip|conda|mamba|curl|wget|git)\b", " ".join(code_lines(path)))


def start_env(**env: str) -> dict[str, str]:
    """Run binder/start with `env` as the whole environment; the environment it hands over."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    out = subprocess.run(
        [str(BINDER / "start"), "env"],
        env={**base, **env},
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.mark.parametrize(("cpu_limit", "threads"), [("0.5", "1"), ("1", "1"), ("1.5", "2")])
def test_start_limits_threads_to_the_session_cpus(cpu_limit: str, threads: str) -> None:
    env = start_env(CPU_LIMIT=cpu_limit)
    for name in ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"]:
        assert env[name] == threads, name


def test_start_without_a_cpu_limit_still_sets_a_small_thread_count() -> None:
    threads = start_env()["OMP_NUM_THREADS"]
    assert threads.isdigit() and int(threads) >= 1


def test_start_keeps_thread_counts_the_user_set() -> None:
    env = start_env(CPU_LIMIT="2", OMP_NUM_THREADS="7")
    assert env["OMP_NUM_THREADS"] == "7"
    assert env["MKL_NUM_THREADS"] == "2"
