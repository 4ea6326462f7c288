"""Peak resident memory of a process and its children (Linux: exact, from /proc; elsewhere:
polled with psutil).

The lesson runner needs the memory a *kernel* used, not the runner's own: the kernel is a separate
process, so `resource.getrusage` of the runner cannot see it while it lives. Linux records each
process's high-water mark of resident memory (VmHWM), so one read after the work gives the exact
peak of a long-lived process; a background poll adds children (e.g. DataLoader workers) that may
exit before the end.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import psutil

PROC = Path("/proc")


def status_kib(pid: int, field: str = "VmHWM", *, proc: Path = PROC) -> int | None:
    """One `field` of /proc/<pid>/status in KiB, or None if the process or the field is gone.

    >>> import os
    >>> (status_kib(os.getpid()) or 1) > 0
    True
    """
    try:
        text = (proc / str(pid) / "status").read_text()
    except OSError:  # the process exited, or there is no /proc (not Linux)
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])  # "VmHWM:   123456 kB"
    return None  # kernel threads and zombies have no Vm* lines


def process_tree(pid: int) -> list[int]:
    """`pid` followed by all its living descendants (psutil: Linux, macOS and Windows alike)."""
    try:
        root = psutil.Process(pid)
        return [pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.Error:  # the process exited
        return []


def peak_kib(pid: int, *, proc: Path = PROC) -> int | None:
    """A process's peak resident memory in KiB: Linux's exact VmHWM where /proc has it, else
    its resident size now (psutil), which polling turns into a peak; None if it is gone."""
    kib = status_kib(pid, "VmHWM", proc=proc)
    if kib is not None:
        return kib
    try:
        return psutil.Process(pid).memory_info().rss // 1024
    except psutil.Error:
        return None


class PeakMemory:
    """Tracks the summed high-water marks of a process tree while it runs.

    The peak is the sum over every process ever seen in the tree of its own VmHWM: an upper bound
    of the tree's simultaneous peak, exact when only one process does the work (the usual kernel).

    >>> import os
    >>> watcher = PeakMemory(os.getpid(), interval=0.05)
    >>> watcher.sample(); watcher.peak_mib > 0 or math.isnan(watcher.peak_mib)
    True
    """

    def __init__(self, pid: int, *, interval: float = 0.1, proc: Path = PROC) -> None:
        self.pid = pid
        self.interval = interval
        self.proc = proc
        self._peaks_kib: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        """Read the current high-water mark of every process in the tree now."""
        for pid in process_tree(self.pid):
            kib = peak_kib(pid, proc=self.proc)
            if kib is None:
                continue
            with self._lock:
                self._peaks_kib[pid] = max(kib, self._peaks_kib.get(pid, 0))

    def start(self) -> PeakMemory:
        """Sample in a daemon thread every `interval` seconds until `stop`."""
        self._thread = threading.Thread(target=self._poll, name="ftkit-peak-memory", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Take a last sample (while the process still lives) and end the polling thread."""
        self.sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def peak_mib(self) -> float:
        """Summed peaks in MiB; NaN when nothing could be read."""
        with self._lock:
            if not self._peaks_kib:
                return math.nan
            return sum(self._peaks_kib.values()) / 1024

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
