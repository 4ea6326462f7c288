"""Helpers shared by the fault tests."""

from __future__ import annotations

import threading


def within(seconds: float, fn):
    """Run ``fn`` in a daemon thread; fail (instead of hanging the suite) if it spins."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: it would hang"
    if "error" in box:
        raise box["error"]
    return box.get("value")
