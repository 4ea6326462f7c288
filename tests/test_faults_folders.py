"""Faults in a learner's own image folder, one row per case: what a hostile or careless user
brings (links, loops, devices, odd image modes, bombs, typos), and what ftkit must answer.

Every row asserts the words of the message (the problem, the value seen, the fix) and that
nothing in the folder changed; the rows that must work assert the pixels they produce.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from fault_fixtures import within
from PIL import Image

from ftkit import folder_scan, folders, images

# --- builders -------------------------------------------------------------------------------


def img(path: Path, value: int = 0, mode: str = "RGB", size=(12, 10)) -> Path:
    """A small image whose pixels depend on ``value`` (distinct files are distinct images)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path)
    return path


def good(root: Path, classes=("cat", "dog"), n: int = 5, offset: int = 0) -> Path:
    for c, name in enumerate(classes):
        for i in range(n):
            img(root / name / f"{i}.png", value=offset + 100 * c + i)
    return root


def snapshot(root: Path) -> dict:
    """Every entry under root (links not followed): its kind and, for files, its sha256."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                found[str(p)] = ("link", os.readlink(p))
            elif p.is_file():
                found[str(p)] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
            else:
                found[str(p)] = ("other", p.stat().st_mode)
    return found


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --- the cases that must be refused with a clear message ----------------------------------


def missing(tmp):
    good(tmp / "pets")
    return tmp / "pest"  # a typo


def a_file(tmp):
    return img(tmp / "photo.jpg")


def empty_root(tmp):
    (tmp / "photos").mkdir()
    return tmp / "photos"


def images_at_top(tmp):
    for i in range(3):
        img(tmp / "cat" / f"{i}.jpg", value=i)
    return tmp / "cat"  # the user pointed at a class folder


def one_class(tmp):
    for i in range(4):
        img(tmp / "only" / f"{i}.png", value=i)
    return tmp


def empty_class(tmp):
    good(tmp)
    (tmp / "fish").mkdir()
    return tmp


def heic_only(tmp):
    good(tmp)
    (tmp / "bird").mkdir()
    for i in range(3):
        (tmp / "bird" / f"IMG_{i}.HEIC").write_bytes(b"ftypheic" * 10)
    return tmp


def too_few_named(tmp):
    good(tmp, classes=("ant", "bee", "cat"), n=5)
    for p in sorted((tmp / "ant").iterdir())[1:]:
        p.unlink()
    for p in sorted((tmp / "bee").iterdir())[2:]:
        p.unlink()
    return tmp


def loop_up(tmp):
    good(tmp)
    os.symlink("..", tmp / "cat" / "again")
    return tmp


def loop_self(tmp):
    good(tmp)
    os.symlink("spin.png", tmp / "cat" / "spin.png")  # a link to itself
    return tmp


def link_to_root_of_disk(tmp):
    good(tmp)
    os.symlink("/", tmp / "cat" / "everything")
    return tmp


def link_into_sibling(tmp):
    good(tmp)
    os.symlink(tmp / "dog", tmp / "cat" / "more")
    return tmp


def file_link_into_sibling(tmp):
    good(tmp)
    os.symlink(tmp / "dog" / "0.png", tmp / "cat" / "borrowed.png")
    return tmp


def hard_link_in_two_classes(tmp):
    good(tmp)
    os.link(tmp / "dog" / "0.png", tmp / "cat" / "same.png")
    return tmp


def class_alias(tmp):
    good(tmp)
    os.symlink(tmp / "cat", tmp / "kitty")
    return tmp


def broken_link(tmp):
    good(tmp)
    os.symlink(tmp / "gone.png", tmp / "cat" / "gone.png")
    return tmp


def dev_zero(tmp):
    good(tmp)
    os.symlink("/dev/zero", tmp / "cat" / "zero.jpg")
    return tmp


def fifo(tmp):
    good(tmp)
    os.mkfifo(tmp / "dog" / "pipe.png")
    return tmp


def copy_in_two_classes(tmp):
    good(tmp)
    (tmp / "dog" / "copy.png").write_bytes((tmp / "cat" / "0.png").read_bytes())
    return tmp


def truncated_jpeg(tmp):
    good(tmp)
    whole = img(tmp / "x.jpg", value=7, size=(64, 64)).read_bytes()
    (tmp / "x.jpg").unlink()
    (tmp / "cat" / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    return tmp


def zero_bytes(tmp):
    good(tmp)
    (tmp / "dog" / "empty.png").write_bytes(b"")
    return tmp


def text_as_jpeg(tmp):
    good(tmp)
    (tmp / "dog" / "notes.jpg").write_text("not a picture")
    return tmp


def several_kinds(tmp):
    good(tmp)
    (tmp / "cat" / "broken.jpg").write_bytes(b"\x00" * 10)
    for p in sorted((tmp / "dog").iterdir())[1:]:
        p.unlink()
    return tmp


def bomb(tmp):
    good(tmp)
    (tmp / "cat" / "bomb.png").write_bytes(png_header(30_000, 30_000))
    return tmp


def near_bomb(tmp):  # between Pillow's warning and error limits: refused all the same
    good(tmp)
    (tmp / "cat" / "big.png").write_bytes(png_header(10_000, 10_000))
    return tmp


def float_tiff(tmp):
    good(tmp)
    Image.fromarray(np.linspace(0, 3, 100, dtype=np.float32).reshape(10, 10)).save(
        tmp / "cat" / "depth.tif"
    )
    return tmp


def int32_tiff(tmp):
    good(tmp)
    Image.new("I", (10, 10), 70_000).save(tmp / "dog" / "counts.tif")
    return tmp


FOLDER_FAULTS = [
    ("missing folder", missing, ["does not exist", "Did you mean", "pets", "Fix:"]),
    ("file instead of folder", a_file, ["is a file", "folder is needed", "Fix: point at"]),
    ("empty folder", empty_root, ["no class subfolders", "Fix:"]),
    ("pointed at a class folder", images_at_top, ["no class subfolders", "3 loose", "parent"]),
    ("one class", one_class, ["only one class", "['only']", "at least two"]),
    ("empty class folder", empty_class, ["fish: no images", "Fix: add images"]),
    ("only HEIC photos", heic_only, ["bird: no images", "IMG_0.HEIC", "not an image file type"]),
    (
        "too few, named one by one",
        too_few_named,
        ["ant: 1 usable image", "bee: 2 usable image", "at least 3"],
    ),
    ("link loop up the tree", loop_up, ["again is a link back to", "a loop", "Fix: remove"]),
    ("link to itself", loop_self, ["spin.png is a link to spin.png", "a loop of links"]),
    ("link to /", link_to_root_of_disk, ["everything is a link back to /", "a loop"]),
    ("link into a sibling class", link_into_sibling, ["more is a link into class folder 'dog'"]),
    ("file link to a sibling", file_link_into_sibling, ["one picture in classes", "'cat'"]),
    ("hard link in two classes", hard_link_in_two_classes, ["one picture in classes"]),
    ("class folder alias", class_alias, ["kitty is the same folder as class 'cat'"]),
    ("broken link", broken_link, ["gone.png is a link to", "which is missing"]),
    ("link to /dev/zero", dev_zero, ["zero.jpg is not a regular file", "not read"]),
    ("named pipe", fifo, ["pipe.png is not a regular file"]),
    ("one image in two classes", copy_in_two_classes, ["appear in two classes", "copy.png"]),
    ("truncated JPEG", truncated_jpeg, ["cut.jpg", "truncated", "Fix: re-save"]),
    ("zero-byte file", zero_bytes, ["empty.png", "(0 bytes)", "cannot read"]),
    ("text named .jpg", text_as_jpeg, ["notes.jpg", "not in an image format ftkit reads"]),
    (
        "all problems at once",
        several_kinds,
        ["2 kinds of problem", "broken.jpg", "dog: 1 usable image(s)", "changes nothing"],
    ),
    ("decompression bomb", bomb, ["bomb.png is too large to decode safely", "decompression"]),
    ("near-bomb", near_bomb, ["big.png is too large", "100000000 pixels", "Fix: resize"]),
    ("float TIFF", float_tiff, ["depth.tif", "floating-point pixels", "got mode F", "Fix:"]),
    ("32-bit integer TIFF", int32_tiff, ["counts.tif", "32-bit integer pixels", "got mode I"]),
]


@pytest.mark.parametrize(
    "build, words", [c[1:] for c in FOLDER_FAULTS], ids=[c[0] for c in FOLDER_FAULTS]
)
def test_folder_fault_is_refused_by_name_and_the_folder_is_untouched(tmp_path, build, words):
    root = build(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(folders.ImageFolderError) as err:
        within(60, lambda: folders.image_folder_splits(root, image_size=8))
    message = str(err.value)
    for word in words:
        assert word in message, message
    assert "got" in message
    assert snapshot(tmp_path) == before  # nothing moved, changed or added


# --- the cases that must work, with the right pixels --------------------------------------


def _one(tmp: Path, name: str, make) -> tuple[Path, Path]:
    good(tmp)
    path = tmp / "cat" / name
    make(path)
    return tmp, path


def _pixel(path: Path) -> tuple:
    return images.load_rgb(path).getpixel((0, 0))


@pytest.mark.parametrize(
    "name, make, expected",
    [
        ("gray.png", lambda p: Image.new("L", (9, 9), 77).save(p), (77, 77, 77)),
        ("bw.png", lambda p: Image.new("1", (9, 9), 1).save(p), (255, 255, 255)),
        ("wide.png", lambda p: Image.new("I;16", (9, 9), 32768).save(p), (128, 128, 128)),
        ("white16.png", lambda p: Image.new("I;16", (9, 9), 65535).save(p), (255, 255, 255)),
        ("clear.png", lambda p: Image.new("RGBA", (9, 9), (9, 9, 9, 0)).save(p), (255,) * 3),
        ("half.png", lambda p: Image.new("LA", (9, 9), (0, 128)).save(p), (127, 127, 127)),
        ("cmyk.jpg", lambda p: Image.new("CMYK", (9, 9), (0, 255, 255, 0)).save(p), "red"),
        ("anim.gif", lambda p: Image.new("P", (9, 9), 0).save(p), "any"),
    ],
)
def test_unusual_modes_become_the_right_rgb(tmp_path, name, make, expected):
    root, path = _one(tmp_path, name, make)
    value = _pixel(path)
    if expected == "red":
        assert value[0] > 200 and value[1] < 60 and value[2] < 60, value
    elif expected != "any":
        assert all(abs(a - b) <= 1 for a, b in zip(value, expected)), value
    splits = folders.image_folder_splits(root, image_size=8)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 11  # the extra one counts


def test_sixteen_bit_gray_is_scaled_not_clipped_to_white(tmp_path):
    ramp = (np.arange(100, dtype=np.uint16).reshape(10, 10) * 600).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    plain = np.asarray(Image.open(tmp_path / "ramp.png").convert("RGB"))[..., 0]
    mine = np.asarray(images.load_rgb(tmp_path / "ramp.png"))[..., 0]
    assert (plain == 255).mean() > 0.9  # Pillow's convert clips nearly everything to white
    assert np.abs(mine.astype(int) - np.round(ramp / 257).astype(int)).max() <= 1


def test_phone_photo_is_turned_upright(tmp_path):
    picture = Image.new("RGB", (20, 10), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    picture.save(tmp_path / "phone.jpg", exif=exif)
    assert Image.open(tmp_path / "phone.jpg").size == (20, 10)
    assert images.load_rgb(tmp_path / "phone.jpg").size == (10, 20)


def test_animated_gif_gives_its_first_frame(tmp_path):
    red, blue = Image.new("RGB", (9, 9), (255, 0, 0)), Image.new("RGB", (9, 9), (0, 0, 255))
    red.save(tmp_path / "a.gif", save_all=True, append_images=[blue], duration=100)
    assert _pixel(tmp_path / "a.gif") == (255, 0, 0)


def test_hidden_and_non_image_files_are_named_and_skipped(tmp_path):
    good(tmp_path)
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / "cat" / "notes.txt").write_text("hi")
    (tmp_path / "README.md").write_text("my photos")
    with pytest.warns(folders.ImageFolderWarning) as record:
        splits = folders.image_folder_splits(tmp_path, image_size=8)
    text = str(record[0].message)
    for word in (
        ".DS_Store (hidden)",
        ".ipynb_checkpoints (hidden)",
        "notes.txt (not an image",
        "README.md (not inside a class folder)",
    ):
        assert word in text
    assert splits.classes == ["cat", "dog"]


def test_links_within_a_class_and_copies_are_read_once(tmp_path):
    good(tmp_path)
    os.symlink(tmp_path / "cat" / "0.png", tmp_path / "cat" / "alias.png")
    (tmp_path / "dog" / "copy.png").write_bytes((tmp_path / "dog" / "1.png").read_bytes())
    with pytest.warns(folders.ImageFolderWarning) as record:
        splits = folders.image_folder_splits(tmp_path, image_size=8)
    messages = " ".join(str(r.message) for r in record)
    assert "alias.png (same file as" in messages and "copy.png (an exact copy of" in messages
    assert len(splits.train) + len(splits.val) + len(splits.test) == 10  # 5 + 5, each once


def test_linked_class_folder_outside_the_root_is_followed(tmp_path):
    good(tmp_path / "elsewhere", classes=("dog",), offset=1000)
    good(tmp_path / "pets", classes=("cat",))
    os.symlink(tmp_path / "elsewhere" / "dog", tmp_path / "pets" / "dog")
    splits = folders.image_folder_splits(tmp_path / "pets", image_size=8)
    assert splits.classes == ["cat", "dog"]
    assert torch.bincount(torch.cat([splits.train.labels, splits.test.labels])).tolist() == [4, 4]


def test_unicode_names_work(tmp_path):
    good(tmp_path, classes=("čaj", "猫", "🐶 dogs"))
    splits = folders.image_folder_splits(tmp_path, image_size=8)
    assert splits.classes == sorted(["čaj", "猫", "🐶 dogs"])


def test_unreadable_file_is_named_with_the_fix(tmp_path, monkeypatch):
    """Running as root, chmod 000 does not stop a read; the refusal is simulated instead."""
    good(tmp_path)
    locked = tmp_path / "dog" / "3.png"
    real = Path.read_bytes

    def read_bytes(self):
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(folders.ImageFolderError, match="3.png: Permission denied.*permissions"):
        folders.image_folder_splits(tmp_path, image_size=8)


def test_the_walk_has_a_bound(tmp_path, monkeypatch):
    good(tmp_path)
    monkeypatch.setattr(folder_scan, "MAX_ENTRIES", 6)
    with pytest.raises(
        folders.ImageFolderError, match="more than 6 files.*Fix: point at a smaller"
    ):
        folders.open_image_folder(tmp_path)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"image_size": 0}, ["image_size must be a whole number, at least 1", "got 0"]),
        ({"image_size": 32.5}, ["image_size", "got 32.5", "info.image_size"]),
        ({"image_size": 8, "val_fraction": 0}, ["val_fraction must be", "above 0", "got 0"]),
        ({"image_size": 8, "test_fraction": float("nan")}, ["test_fraction", "got nan"]),
        ({"image_size": 8, "val_fraction": 0.5, "test_fraction": 0.5}, ["below 1", "got 1.0"]),
        ({"image_size": 8, "seed": -3}, ["seed must be a whole number, at least 0", "got -3"]),
        ({"image_size": 10**6}, ["would take", "GB of memory", "smaller image_size"]),
    ],
)
def test_folder_arguments_are_checked_before_reading(tmp_path, kwargs, words):
    good(tmp_path)
    with pytest.raises(ValueError) as err:
        folders.image_folder_splits(tmp_path, **kwargs)
    for word in words:
        assert word in str(err.value), str(err.value)
