"""Shared test settings: a non-interactive matplotlib backend, no network for torch hub, and
the ``slow`` marker that separates the fast selection (``pytest -m "not slow" tests ftkit``,
about a minute) from the full run that CI makes (``pytest``)."""

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

#: Whole test modules that start kernels, browsers or pretraining, or time things on purpose.
SLOW_MODULES = {
    "test_bench.py",
    "test_browser.py",
    "test_cli.py",
    "test_lessons_runner.py",
    "test_perf.py",
    "test_pretrain.py",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark lesson notebooks (nbval) and the slow modules ``slow``."""
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb" or path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
