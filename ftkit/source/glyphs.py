"""The formula-driven source family: glyphs rendered from the fonts that ship with matplotlib.

No natural image can be downloaded here, so the course's "ImageNet" is drawn by code: letters
and symbols from 16 fonts, warped, recoloured and put on varied backgrounds. Everything is a
pure function of a seed, so any image the backbone ever saw can be drawn again (that is what
lets the course measure forgetting on the source task).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

# Digits are deliberately absent: they are the main target task of the course.
# Glyphs are scaled to a fixed box, so letters that then look like another class are left out:
# lower case that copies its capital (c o s v w x z, most Cyrillic lower case), l and p, and
# source letters that copy a held-out one (θ ψ π φ α, Cyrillic Л П Ф ж). Every character here
# exists in all FONT_FILES (tested).
LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghijkmnqrtuy"
GREEK = "ΓΔΘΛΞΠΣΦΨΩβγδεζηλμξρστχω"
CYRILLIC = "БДЖЗИЦЧШЩЪЫЬЭЮЯбд"
SYMBOLS = "&@#%?§¶±÷€£¥"

#: Ten classes kept out of pretraining: the near-transfer (and domain-shift) target.
HELDOUT_CHARS: tuple[str, ...] = tuple("ΔΘΛΞΠΣΦΨΩЖ")
#: The source task's classes: everything else.
SOURCE_CHARS: tuple[str, ...] = tuple(
    c for c in LATIN + GREEK + CYRILLIC + SYMBOLS if c not in HELDOUT_CHARS
)

FONT_FILES: tuple[str, ...] = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
)

STYLES = ("source", "plain", "stripes")
_CANVAS = 48  # masks are drawn at 48x48 and resampled to the image size by the warp
_GLYPH_BOX = 36  # the longer side of a glyph inside its canvas


def font_paths() -> list[Path]:
    """Paths of the fonts that ship inside matplotlib (so they exist wherever ftkit runs)."""
    root = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [root / name for name in FONT_FILES]


def _render_one(char: str, font: ImageFont.FreeTypeFont) -> np.ndarray:
    """One glyph, cropped to its ink and scaled so its longer side is _GLYPH_BOX pixels."""
    big = Image.new("L", (128, 128), 0)
    ImageDraw.Draw(big).text((64, 64), char, fill=255, font=font, anchor="mm")
    box = big.getbbox()
    if box is None:
        raise ValueError(f"font {font.path} draws nothing for {char!r}")
    ink = big.crop(box)
    scale = _GLYPH_BOX / max(ink.size)
    size = (max(1, round(ink.size[0] * scale)), max(1, round(ink.size[1] * scale)))
    ink = ink.resize(size, Image.Resampling.BILINEAR)
    canvas = Image.new("L", (_CANVAS, _CANVAS), 0)
    canvas.paste(ink, ((_CANVAS - size[0]) // 2, (_CANVAS - size[1]) // 2))
    return np.asarray(canvas, dtype=np.float32) / 255.0


@lru_cache(maxsize=4)
def render_masks(chars: tuple[str, ...]) -> torch.Tensor:
    """Ink masks of every (char, font) pair, shape (C, F, 48, 48) in [0, 1]. Cached: pure."""
    fonts = [ImageFont.truetype(str(p), 80) for p in font_paths()]
    masks = [[_render_one(c, f) for f in fonts] for c in chars]
    return torch.from_numpy(np.stack([np.stack(row) for row in masks]))


def _random_warp(n: int, g: torch.Generator, strength: float) -> torch.Tensor:
    """Affine maps (n, 2, 3) from output to input coordinates: rotation, scale, shear, shift."""

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=g)

    angle = uniform(-20, 20) * strength * math.pi / 180
    scale = uniform(1 - 0.25 * strength, 1 + 0.15 * strength)
    shear = uniform(-0.25, 0.25) * strength
    shift = torch.stack([uniform(-0.12, 0.12), uniform(-0.12, 0.12)], 1) * strength
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # (n,2,2)
    shear_m = torch.eye(2).repeat(n, 1, 1)
    shear_m[:, 0, 1] = shear
    return torch.cat([rot @ shear_m, shift.unsqueeze(2)], 2)


def _vary_stroke(masks: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Thicken a third of the strokes and thin a fifth: fonts alone are too regular."""
    draw = torch.rand(masks.shape[0], 1, 1, 1, generator=g)
    thick = F.max_pool2d(masks, 3, 1, 1)
    thin = -F.max_pool2d(-masks, 3, 1, 1)
    return torch.where(draw < 0.33, thick, torch.where(draw > 0.8, thin, masks))


