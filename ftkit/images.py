"""One image file -> an RGB picture, whatever a camera, a scanner or an editor saved.

Grayscale, palette, CMYK, YCbCr and Lab become RGB; transparency (RGBA, LA, palette with a
transparent colour) is laid on white; 16-bit grayscale is scaled to 8 bits (not clipped to
white, as a plain ``convert("RGB")`` does); phone photos are turned upright (EXIF orientation);
animated files give their first frame. What cannot be converted faithfully (32-bit integer or
floating-point pixels) is refused by name, and so is an image too large to decode safely (a
"decompression bomb"), before it is decoded.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ftkit.checks import InputError

#: Modes that ``convert("RGB")`` turns into the same picture.
_PLAIN = {"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"}
_ALPHA = {"RGBA", "LA", "PA", "RGBa", "La"}
_SIXTEEN = {"I;16", "I;16L", "I;16B", "I;16N"}
_RESAVE = "open it in an image editor and save it as an 8-bit PNG or JPEG, or move it out"


class ImageFileError(InputError):
    """One file cannot be used as an image; the message names the file, the cause and the fix."""


def max_pixels() -> int | None:
    """The largest image (width x height) ftkit decodes: Pillow's own limit (about 89
    megapixels unless changed via ``PIL.Image.MAX_IMAGE_PIXELS``; ``None`` means no limit)."""
    return Image.MAX_IMAGE_PIXELS


def read_rgb(path: str | Path) -> tuple[Image.Image, str]:
    """The file as an RGB image, and the sha256 of its bytes (to find duplicate files)."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ImageFileError(
            f"cannot read {path}: {exc.strerror or exc}; got {type(exc).__name__}. Fix: check the "
            "file's permissions (ls -l), or move it out of the folder."
        ) from exc
    return decode_rgb(blob, str(path)), hashlib.sha256(blob).hexdigest()


def load_rgb(path: str | Path) -> Image.Image:
    """Open any image file as RGB (see the module docstring), naming the file if it fails."""
    return read_rgb(path)[0]


def decode_rgb(blob: bytes, name: str) -> Image.Image:
    """Decode image bytes to RGB; ``name`` is only for the messages."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(blob)) as image:
                _check_size(image, name)
                image.load()
                upright = ImageOps.exif_transpose(image)
                return to_rgb(upright, name, image.format)
    except ImageFileError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageFileError(
            f"{name} is too large to decode safely (the guard against 'decompression bomb' "
            f"files); got: {exc} Fix: {_SHRINK}"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = (
            "bytes that are not in an image format ftkit reads"
            if isinstance(exc, UnidentifiedImageError)
            else f"{type(exc).__name__}: {exc}"
        )
        raise ImageFileError(
            f"cannot read {name} as an image ({len(blob)} bytes); got {reason}. Fix: "
            f"{_RESAVE} (ftkit reads JPEG, PNG, BMP, GIF, TIFF, WebP, PPM/PGM)."
        ) from exc


_SHRINK = "resize it to a few thousand pixels a side (the model sees it at 32-224 pixels anyway)."


def _check_size(image: Image.Image, name: str) -> None:
    width, height = image.size
    limit = max_pixels()
    if limit is not None and width * height > limit:
        raise ImageFileError(
            f"{name} is too large to decode safely ({width} x {height} = "
            f"{width * height / 1e6:.0f} megapixels; the limit is {limit / 1e6:.0f}, which also "
            f"stops 'decompression bomb' files); got {width}x{height}. Fix: {_SHRINK}"
        )
    if width == 0 or height == 0:
        raise ImageFileError(f"{name} has no pixels; got {width}x{height}. Fix: {_RESAVE}.")


def to_rgb(image: Image.Image, name: str = "image", file_format: str | None = None) -> Image.Image:
    """An RGB copy of ``image``: alpha on white, 16-bit scaled to 8 bits; others by name."""
    mode = image.mode
    if mode in ("RGBa", "La"):  # premultiplied alpha: undo it first
        image, mode = image.convert(mode.upper()), mode.upper()
    if mode in _ALPHA or (mode in ("P", "L", "RGB") and "transparency" in image.info):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    if mode in _SIXTEEN or (mode == "I" and file_format == "PNG"):  # older Pillow: PNG16 as "I"
        wide = np.asarray(image, dtype=np.uint32)  # (H, W), 0..65535
        narrow = ((wide * 255 + 32767) // 65535).astype(np.uint8)
        return Image.fromarray(narrow, "L").convert("RGB")
    if mode in _PLAIN:
        return image.convert("RGB")
    kind = {"I": "32-bit integer", "F": "32-bit floating-point"}.get(mode, "unusual")
    raise ImageFileError(
        f"{name} has {kind} pixels, whose range ftkit cannot tell (they may be scientific "
        f"data, not a photo); got mode {mode}. Fix: {_RESAVE}."
    )
