"""Lesson 02 writes the training loop out by hand before the course relies on ``training.fit``;
``fit`` with the same settings must reproduce it: the same losses epoch by epoch, the same
weights at the end. The loop under test is read from the lesson itself, so they cannot drift."""

import json
from pathlib import Path

import torch
from torch import nn

from ftkit import data, models, training

LESSON = Path(__file__).resolve().parents[1] / "lessons" / "02_feature_extraction.ipynb"


def lesson_loop():
    """The lesson's ``train_by_hand``, executed from its cell's source."""
    cells = json.loads(LESSON.read_text())["cells"]
    (source,) = [
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code" and "def train_by_hand(" in "".join(c["source"])
    ]
    namespace = {"torch": torch, "nn": nn, "training": training}
    exec(compile(source.split("\n\n\n")[0], str(LESSON), "exec"), namespace)  # the def only
    return namespace["train_by_hand"]


def scratch_setup(seed=0):
    splits = data.load_target("digits", k=5, seed=seed)
    torch.manual_seed(seed)
    model, info = models.load_backbone("embedded", pretrained=False)
    models.replace_head(model, 10, seed=seed)
    train_loader, val_loader, _ = data.make_loaders(splits, info, seed=seed)
    return model, train_loader, val_loader


def test_fit_reproduces_the_loop_written_out_in_lesson_02():
    train_by_hand = lesson_loop()
    by_hand, train_loader, val_loader = scratch_setup()
    curves = train_by_hand(by_hand, train_loader, val_loader, epochs=3, lr=0.05)
    with_fit, train_loader, val_loader = scratch_setup()
    history = training.fit(with_fit, train_loader, val_loader, epochs=3, lr=0.05, optimizer="sgd")
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert torch.allclose(
            torch.tensor(curves[key]), torch.tensor(getattr(history, key)), rtol=1e-5, atol=1e-6
        ), key
    for (name, a), b in zip(by_hand.state_dict().items(), with_fit.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), name
    assert curves["train_loss"][-1] < curves["train_loss"][0]  # it did learn


def test_a_different_learning_rate_gives_different_weights():
    """The comparison above can fail: one setting changed and the runs part."""
    train_by_hand = lesson_loop()
    by_hand, train_loader, val_loader = scratch_setup()
    curves = train_by_hand(by_hand, train_loader, val_loader, epochs=1, lr=0.05)
    with_fit, train_loader, val_loader = scratch_setup()
    history = training.fit(with_fit, train_loader, val_loader, epochs=1, lr=0.02, optimizer="sgd")
    assert not torch.allclose(torch.tensor(curves["val_loss"]), torch.tensor(history.val_loss))
    assert not torch.allclose(by_hand.fc.weight, with_fit.fc.weight)
