"""Walking an image folder once, safely: class folders, image files, and what is wrong.

Links are followed but resolved to the file or folder they reach, so that a loop is stopped
(not walked forever), a link into another class folder or one file in two classes is a
problem (it would mix classes, or leak test images into training), and a file reached twice
within a class is read once. Devices, pipes and sockets (say a link to ``/dev/zero``) are never
opened. The walk stops after ``MAX_ENTRIES`` entries, so no folder can make it run forever.
"""

from __future__ import annotations

import difflib
import errno
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torchvision.datasets.folder import IMG_EXTENSIONS

from ftkit.checks import InputError

LAYOUT = "my_photos/cat/001.jpg, my_photos/cat/002.jpg, my_photos/dog/001.jpg, ..."
LISTED = 12  # how many paths a message names before "... and N more"


class ImageFolderError(InputError):
    """The folder cannot be used as a dataset; the message says why and how to fix it."""


class ImageFolderWarning(UserWarning):
    """Files in the folder that are not used (hidden, not images, read once): named, skipped."""


def listing(lines: list[str]) -> str:
    """Indented lines, at most ``LISTED`` of them and a count of the rest."""
    shown = [f"  {line}" for line in lines[:LISTED]]
    if len(lines) > LISTED:
        shown.append(f"  ... and {len(lines) - LISTED} more")
    return "\n".join(shown)


def check_root(root: str | Path) -> Path:
    """``root`` as a Path if it is an existing, listable folder; else a message with the fix."""
    root = Path(root).expanduser()
    if root.is_file():
        hint = root.parent.parent if root.suffix.lower() in IMAGE_EXTENSIONS else root.parent
        raise ImageFolderError(
            f"{root} is a file, but a folder is needed; got a file. Fix: point at the folder "
            f"that holds one subfolder per class (perhaps {hint}), like {LAYOUT}"
        )
    if not root.is_dir():
        raise ImageFolderError(
            f"folder {root} does not exist (resolved to {root.resolve()}); got {str(root)!r}."
            f"{_near_names(root)} Fix: point at a folder with one subfolder per class, like "
            f"{LAYOUT}"
        )
    return root


def _near_names(root: Path) -> str:
    try:
        names = [p.name for p in root.parent.iterdir()]
    except OSError:
        return ""
    close = difflib.get_close_matches(root.name, names, n=3)
    return f" Did you mean {', '.join(str(root.parent / n) for n in close)}?" if close else ""


IMAGE_EXTENSIONS = (*IMG_EXTENSIONS, ".gif")
MAX_ENTRIES = 200_000  # a bound on the walk: a link to a huge folder must not scan forever
MAX_DEPTH = 32


@dataclass
class FolderScan:
    """What is in an image folder: class names, (path, label) samples, and what was wrong."""

    root: Path
    classes: list[str]
    samples: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path (why)": named in a warning
    problems: list[str] = field(default_factory=list)  # "path: what is wrong": an error

    def counts(self) -> list[int]:
        return np.bincount([t for _, t in self.samples], minlength=len(self.classes)).tolist()

    def raise_problems(self) -> None:
        if self.problems:
            raise ImageFolderError(
                f"{len(self.problems)} problem(s) in {self.root}; got:\n{listing(self.problems)}\n"
                "Fix: remove or repair these links and files (ftkit changes nothing there)."
            )

    def warn_skipped(self) -> None:
        if self.skipped:
            warnings.warn(
                f"{len(self.skipped)} file(s) in {self.root} are not used:\n"
                f"{listing(self.skipped)}",
                ImageFolderWarning,
                stacklevel=3,
            )


def scan_folder(root: str | Path) -> FolderScan:
    """Walk ``root`` once (links resolved, loops and walks beyond ``MAX_ENTRIES`` stopped)."""
    return _Walker(check_root(root)).scan()


