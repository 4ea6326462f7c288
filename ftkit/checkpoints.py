"""One checksummed save and load for everything ftkit writes with ``torch.save``.

A ``.pt`` file is a pickle, and unpickling can run code. So a file is saved with its sha256
beside it (``<name>.sha256``, in ``sha256sum`` format), and loading checks that sha256 *before*
``torch.load(..., weights_only=True)`` (which itself refuses anything but tensors and plain
values) ever sees the bytes. Writes go to a temporary file in the same folder that is then
renamed over the target, so an interrupted save never leaves half a file behind.

>>> import tempfile, torch
>>> path = Path(tempfile.mkdtemp()) / "w.pt"
>>> digest = save({"w": torch.ones(2)}, path)
>>> load(path)["w"].tolist()
[1.0, 1.0]
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from ftkit import outputs

__all__ = ["ChecksumError", "load", "save", "sha256_of", "sha256_path", "verify"]


class ChecksumError(RuntimeError):
    """A file's bytes differ from its recorded sha256: refuse to load it."""


def sha256_of(path: str | Path) -> str:
    """The hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_path(path: str | Path) -> Path:
    """Where the checksum of ``path`` lives: ``<path>.sha256`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def save(blob: dict[str, Any], path: str | Path, *, overwrite: bool = False) -> str:
    """``torch.save`` ``blob`` (tensors and plain values) atomically, write its sha256 beside it
    and return the sha256.

    Refuses to replace an existing file unless ``overwrite=True``: a learner's earlier work is
    not clobbered by accident.
    """
    path = Path(path)
    with outputs.atomic_path(path, overwrite=overwrite) as tmp:
        torch.save(blob, tmp)
        digest = sha256_of(tmp)
    # the payload first: a reader in between sees a mismatch and refuses, never a stale pair
    with outputs.atomic_path(sha256_path(path), overwrite=True) as tmp_sha:
        tmp_sha.write_text(f"{digest}  {path.name}\n")
    return digest


def verify(path: str | Path, *, fix: str = "Save or download it again.") -> str:
    """The file's sha256 after checking it against ``<path>.sha256``; raises if either is
    missing or they differ. ``fix`` is the advice the error ends with."""
    path, sha_file = Path(path), sha256_path(path)
    if not path.exists() or not sha_file.exists():
        raise FileNotFoundError(
            f"No checkpoint at {path} with {sha_file.name} beside it: both files are needed "
            f"(the .sha256 proves the file is the one that was saved). {fix}"
        )
    recorded = sha_file.read_text().split()
    expected = recorded[0] if recorded else ""
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumError(
            f"{path.name} has sha256 {actual[:12]}... but {sha_file.name} says "
            f"{expected[:12] or '(nothing)'}...: the file changed since it was saved (corrupt, "
            f"truncated or replaced), so it is not loaded. {fix}"
        )
    return actual


def load(path: str | Path, *, fix: str = "Save or download it again.") -> dict[str, Any]:
    """The saved dict, on the CPU, after ``verify``; ``weights_only=True`` so that no code in
    the file can run."""
    verify(path, fix=fix)
    return torch.load(Path(path), map_location="cpu", weights_only=True)
