"""Shared test settings: a non-interactive matplotlib backend, no network for torch hub."""

import matplotlib

matplotlib.use("Agg")