class _Walker:
    def __init__(self, root: Path) -> None:
        self.root, self.real_root = root, Path(os.path.realpath(root))
        self.files: dict[tuple[int, int], tuple[int, str]] = {}  # identity -> (label, path)
        self.dirs: dict[tuple[int, int], tuple[int, str]] = {}
        self.entries = 0

    def scan(self) -> FolderScan:
        self.scan_result = result = FolderScan(self.root, [])
        root_id = _identity(os.stat(self.root))
        class_dirs = []
        for entry in _sorted_entries(self.root):
            if entry.name.startswith("."):
                result.skipped.append(f"{entry.path} (hidden)")
                continue
            kind, st = self._kind(entry)
            if kind == "dir":
                class_dirs.append((Path(entry.path), _identity(st)))
            elif kind == "file":
                result.skipped.append(f"{entry.path} (not inside a class folder)")
        result.classes = [path.name for path, _ in class_dirs]
        self.class_ids: dict[tuple[int, int], int] = {}
        for label, (path, ident) in enumerate(class_dirs):
            if ident == root_id or self._above_root(path):
                self._problem(path, "is a link to the folder itself or above it: a loop")
            elif ident in self.class_ids:
                other = result.classes[self.class_ids[ident]]
                self._problem(path, f"is the same folder as class {other!r} (a link): keep one")
            else:
                self.class_ids[ident] = label
        for label, (path, ident) in enumerate(class_dirs):
            if self.class_ids.get(ident) == label:
                self.dirs[ident] = (label, str(path))
                self._walk(path, label, (root_id, ident), depth=1)
        return result

    def _problem(self, path: Path | str, what: str) -> None:
        self.scan_result.problems.append(f"{path} {what}")

    def _kind(self, entry: os.DirEntry) -> tuple[str, os.stat_result | None]:
        self.entries += 1
        if self.entries > MAX_ENTRIES:
            raise ImageFolderError(
                f"{self.root} holds more than {MAX_ENTRIES:,} files and folders (links "
                f"followed); got at least {self.entries:,}. Fix: point at a smaller folder, or "
                "remove a link that leads into a big one."
            )
        try:
            st = os.stat(entry.path)  # follows links
        except OSError as exc:
            if entry.is_symlink():
                target = os.readlink(entry.path)
                reason = "a loop of links" if exc.errno == errno.ELOOP else "missing"
                self._problem(entry.path, f"is a link to {target}, which is {reason}")
            else:
                self._problem(entry.path, f"cannot be read ({exc.strerror})")
            return "problem", None
        if stat.S_ISDIR(st.st_mode):
            return "dir", st
        if stat.S_ISREG(st.st_mode):
            return "file", st
        self._problem(entry.path, "is not a regular file (a device, pipe or socket): not read")
        return "problem", None

    def _above_root(self, path: Path) -> bool:
        return self.real_root.is_relative_to(os.path.realpath(path))

    def _walk(self, directory: Path, label: int, stack: tuple, depth: int) -> None:
        entries = _sorted_entries(directory, self._problem)
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                self.scan_result.skipped.append(f"{entry.path} (hidden)")
                self.entries += 1
                continue
            kind, st = self._kind(entry)
            if kind == "file":
                self._add_file(entry.path, label, _identity(st))
            elif kind == "dir":
                subdirs.append((entry.path, _identity(st)))
        for path, ident in subdirs:
            self._enter(Path(path), ident, label, stack, depth)

    def _enter(self, path: Path, ident: tuple, label: int, stack: tuple, depth: int) -> None:
        real = os.path.realpath(path)
        if ident in stack or self._above_root(path):
            self._problem(path, f"is a link back to {real}, a folder that contains it: a loop")
        elif self.class_ids.get(ident, label) != label:
            other = self.scan_result.classes[self.class_ids[ident]]
            self._problem(path, f"is a link into class folder {other!r}: it would mix classes")
        elif ident in self.dirs and self.dirs[ident][0] != label:
            owner = self.scan_result.classes[self.dirs[ident][0]]
            self._problem(path, f"is the same folder as {self.dirs[ident][1]} (class {owner!r})")
        elif ident in self.dirs:
            self.scan_result.skipped.append(f"{path} (same folder as {self.dirs[ident][1]})")
        elif depth >= MAX_DEPTH:
            self._problem(path, f"is nested more than {MAX_DEPTH} folders deep")
        else:
            self.dirs[ident] = (label, str(path))
            self._walk(path, label, (*stack, ident), depth + 1)

    def _add_file(self, path: str, label: int, ident: tuple) -> None:
        scan = self.scan_result
        if not path.lower().endswith(IMAGE_EXTENSIONS):
            scan.skipped.append(f"{path} (not an image file type)")
        elif ident in self.files and self.files[ident][0] != label:
            first_label, first = self.files[ident]
            self._problem(
                path,
                f"is the same file as {first} (a link): one picture in classes "
                f"{scan.classes[first_label]!r} and {scan.classes[label]!r}",
            )
        elif ident in self.files:
            scan.skipped.append(f"{path} (same file as {self.files[ident][1]}, read once)")
        else:
            self.files[ident] = (label, path)
            scan.samples.append((path, label))


def _sorted_entries(directory: Path, problem=None) -> list[os.DirEntry]:
    try:
        with os.scandir(directory) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        if problem is None:
            raise ImageFolderError(
                f"cannot list {directory}; got {exc.strerror}. Fix: check its permissions."
            ) from exc
        problem(directory, f"cannot be listed ({exc.strerror})")
        return []


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino
