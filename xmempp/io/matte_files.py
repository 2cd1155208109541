"""Soft matte files: 8/16-bit PNG, 16-bit TIFF, half-float EXR (one channel, or one per object).

EXR mattes keep the plate's data and display windows (`PlateInfo`); EXR compression is one of
`EXR_COMPRESSIONS`, TIFF compression one of `TIFF_COMPRESSIONS`. EXR needs OpenImageIO (the `vfx`
extra); PNG and TIFF use OpenCV. Files are written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from xmempp.errors import ConfigError, OutputError, Remedy, RemedyKind
from xmempp.io.atomic import atomic_write_bytes, atomic_write_with, encode_png

__all__ = [
    "EXR_COMPRESSIONS",
    "MATTE_FORMATS",
    "TIFF_COMPRESSIONS",
    "check_compression",
    "write_exr_channels",
    "write_matte",
]

MATTE_FORMATS = ("png", "tiff", "exr")
EXR_COMPRESSIONS = ("zip", "zips", "piz", "pxr24", "rle", "b44", "b44a", "dwaa", "dwab", "none")
TIFF_COMPRESSIONS = {"lzw": 5, "zip": 8, "none": 1}


def check_compression(fmt: str, compression: str | None) -> None:
    """Raise `ConfigError` when `compression` does not apply to matte format `fmt`.

    Arguments:
        fmt: "png", "tiff" or "exr".
        compression: a name from `EXR_COMPRESSIONS` / `TIFF_COMPRESSIONS`, or None (default).
    Returns:
        None.
    """
    if fmt not in MATTE_FORMATS:
        raise ConfigError(f"matte format must be one of {', '.join(MATTE_FORMATS)}, not {fmt!r}")
    if compression is None:
        return
    allowed = {"exr": EXR_COMPRESSIONS, "tiff": tuple(TIFF_COMPRESSIONS), "png": ()}[fmt]
    if compression not in allowed:
        remedy = (
            Remedy(RemedyKind.SET, "compression", choices=tuple(allowed))
            if allowed
            else Remedy(RemedyKind.DISABLE, "compression", note="(PNG is always zlib-compressed)")
        )
        raise ConfigError(f"compression {compression!r} does not apply to {fmt} mattes", remedy=remedy)


def _oiio():
    try:
        import OpenImageIO as oiio
    except ImportError as exc:
        raise OutputError("writing EXR mattes needs OpenImageIO: pip install 'xmempp[vfx]'") from exc
    return oiio


def write_image_spec(path: Path, spec: object, pixels: np.ndarray, fsync: bool = True) -> None:
    """Write `pixels` with an OpenImageIO `ImageSpec` to `path`, atomically.

    Arguments:
        path: destination file (its suffix picks the format).
        spec: the `oiio.ImageSpec` (size, channels, attributes).
        pixels: HxWxC array matching `spec`.
        fsync: flush the file before renaming it into place.
    Returns:
        None. Raises `OutputError` when OpenImageIO cannot write it. The file carries no time of writing
        (OpenImageIO stamps `DateTime` unless it is set; empty leaves it out), so the same pixels and
        attributes give the same bytes, as a resumed run's files must.
    """
    oiio = _oiio()
    spec.attribute("DateTime", "")  # type: ignore[attr-defined]

    def write(tmp: Path) -> None:
        out = oiio.ImageOutput.create(str(tmp))
        if out is None or not out.open(str(tmp), spec):
            raise OutputError(f"cannot write {path}: {oiio.geterror() or 'EXR output unavailable'}")
        try:
            if not out.write_image(pixels):
                raise OutputError(f"cannot write {path}: {out.geterror()}")
        finally:
            out.close()

    atomic_write_with(path, write, fsync=fsync)


def write_exr_channels(
    path: Path,
    planes: Sequence[np.ndarray],
    names: Sequence[str],
    data_window: tuple[int, int, int, int] | None = None,
    display_window: tuple[int, int, int, int] | None = None,
    compression: str | None = None,
    fsync: bool = True,
    attributes: Mapping[str, str] | None = None,
) -> None:
    """Write HxW float planes as one half-float EXR with named channels.

    Arguments:
        path: the .exr file.
        planes: one HxW array per channel (values kept as they are, stored as half).
        names: channel names (e.g. "A", or "obj1.A", "obj2.A").
        data_window, display_window: (x, y, width, height); default: the planes' own extent.
        compression: an `EXR_COMPRESSIONS` name (default zip).
        fsync: flush to disk before renaming into place.
        attributes: string header attributes (e.g. `oiio:ColorSpace`).
    Returns:
        None. Raises `OutputError` when it cannot be written.
    """
    oiio = _oiio()
    h, w = planes[0].shape
    pixels = np.ascontiguousarray(np.stack(planes, axis=-1), dtype=np.float16)
    spec = oiio.ImageSpec(w, h, len(planes), "half")
    spec.channelnames = tuple(names)
    if data_window is not None:
        spec.x, spec.y = int(data_window[0]), int(data_window[1])
    if display_window is not None:
        spec.full_x, spec.full_y = int(display_window[0]), int(display_window[1])
        spec.full_width, spec.full_height = int(display_window[2]), int(display_window[3])
    else:
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = spec.x, spec.y, w, h
    spec.attribute("compression", compression or "zip")
    for name, value in (attributes or {}).items():
        spec.attribute(name, value)
    write_image_spec(path, spec, pixels, fsync)


def write_matte(
    path: Path,
    matte: np.ndarray,
    fmt: str,
    bits: int = 16,
    compression: str | None = None,
    windows: tuple[tuple[int, int, int, int] | None, tuple[int, int, int, int] | None] = (None, None),
    fsync: bool = True,
) -> None:
    """Write one object's soft matte (probabilities 0..1).

    Arguments:
        path: destination (its suffix should match `fmt`).
        matte: HxW float array.
        fmt: "png" (8 or 16 bits), "tiff" (8 or 16 bits) or "exr" (half float, channel "A").
        bits: bits per pixel for PNG/TIFF.
        compression: see `check_compression`.
        windows: (data window, display window) for EXR.
        fsync: flush to disk before renaming into place.
    Returns:
        None.
    """
    if fmt == "exr":
        write_exr_channels(path, [matte], ["A"], windows[0], windows[1], compression, fsync)
        return
    scale = 255.0 if bits == 8 else 65535.0
    values = np.clip(np.rint(matte.astype(np.float32) * scale), 0, scale).astype(np.uint8 if bits == 8 else np.uint16)
    if fmt == "png":
        data = encode_png(values)
    else:
        ok, buf = cv2.imencode(".tif", values, [cv2.IMWRITE_TIFF_COMPRESSION, TIFF_COMPRESSIONS[compression or "lzw"]])
        if not ok:
            raise OutputError(f"cannot encode TIFF matte {path}")
        data = buf.tobytes()
    atomic_write_bytes(path, data, fsync=fsync)
