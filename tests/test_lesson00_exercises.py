"""Lesson 00's exercises: each reference solution passes its check, a wrong answer fails."""

from torch import nn

from ftkit import exercises, models

OPTIONS = ["train from scratch", "feature extraction", "full fine-tuning at a large learning rate"]


def test_source_classes():
    _, info = models.load_backbone("embedded")
    expected = len(models.load_backbone("embedded")[1].source_classes)
    assert exercises.check("source classes", len(info.source_classes), expected)
    assert not exercises.check("source classes", None, expected)
    assert not exercises.check("source classes", 10, expected)


def test_first_approach():
    assert exercises.check_choice(
        "feature extraction", "feature extraction", OPTIONS, name="first approach"
    )
    assert not exercises.check_choice(None, "feature extraction", OPTIONS, name="first approach")
    assert not exercises.check_choice("train from scratch", "feature extraction", OPTIONS)


def test_feature_extractor():
    model, _ = models.load_backbone("embedded")
    assert not exercises.check_frozen(model, ["head"])  # the untouched placeholder
    assert not exercises.check_head(model, 10)
    for p in model.parameters():  # the reference solution
        p.requires_grad = False
    model.fc = nn.Linear(model.fc.in_features, 10)
    assert exercises.check_frozen(model, ["head"])
    assert exercises.check_head(model, 10)


def test_freezing_after_the_new_head_is_wrong():
    model, _ = models.load_backbone("embedded")
    model.fc = nn.Linear(model.fc.in_features, 10)
    for p in model.parameters():  # freezes the new head too
        p.requires_grad = False
    assert not exercises.check_frozen(model, ["head"])
    assert not exercises.check_head(model, 10)
