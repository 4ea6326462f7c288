"""Opening the lessons on Google Colab: a badge per lesson, and a first code cell that installs
ftkit there (and only there).

The install cell must be a no-op on a laptop, on Binder and under nbval: it acts only when the
kernel runs inside Colab (``google.colab`` is importable) and ftkit is not installed yet.

>>> colab_url("lessons/00_welcome.ipynb")
'https://colab.research.google.com/github/ftkit/ftkit/blob/main/lessons/00_welcome.ipynb'
"""

from __future__ import annotations

from pathlib import PurePosixPath

#: The GitHub repository the badges point at (Binder's badge assumes the same).
REPOSITORY = "ftkit/ftkit"
BRANCH = "main"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"

#: The first code cell of every lesson, verbatim (``tests/test_colab.py`` checks each lesson).
INSTALL_CELL = f"""\
# On Google Colab only: install ftkit from its repository (a no-op everywhere else).
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("google.colab") and not importlib.util.find_spec("ftkit"):
    url = "git+https://github.com/{REPOSITORY}@{BRANCH}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)"""


def colab_url(lesson: str | PurePosixPath) -> str:
    """The Colab address of a lesson given by its path in the repository."""
    path = PurePosixPath(lesson)
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{path}"


def badge(lesson: str | PurePosixPath) -> str:
    """The markdown "Open in Colab" badge of a lesson."""
    return f"[![Open in Colab]({BADGE_IMAGE})]({colab_url(lesson)})"
