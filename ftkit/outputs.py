"""Writing files without losing work: check the destination before a long job, never overwrite
unless asked, and write atomically (a temporary file in the same folder, then a rename), so a
crash or a full disk never leaves a half-written file where a good one was.

>>> from pathlib import Path
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> with atomic_path(folder / "notes.txt") as tmp:
...     _ = tmp.write_text("hello")
>>> (folder / "notes.txt").read_text()
'hello'
>>> with atomic_path(folder / "notes.txt") as tmp:  # doctest: +ELLIPSIS
...     _ = tmp.write_text("bye")
Traceback (most recent call last):
...
ftkit.checks.InputError: the output already exists and ftkit does not overwrite files unless \
asked; got .../notes.txt. Fix: ...
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from ftkit.checks import fail, shown


def writable_dir(directory: str | Path, *, create: bool = True) -> Path:
    """``directory`` (created if missing and ``create``), after proving a file can be written
    there: a temporary file is made and removed. Refuses a path that is a file."""
    directory = Path(directory).expanduser()
    for parent in (directory, *directory.parents):
        if parent.exists() and not parent.is_dir():
            raise fail(
                "the output folder cannot be made: a file is in the way",
                shown(str(parent)),
                "choose a folder path, or move that file.",
            )
        if parent.exists():
            break
    try:
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".ftkit-write-test-"):
            pass
    except OSError as exc:
        raise fail(
            "ftkit cannot write to the output folder",
            shown(f"{directory} ({exc.strerror or exc})"),
            "choose a folder you can write to (e.g. one in your home folder), or fix its "
            "permissions.",
        ) from exc
    return directory


def new_file(path: str | Path, *, overwrite: bool = False, flag: str = "overwrite=True") -> Path:
    """``path``, checked before any work: not a folder, its folder writable, and not already
    there unless ``overwrite`` (``flag`` names the way to ask, e.g. ``--force``)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise fail(
            "the output path is a folder, not a file",
            shown(str(path)),
            f"give a file name inside it, e.g. {path / 'model.pt'}.",
        )
    if path.exists() and not overwrite:
        raise _exists(path, flag)
    writable_dir(path.parent)
    return path


def new_files(
    paths: Sequence[str | Path], *, overwrite: bool = False, flag: str = "overwrite=True"
) -> list[Path]:
    """``new_file`` for several paths, reporting every one that exists at once."""
    paths = [Path(p).expanduser() for p in paths]
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise _exists(existing[0] if len(existing) == 1 else existing, flag)
    return [new_file(p, overwrite=True) for p in paths]


def _exists(found: Path | list[Path], flag: str):
    shown_paths = str(found) if isinstance(found, Path) else ", ".join(map(str, found))
    return fail(
        "the output already exists and ftkit does not overwrite files unless asked",
        shown(shown_paths),
        f"choose another name, move the old file away, or pass {flag} to replace it.",
    )


@contextlib.contextmanager
def atomic_path(
    path: str | Path, *, overwrite: bool = False, flag: str = "overwrite=True"
) -> Iterator[Path]:
    """A temporary path to write to; on success it becomes ``path`` in one rename.

    The temporary file has ``path``'s own name, in a fresh hidden folder beside it (the same
    file system, so the rename is atomic; ``torch.save`` records the file's name inside the
    archive, so the result is byte-identical to a direct save). On an error the temporary
    file is removed and ``path`` is untouched. Without ``overwrite``, an existing ``path`` is
    refused before and (atomically, with a hard link) after writing, so a file that appeared
    meanwhile is not replaced either.
    """
    path = new_file(path, overwrite=overwrite, flag=flag)
    folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp = folder / path.name
    try:
        yield tmp
        place(tmp, path, overwrite=overwrite, flag=flag)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def place(tmp: Path, path: Path, *, overwrite: bool, flag: str = "overwrite=True") -> None:
    """Move the finished ``tmp`` to ``path`` atomically (same folder, so one rename)."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if path exists: no clobbering, even in a race
    except FileExistsError:
        raise _exists(path, flag) from None
    except OSError as exc:  # a file system without hard links
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK):
            raise
        if path.exists():
            raise _exists(path, flag) from None
        os.replace(tmp, path)
        return
    tmp.unlink()
