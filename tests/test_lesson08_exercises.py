"""Lesson 08's exercises: each reference solution passes its check, a wrong answer fails."""

import numpy as np
import pytest
from PIL import Image

from ftkit import exercises, folders


@pytest.mark.parametrize(
    "answer, ok",
    [("validation", True), ("Validation ", True), ("test", False), ("train", False), (None, False)],
)
def test_exercise_1_split_for_tuning(answer, ok):
    assert (
        exercises.check_choice(
            answer, "validation", ["train", "validation", "test"], name="split for tuning"
        )
        is ok
    )


def folder_classes(root):
    try:
        return folders.image_folder_splits(root, image_size=32).classes
    except folders.ImageFolderError as exc:
        print("ImageFolderError:", exc)
        return None


def make_exercise_folder(ex_root):
    for name, count in (("cat", 4), ("dog", 2)):
        (ex_root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("RGB", (32, 32), (30 * i, 100, 200 if name == "cat" else 20)).save(
                ex_root / name / f"{i}.png"
            )
    (ex_root / "cat" / "broken.jpg").write_bytes(b"\x00" * 10)


def test_exercise_2_fix_the_folder(tmp_path, capsys):
    ex_root = tmp_path / "exercise_folder"
    make_exercise_folder(ex_root)
    assert not exercises.check("folder loads", folder_classes(ex_root), ["cat", "dog"])
    assert "broken.jpg" in capsys.readouterr().out
    (ex_root / "cat" / "broken.jpg").unlink()  # half a fix: dog still has 2 images
    assert not exercises.check("folder loads", folder_classes(ex_root), ["cat", "dog"])
    Image.new("RGB", (32, 32), (90, 100, 20)).save(ex_root / "dog" / "2.png")  # the rest
    assert exercises.check("folder loads", folder_classes(ex_root), ["cat", "dog"])


def test_exercise_3_wrong_predictions_from_the_confusion_matrix():
    cm = np.array([[5, 0, 0], [1, 3, 1], [0, 2, 3]])
    wrong = [0, 1, 2, 3]  # the notebook's list of misclassified test images (4 here)
    assert not exercises.check("wrong test predictions", None, len(wrong))
    assert not exercises.check("wrong test predictions", int(np.trace(cm)), len(wrong))
    n_wrong = int(cm.sum() - np.trace(cm))
    assert exercises.check("wrong test predictions", n_wrong, len(wrong))
