"""probing: per-block probes, activations and the explorers' figures of lessons 01 and 02."""

import matplotlib

matplotlib.use("Agg")

import torch
from matplotlib.figure import Figure

from ftkit import data, features, models
from ftkit.studies import anatomy


def test_block_activations_shapes_and_mode_restored():
    backbone, info = models.load_backbone("embedded")
    backbone.train()
    image = data.load_target("digits", k=1).test.images[0]
    acts = anatomy.block_activations(backbone, image, info)
    assert list(acts) == list(anatomy.BLOCKS)
    assert [tuple(a.shape) for a in acts.values()] == [
        (16, 32, 32),
        (16, 32, 32),
        (32, 16, 16),
        (64, 8, 8),
        (128, 4, 4),
    ]
    assert backbone.training
    with torch.no_grad():  # layer4's pooled activations are the features the head sees
        pooled = acts["layer4"].mean(dim=(1, 2))
        backbone.eval()
        x = data.eval_transforms(info)(image).unsqueeze(0)
        expected = features.extract_features(backbone, [(x, torch.tensor([0]))])[0][0]
    assert torch.allclose(pooled, expected, atol=1e-5)
    fig = anatomy.activations_figure(acts, "layer2", n=8)
    assert isinstance(fig, Figure) and "layer2: 32 channels of 16x16" in fig._suptitle.get_text()


def test_probe_is_deterministic_and_pretrained_beats_chance_by_far():
    backbone, info = models.load_backbone("embedded")
    splits = data.load_target("near", k=5, seed=0)
    cache = features.FeatureCache()
    a = anatomy.probe(backbone, splits, info, seed=0, cache=cache, epochs=30)
    b = anatomy.probe(backbone, splits, info, seed=0, cache=cache, epochs=30)
    assert a.accuracy == b.accuracy and a.accuracy > 0.5
    assert a.images.shape[0] == a.labels.shape[0] == 500
    wrong = a.wrong
    assert (a.predictions[wrong] != a.labels[wrong]).all()
    assert len(wrong) == round((1 - a.accuracy) * 500)


def test_probe_by_block_covers_every_block():
    backbone, info = models.load_backbone("embedded")
    splits = data.load_target("digits", k=2, seed=0)
    result = anatomy.probe_by_block(backbone, splits, info, blocks=("stem", "layer4"))
    assert list(result) == ["stem", "layer4"] and all(0 <= v <= 1 for v in result.values())


def test_misclassified_figure():
    images = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    labels = torch.tensor([0, 1, 1, 0])
    result = anatomy.ProbeResult(0.5, torch.tensor([0, 0, 1, 1]), labels, images, ["a", "b"])
    fig = anatomy.misclassified_figure(result)
    assert [ax.get_title() for ax in fig.axes] == ["b -> a", "a -> b"]
    perfect = anatomy.ProbeResult(1.0, labels, labels, images, ["a", "b"])
    assert "no test image" in anatomy.misclassified_figure(perfect).texts[0].get_text()
