"""Lesson 08's exercises, through the same checkers the notebook calls
(``ftkit.studies.own_data``): each reference solution passes, a wrong answer fails."""

import numpy as np
import pytest
from PIL import Image

from ftkit.studies import own_data


@pytest.mark.parametrize(
    "answer, ok",
    [("validation", True), ("Validation ", True), ("test", False), ("train", False), (None, False)],
)
def test_exercise_1_split_for_tuning(answer, ok):
    assert own_data.check_tuning_split(answer) is ok


def test_exercise_2_fix_the_folder(tmp_path, capsys):
    ex_root = own_data.make_broken_folder(tmp_path / "exercise_folder")
    assert not own_data.check_folder_loads(ex_root)
    assert "broken.jpg" in capsys.readouterr().out
    (ex_root / "cat" / "broken.jpg").unlink()  # half a fix: dog still has 2 images
    assert not own_data.check_folder_loads(ex_root)
    Image.new("RGB", (32, 32), (90, 100, 20)).save(ex_root / "dog" / "2.png")  # the rest
    assert own_data.check_folder_loads(ex_root)


def test_exercise_2_deleting_a_class_is_not_a_fix(tmp_path):
    ex_root = own_data.make_broken_folder(tmp_path / "exercise_folder")
    (ex_root / "cat" / "broken.jpg").unlink()
    for path in (ex_root / "dog").iterdir():
        path.unlink()
    (ex_root / "dog").rmdir()
    assert not own_data.check_folder_loads(ex_root)  # only one class left: not the folder asked


def test_exercise_3_wrong_predictions_from_the_confusion_matrix():
    cm = np.array([[5, 0, 0], [1, 3, 1], [0, 2, 3]])
    assert not own_data.check_wrong_count(None, cm)
    assert not own_data.check_wrong_count(int(np.trace(cm)), cm)  # the right ones, not the wrong
    assert own_data.check_wrong_count(int(cm.sum() - np.trace(cm)), cm)  # the reference


class Experiment:
    """Stands in for the notebook's ``finetune``: validation accuracy per seed, counting calls."""

    def __init__(self, values):
        self.values, self.calls = values, []

    def __call__(self, *, seed):
        self.calls.append(seed)
        return {"val": self.values[seed], "test": 0.5}


BASELINE = [0.84, 0.80, 0.88]  # the chosen fine-tune's validation accuracy per seed


@pytest.mark.parametrize(
    "measured, right, wrong",
    [
        ([0.60, 0.56, 0.64], "lower", "higher"),
        ([0.92, 0.92, 0.96], "higher", "no measurable difference"),
        ([0.88, 0.76, 0.88], "no measurable difference", "lower"),
    ],
)
def test_exercise_4_judges_the_prediction_on_the_measured_runs(measured, right, wrong):
    assert own_data.predict_then_measure(right, Experiment(measured), BASELINE, seeds=(0, 1, 2))
    experiment = Experiment(measured)
    assert not own_data.predict_then_measure(wrong, experiment, BASELINE, seeds=(0, 1, 2))
    assert experiment.calls == [0, 1, 2]


def test_exercise_4_runs_nothing_without_a_prediction():
    experiment = Experiment([0.6, 0.6, 0.6])
    assert not own_data.predict_then_measure(None, experiment, BASELINE, seeds=(0, 1, 2))
    assert experiment.calls == []


def test_setting_labels_and_bars():
    assert own_data.setting({"lr": 3e-4}) == "lr=0.0003"
    records = [
        {"setting": s, "seed": i, "val": v}
        for s, values in (("lr=0.001", [0.8, 0.9]), ("lr=0.01", [0.3, 0.5]))
        for i, v in enumerate(values)
    ]
    fig = own_data.setting_bars(records)
    bars = fig.axes[0].patches
    assert [round(b.get_height(), 3) for b in bars] == [0.85, 0.4]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["lr=0.001", "lr=0.01"]
