"""Image files as frames: which suffixes count, natural ordering, safe opening (decompression-bomb
and truncation checks before any pixel is decoded) and decoding to 8-bit RGB."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from xmempp.errors import InputError

#: File suffixes read as frames in a frame folder.

__all__ = [
    "DECODE_ERRORS",
    "IMAGE_EXTENSIONS",
    "MAX_IMAGE_PIXELS",
    "decode_image_file",
    "is_hidden",
    "natural_key",
    "open_image",
]


IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"})

#: Most pixels an image file may declare: Pillow's own decompression-bomb limit (about 13400 x 13400),
#: checked by xmempp from the header before decoding whatever Pillow's global setting is.
MAX_IMAGE_PIXELS = 2 * 89_478_485
#: What Pillow raises on a file it cannot decode: corrupt, truncated or forged data (broken TIFF tags, for one,
#: surface as TypeError, IndexError, KeyError, struct.error or arithmetic errors from inside Pillow).
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    TypeError,
    IndexError,
    KeyError,
    struct.error,
    ArithmeticError,
)

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: `a_2` < `a_10`, `shot_999` < `shot_1000`.

    Arguments:
        name: a file name or stem.
    Returns:
        A tuple usable as a `sorted` key (ties broken by the exact name).
    """
    parts = _DIGITS.split(name)
    key = tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))
    return (key, name)


def is_hidden(path: Path) -> bool:
    """True for names starting with "." (dot files, macOS `._` resource forks) and `Thumbs.db`."""
    return path.name.startswith(".") or path.name.lower() in ("thumbs.db", "desktop.ini")


def _to_rgb8(image: Image.Image) -> np.ndarray:
    """Convert a decoded PIL image of any common mode to an HxWx3 uint8 RGB array."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(image).astype(np.float32)
        gray = np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(image, dtype=np.float32)
        gray = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8).copy()


def open_image(path: Path, what: str = "image", decode: bool = True) -> Image.Image:
    """Open an image file, refusing a forged or oversized header before any pixel is decoded.

    Arguments:
        path: the image file.
        what: word used in error messages ("frame", "mask", ...).
        decode: decode the pixels now (False reads the header only).
    Returns:
        The opened (and, with `decode`, fully decoded) PIL image; the caller closes it. Raises
        `InputError` when the file is missing, not an image, corrupt, truncated, or declares more
        than `MAX_IMAGE_PIXELS` pixels (the error's cause is Pillow's exception, if any).
    """
    try:
        image = Image.open(path)
    except FileNotFoundError as exc:
        raise InputError(f"{what} file not found: {path}") from exc
    except UnidentifiedImageError as exc:
        raise InputError(
            f"cannot read {what} {path}: not an image or corrupt; re-export it or remove it from the folder"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise InputError(f"cannot read {what} {path}: image is too large ({exc})") from exc
    except DECODE_ERRORS as exc:
        raise InputError(f"cannot read {what} {path}: file is corrupt or truncated ({exc}); re-export it") from exc
    try:
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise InputError(
                f"cannot read {what} {path}: image is too large ({width}x{height} pixels, more than "
                f"{MAX_IMAGE_PIXELS}); the file is corrupt or not a plate xmempp can process"
            )
        if width <= 0 or height <= 0:
            raise InputError(f"cannot read {what} {path}: the image is empty ({width}x{height}); re-export it")
        if decode:
            image.load()  # decodes fully; raises on truncated or corrupt data
    except InputError:
        image.close()
        raise
    except DECODE_ERRORS as exc:
        image.close()
        raise InputError(f"cannot read {what} {path}: file is corrupt or truncated ({exc}); re-export it") from exc
    return image


def decode_image_file(path: Path, what: str = "frame") -> np.ndarray:
    """Decode one image file to HxWx3 uint8 RGB, turning every failure into an `InputError`.

    Arguments:
        path: the image file.
        what: word used in error messages ("frame", "image").
    Returns:
        The image as an HxWx3 uint8 RGB array (16-bit data scaled to 8 bits).
    """
    with open_image(path, what) as image:
        try:
            return _to_rgb8(image)
        except DECODE_ERRORS as exc:
            raise InputError(
                f"cannot read {what} {path}: unsupported image data ({exc}); re-export it as 8 or 16-bit RGB"
            ) from exc
