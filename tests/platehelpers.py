"""Helpers for the plate tests: EXR (OpenEXR), DPX and 16-bit images (OpenImageIO / OpenCV) made on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

OpenEXR = pytest.importorskip("OpenEXR")
oiio = pytest.importorskip("OpenImageIO")


def srgb_to_linear(rgb8: np.ndarray) -> np.ndarray:
    """The exact inverse of the sRGB encoding, float32."""
    v = rgb8.astype(np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def write_exr(
    path: Path,
    rgb: np.ndarray,
    dtype=np.float16,
    alpha: np.ndarray | None = None,
    origin: tuple[int, int] = (0, 0),
    display: tuple[int, int] | None = None,
) -> Path:
    """A single-part scanline EXR with R, G, B (and A); `origin` moves the data window, `display` sets the
    display window size (default: the data window)."""
    h, w = rgb.shape[:2]
    channels = {c: np.ascontiguousarray(rgb[..., i], dtype=dtype) for i, c in enumerate("RGB")}
    if alpha is not None:
        channels["A"] = np.ascontiguousarray(alpha, dtype=dtype)
    x, y = origin
    dw, dh = display or (x + w, y + h)
    header = {
        "compression": OpenEXR.ZIP_COMPRESSION,
        "type": OpenEXR.scanlineimage,
        "dataWindow": (np.array([x, y], np.int32), np.array([x + w - 1, y + h - 1], np.int32)),
        "displayWindow": (np.array([0, 0], np.int32), np.array([dw - 1, dh - 1], np.int32)),
    }
    OpenEXR.File(header, channels).write(str(path))
    return path


def write_multipart_exr(path: Path, rgb: np.ndarray) -> Path:
    """Two parts: `depth` (Z only) first, then `beauty` (R, G, B half)."""
    h, w = rgb.shape[:2]
    depth = OpenEXR.Part({"compression": OpenEXR.ZIP_COMPRESSION}, {"Z": np.full((h, w), 5.0, np.float32)}, "depth")
    beauty = OpenEXR.Part(
        {"compression": OpenEXR.ZIP_COMPRESSION},
        {c: np.ascontiguousarray(rgb[..., i], dtype=np.float16) for i, c in enumerate("RGB")},
        "beauty",
    )
    OpenEXR.File([depth, beauty]).write(str(path))
    return path


def write_oiio(path: Path, pixels: np.ndarray, fmt: str, bits: int | None = None) -> Path:
    """Write an image with OpenImageIO (DPX, TIFF, ...); `bits` sets oiio:BitsPerSample (10 for DPX)."""
    h, w = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    spec = oiio.ImageSpec(w, h, channels, fmt)
    if bits:
        spec.attribute("oiio:BitsPerSample", bits)
    out = oiio.ImageOutput.create(str(path))
    assert out is not None and out.open(str(path), spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(pixels)), out.geterror()
    out.close()
    return path


def cineon_codes(linear: np.ndarray) -> np.ndarray:
    """Linear values -> 10-bit Cineon code values (95/685, density gamma 0.6), float in 0..1023."""
    offset = 10.0 ** ((95.0 - 685.0) * 0.002 / 0.6)
    return 685.0 + 300.0 * np.log10(np.maximum(linear * (1.0 - offset) + offset, 1e-10))
