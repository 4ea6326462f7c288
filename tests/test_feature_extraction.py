"""feature_extraction (lesson 02): the probe and its mistakes, scratch training counted in
optimizer steps, raw-pixel features, and the probe-vs-scratch comparison."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from ftkit import data, features, models
from ftkit.studies import feature_extraction as fe


def test_probe_is_deterministic_and_pretrained_beats_chance_by_far():
    backbone, info = models.load_backbone("embedded")
    splits = data.load_target("near", k=5, seed=0)
    cache = features.FeatureCache()
    a = fe.probe(backbone, splits, info, seed=0, cache=cache, epochs=30)
    b = fe.probe(backbone, splits, info, seed=0, cache=cache, epochs=30)
    assert a.accuracy == b.accuracy and a.accuracy > 0.5
    assert a.images.shape[0] == a.labels.shape[0] == 500
    wrong = a.wrong
    assert (a.predictions[wrong] != a.labels[wrong]).all()
    assert len(wrong) == round((1 - a.accuracy) * 500)


def test_misclassified_figure():
    images = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    labels = torch.tensor([0, 1, 1, 0])
    result = fe.ProbeResult(0.5, torch.tensor([0, 0, 1, 1]), labels, images, ["a", "b"])
    fig = fe.misclassified_figure(result)
    assert [ax.get_title() for ax in fig.axes] == ["b -> a", "a -> b"]
    perfect = fe.ProbeResult(1.0, labels, labels, images, ["a", "b"])
    assert "no test image" in fe.misclassified_figure(perfect).texts[0].get_text()


def test_pixel_features_are_the_flattened_pixels():
    splits = data.load_target("digits", k=1, seed=0, image_size=16)
    x, y = fe.pixel_features(splits.train)
    assert x.shape == (10, 3 * 16 * 16) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(y, splits.train.labels)
    assert torch.allclose(x[0].view(3, 16, 16) * 255, splits.train.images[0].float())


def test_scratch_training_is_counted_in_optimizer_steps(monkeypatch):
    epochs_seen = []
    real_fit = fe.training.fit

    def spy(model, train_loader, *args, epochs, **kwargs):
        epochs_seen.append((len(train_loader), epochs))
        return real_fit(model, train_loader, *args, epochs=epochs, **kwargs)

    monkeypatch.setattr(fe.training, "fit", spy)
    a = fe.scratch_scores(0, k=1, steps=6, lr=0.03)  # 10 images: 1 batch per epoch
    b = fe.scratch_scores(0, k=5, steps=6, lr=0.03)  # 50 images: 2 batches per epoch
    assert epochs_seen == [(1, 6), (2, 3)]  # 6 optimizer steps either way
    assert set(a) == {"val", "test"} and all(0 <= v <= 1 for v in (*a.values(), *b.values()))
    assert fe.scratch_scores(0, k=1, steps=6, lr=0.03) == a  # seeded


def test_probe_scores_use_the_pretrained_backbone():
    cache = features.FeatureCache()
    scores = fe.probe_scores(0, k=5, steps=50, weight_decay=1e-2, cache=cache)
    assert scores["test"] > 0.8  # digits at k=5 from the glyph features


def test_compare_probe_scratch_refuses_unequal_search_budgets():
    with pytest.raises(ValueError, match="unequal search budgets"):
        fe.compare_probe_scratch(
            1,
            steps=5,
            probe_grid=[{"weight_decay": 1e-3}, {"weight_decay": 1e-2}],
            scratch_grid=[{"lr": 0.01}, {"lr": 0.03}, {"lr": 0.1}],
        )
