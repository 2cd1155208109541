"""Decontaminated foreground files of one object and frame.

    OUT/foreground/<id>/<stem>.png   un-premultiplied foreground colour, 16-bit RGB
    OUT/rgba/<id>/<stem>.exr         RGBA half float, premultiplied (or straight) colour and alpha
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from xmempp.errors import OutputError
from xmempp.io.atomic import atomic_write_bytes
from xmempp.io.mattes import write_exr_channels

__all__ = ["write_foreground"]

Window = tuple[int, int, int, int]


def write_foreground(out_dir: Path, object_id: int, stem: str, foreground: np.ndarray, alpha: np.ndarray,
                     premultiplied: bool = True,
                     windows: tuple[Optional[Window], Optional[Window]] = (None, None),
                     fsync: bool = True) -> list[Path]:
    """Write an object's foreground colour (16-bit PNG) and its RGBA EXR.

    Arguments:
        out_dir: the output folder.
        object_id: the object's id (names the sub-folders).
        stem: the frame's stem.
        foreground: HxWx3 un-premultiplied colour (0..1).
        alpha: HxW matte (0..1).
        premultiplied: store colour x alpha in the EXR (else straight colour).
        windows: EXR data and display windows.
        fsync: flush before renaming into place.
    Returns:
        The two paths written.
    """
    colour = np.clip(foreground, 0, 1)
    png = out_dir / "foreground" / str(object_id) / f"{stem}.png"
    values = np.rint(colour * 65535).astype(np.uint16)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(values, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise OutputError(f"cannot encode the foreground PNG {png}")
    atomic_write_bytes(png, buf.tobytes(), fsync=fsync)
    exr = out_dir / "rgba" / str(object_id) / f"{stem}.exr"
    rgb = colour * alpha[..., None] if premultiplied else colour
    write_exr_channels(exr, [rgb[..., 0], rgb[..., 1], rgb[..., 2], alpha], ["R", "G", "B", "A"],
                       windows[0], windows[1], fsync=fsync)
    return [png, exr]
