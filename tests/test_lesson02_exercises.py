"""Lesson 02's exercises: each reference solution passes its check, a wrong answer fails."""

from torch import nn

from ftkit import exercises, models

OPTIONS = ["linear probe", "full fine-tuning", "train from scratch"]


def test_trainable_parameters():
    model, _ = models.load_backbone("embedded")
    for p in model.parameters():
        p.requires_grad = False
    model.fc = nn.Linear(model.fc.in_features, 10)
    assert exercises.check("trainable parameters", 128 * 10 + 10, 1290)
    assert exercises.check(
        "trainable parameters", models.count_parameters(model, trainable_only=True), 1290
    )
    assert not exercises.check("trainable parameters", None, 1290)
    assert not exercises.check("trainable parameters", 1280, 1290)


def test_backbone_passes():
    assert exercises.check("backbone passes per training image", 1, 1)
    assert not exercises.check("backbone passes per training image", None, 1)
    assert not exercises.check("backbone passes per training image", 100, 1)


def test_plenty_of_labels():
    assert exercises.check_choice(
        "full fine-tuning", "full fine-tuning", OPTIONS, name="plenty of labels"
    )
    assert not exercises.check_choice(None, "full fine-tuning", OPTIONS, name="plenty of labels")
    assert not exercises.check_choice(
        "linear probe", "full fine-tuning", OPTIONS, name="plenty of labels"
    )
