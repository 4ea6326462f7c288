"""welcome (lesson 00): its pictures, its explorer's function, and its first measurement."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from matplotlib.figure import Figure

from ftkit.source import glyphs
from ftkit.studies import welcome


def test_glyph_in_fonts_draws_one_image_per_font_reproducibly():
    images = welcome.glyph_in_fonts("A", seed=3)
    assert images.shape == (16, 3, 32, 32) and images.dtype == torch.uint8
    assert torch.equal(images, welcome.glyph_in_fonts("A", seed=3))
    assert not torch.equal(images, welcome.glyph_in_fonts("B", seed=3))
    assert len(welcome.font_names()) == 16


def test_glyph_caption_names_the_class():
    index = glyphs.SOURCE_CHARS.index("M")
    assert welcome.glyph_caption(index) == f"class {index} of 86: 'M' (LATIN CAPITAL LETTER M)"
    with pytest.raises(ValueError, match="class_index"):
        welcome.glyph_caption(86)


def test_glyph_class_figure_changes_with_the_class():
    a, b = welcome.glyph_class_figure(0), welcome.glyph_class_figure(1)
    assert isinstance(a, Figure) and len(a.axes) == 16
    assert a._suptitle.get_text() != b._suptitle.get_text()
    first = a.axes[0].images[0].get_array()
    assert not (first == b.axes[0].images[0].get_array()).all()


def test_source_and_target_samples():
    images, titles = welcome.source_samples(8, seed=0)
    assert images.shape == (8, 3, 32, 32) and len(set(titles)) == 8
    for name in ("digits", "near", "shift"):
        images, titles = welcome.target_samples(name, per_class=2)
        assert images.shape == (20, 3, 32, 32) and len(titles) == 20
    assert titles[:2] == ["Δ", "Δ"]


def test_probe_scores_is_deterministic_and_pretrained_beats_random_init():
    from ftkit import features

    cache = features.FeatureCache()
    a = welcome.probe_scores(True, seed=1, k=5, cache=cache)
    assert a == welcome.probe_scores(True, seed=1, k=5, cache=cache)
    random_init = welcome.probe_scores(False, seed=1, k=5, cache=cache)
    assert a["test"] > random_init["test"] + 0.05
    other_init = welcome.probe_scores(False, seed=2, k=5, cache=cache)
    assert other_init != random_init  # the seed draws the random init and the images
