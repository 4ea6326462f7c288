import torch
from fontTools.ttLib import TTFont

from ftkit.source import glyphs


def test_every_class_exists_in_every_font_and_digits_are_absent():
    chars = glyphs.SOURCE_CHARS + glyphs.HELDOUT_CHARS
    for path in glyphs.font_paths():
        cmap = TTFont(str(path)).getBestCmap()
        missing = [c for c in chars if ord(c) not in cmap]
        assert not missing, f"{path.name} lacks {missing}"
    assert not set("0123456789") & set(chars)
    assert not set(glyphs.SOURCE_CHARS) & set(glyphs.HELDOUT_CHARS)
    assert len(set(glyphs.SOURCE_CHARS)) == len(glyphs.SOURCE_CHARS) == 86


def test_glyph_sets_are_reproducible_and_balanced():
    a, la = glyphs.glyph_set(glyphs.HELDOUT_CHARS, 3, seed=5)
    b, lb = glyphs.glyph_set(glyphs.HELDOUT_CHARS, 3, seed=5)
    c, _ = glyphs.glyph_set(glyphs.HELDOUT_CHARS, 3, seed=6)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)
    assert a.dtype == torch.uint8 and a.shape == (30, 3, 32, 32)
    assert torch.bincount(la).tolist() == [3] * 10


def test_stripes_are_a_real_shift_in_image_statistics():
    plain, _ = glyphs.glyph_set(glyphs.HELDOUT_CHARS, 10, seed=1, style="plain")
    stripes, _ = glyphs.glyph_set(glyphs.HELDOUT_CHARS, 10, seed=1, style="stripes")

    def high_frequency_energy(x):
        x = x.float()
        return (x[..., 1:, :] - x[..., :-1, :]).abs().mean()

    assert high_frequency_energy(stripes) > 1.5 * high_frequency_energy(plain)
