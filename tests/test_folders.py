import pytest
import torch
from PIL import Image

from ftkit import folders


def _write(path, mode="RGB", colour=(200, 30, 30), size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "L":
        Image.new("L", size, colour[0]).save(path)
    elif mode == "RGBA":
        Image.new("RGBA", size, (*colour, 0)).save(path)
    else:
        Image.new("RGB", size, colour).save(path)


def _photo_folder(root, per_class=5):
    for i in range(per_class):
        _write(root / "cats" / f"{i}.png", colour=(250, 10, 10 + 20 * i))  # distinct images:
        _write(root / "dogs" / f"{i}.jpg", colour=(10, 10 + 20 * i, 250))  # copies are read once
    return root


def test_image_folder_splits_are_stratified_and_resized(tmp_path):
    splits = folders.image_folder_splits(_photo_folder(tmp_path / "photos"), image_size=16)
    assert splits.classes == ["cats", "dogs"]
    assert splits.train.images.shape[1:] == (3, 16, 16)
    assert torch.bincount(splits.test.labels).tolist() == [1, 1]
    assert torch.bincount(splits.train.labels).tolist() == [3, 3]
    assert splits.train.images[splits.train.labels == 0][:, 0].float().mean() > 200  # red cats


def test_grayscale_and_rgba_are_converted(tmp_path):
    root = _photo_folder(tmp_path / "photos")
    _write(root / "cats" / "grey.png", mode="L", colour=(128,))
    _write(root / "dogs" / "clear.png", mode="RGBA")
    splits = folders.image_folder_splits(root, image_size=8)
    total = len(splits.train) + len(splits.val) + len(splits.test)
    assert total == 12
    assert folders.load_rgb(str(root / "dogs" / "clear.png")).getpixel((0, 0)) == (255, 255, 255)
    assert folders.load_rgb(str(root / "cats" / "grey.png")).mode == "RGB"


def test_missing_folder(tmp_path):
    with pytest.raises(folders.ImageFolderError, match="does not exist.*one subfolder per class"):
        folders.image_folder_splits(tmp_path / "nope", image_size=8)


def test_folder_without_class_subfolders(tmp_path):
    _write(tmp_path / "loose.png")
    with pytest.raises(folders.ImageFolderError, match="no class subfolders"):
        folders.image_folder_splits(tmp_path, image_size=8)


def test_class_folders_without_images(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "notes.txt").write_text("hi")
    with pytest.raises(folders.ImageFolderError, match="no images"):
        folders.image_folder_splits(tmp_path, image_size=8)


def test_single_class(tmp_path):
    for i in range(3):
        _write(tmp_path / "only" / f"{i}.png", colour=(i, 0, 0))
    with pytest.raises(folders.ImageFolderError, match="only one class"):
        folders.image_folder_splits(tmp_path, image_size=8)


def test_unreadable_image_is_named_and_left_in_place(tmp_path):
    root = _photo_folder(tmp_path / "photos")
    broken = root / "dogs" / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    with pytest.raises(folders.ImageFolderError, match="broken.jpg") as err:
        folders.image_folder_splits(root, image_size=8)
    assert "1 file(s)" in str(err.value)
    assert broken.read_bytes() == b"not a jpeg at all"  # nothing the user made is touched


def test_too_few_images_per_class(tmp_path):
    _photo_folder(tmp_path, per_class=5)
    for p in list((tmp_path / "dogs").iterdir())[2:]:
        p.unlink()
    with pytest.raises(folders.ImageFolderError, match="dogs: 2 usable image") as err:
        folders.image_folder_splits(tmp_path, image_size=8)
    assert "needs at least 3" in str(err.value) and "cats" not in str(err.value)