def _contrasting_colours(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Foreground and background colours (n, 3) whose luminances differ by at least 0.3."""
    fg, bg = torch.rand(n, 3, generator=g), torch.rand(n, 3, generator=g)
    grey = torch.rand(n, 1, generator=g) < 0.3  # some images are grey, like most scans
    fg = torch.where(grey, fg[:, :1].expand(n, 3), fg)
    bg = torch.where(grey, bg[:, :1].expand(n, 3), bg)
    lum = torch.tensor([0.299, 0.587, 0.114])
    gap = (fg @ lum) - (bg @ lum)
    push = (0.3 - gap.abs()).clamp(min=0).unsqueeze(1) * torch.sign(gap + 1e-6).unsqueeze(1)
    return (fg + push / 2).clamp(0, 1), (bg - push / 2).clamp(0, 1)


def _backgrounds(n: int, size: int, style: str, g: torch.Generator) -> torch.Tensor:
    """A per-image weight (n, 1, S, S) in [0, 1] that mixes the background with its own tint."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    angle = torch.rand(n, 1, 1, generator=g) * math.pi
    along = torch.cos(angle) * xs + torch.sin(angle) * ys  # (n, S, S)
    if style == "stripes":  # the domain shift: high-contrast stripes, 3-6 px period
        period = 3 + 3 * torch.rand(n, 1, 1, generator=g)
        return (0.5 + 0.5 * torch.sin(along * size * math.pi / period)).unsqueeze(1)
    if style == "plain":
        return torch.zeros(n, 1, size, size)
    kind = torch.rand(n, 1, 1, generator=g)
    gradient = (along + 1) / 2 * 0.6
    noise = F.interpolate(torch.rand(n, 1, 4, 4, generator=g), size=size, mode="bilinear")[:, 0]
    weight = torch.where(
        kind < 0.5, torch.zeros_like(along), torch.where(kind < 0.8, gradient, noise * 0.5)
    )
    return weight.unsqueeze(1)


def draw_glyphs(
    masks: torch.Tensor,
    labels: torch.Tensor,
    fonts: torch.Tensor,
    g: torch.Generator,
    *,
    image_size: int = 32,
    style: str = "source",
) -> torch.Tensor:
    """Draw one image per (label, font) pair: (n, 3, S, S) floats in [0, 1].

    ``style`` is ``"source"`` (the pretraining look: plain, gradient or blotchy backgrounds),
    ``"plain"`` (flat backgrounds) or ``"stripes"`` (a domain shift never seen in pretraining).
    """
    if style not in STYLES:
        raise ValueError(f"unknown glyph style {style!r}; choose one of {STYLES}")
    n = labels.shape[0]
    ink = _vary_stroke(masks[labels, fonts].unsqueeze(1), g)  # (n, 1, 48, 48)
    warp = _random_warp(n, g, strength=1.0 if style != "plain" else 0.7)
    grid = F.affine_grid(warp, [n, 1, image_size, image_size], align_corners=False)
    ink = F.grid_sample(ink, grid, align_corners=False).clamp(0, 1)  # (n, 1, S, S)
    fg, bg = _contrasting_colours(n, g)
    tint = torch.rand(n, 3, generator=g)
    mix = _backgrounds(n, image_size, style, g)
    back = bg[:, :, None, None] * (1 - mix) + tint[:, :, None, None] * mix
    if style == "stripes":  # keep the glyph readable on top of the stripes
        back = bg[:, :, None, None] * (1 - 0.6 * mix) + (1 - bg)[:, :, None, None] * 0.6 * mix
    images = back * (1 - ink) + fg[:, :, None, None] * ink
    noise = torch.randn(images.shape, generator=g) * 0.04 * torch.rand(n, 1, 1, 1, generator=g)
    return (images + noise).clamp(0, 1)


def glyph_batch(
    chars: tuple[str, ...],
    n: int,
    g: torch.Generator,
    *,
    image_size: int = 32,
    style: str = "source",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random glyph images of ``chars`` and their labels (indices into ``chars``)."""
    masks = render_masks(chars)
    labels = torch.randint(len(chars), (n,), generator=g)
    fonts = torch.randint(masks.shape[1], (n,), generator=g)
    return draw_glyphs(masks, labels, fonts, g, image_size=image_size, style=style), labels


def glyph_set(
    chars: tuple[str, ...],
    per_class: int,
    seed: int,
    *,
    image_size: int = 32,
    style: str = "source",
) -> tuple[torch.Tensor, torch.Tensor]:
    """A balanced, reproducible set: ``per_class`` images of each char as uint8 (N, 3, S, S)."""
    g = torch.Generator().manual_seed(seed)
    masks = render_masks(chars)
    labels = torch.arange(len(chars)).repeat_interleave(per_class)
    fonts = torch.randint(masks.shape[1], (labels.shape[0],), generator=g)
    images = draw_glyphs(masks, labels, fonts, g, image_size=image_size, style=style)
    return (images * 255).round().to(torch.uint8), labels
