"""Roto made for another raster than the plate's: the display window of an EXR plate, or a proxy size.

* A plate whose data window differs from its display window (overscan, or a crop): roto at the
  display window's size is placed by the windows (pixels outside the display window are background).
* Roto of the same aspect ratio at another resolution (a half-resolution proxy): scaled to the plate,
  each object's coverage resampled (bilinear up, area down) and the ids taken again at the threshold.

Anything else is an error: it is roto for another shot or format.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from xmempp.errors import InputError, Remedy, RemedyKind
from xmempp.io.mask_palette import present_ids

__all__ = ["Window", "fit_to_frame"]

#: (x, y, width, height) of an EXR data or display window.
Window = tuple[int, int, int, int]
#: Largest relative difference of two aspect ratios still read as the same format.
_ASPECT_TOLERANCE = 0.01


def _place(plane: np.ndarray, data: Window, display: Window) -> np.ndarray:
    """A display-window plane on the data window (0 where the data window reaches past the display)."""
    x, y, w, h = data
    fx, fy, _fw, _fh = display
    out = np.zeros((h, w), dtype=plane.dtype)
    ox, oy = x - fx, y - fy  # data pixel (0, 0) in display coordinates
    rows = slice(max(0, -oy), min(h, plane.shape[0] - oy))
    cols = slice(max(0, -ox), min(w, plane.shape[1] - ox))
    if rows.start < rows.stop and cols.start < cols.stop:
        out[rows, cols] = plane[rows.start + oy : rows.stop + oy, cols.start + ox : cols.stop + ox]
    return out


def _same_aspect(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return abs((a[1] / a[0]) / (b[1] / b[0]) - 1.0) <= _ASPECT_TOLERANCE


def _scale(
    ids: np.ndarray, soft: dict[int, np.ndarray] | None, size: tuple[int, int], threshold: float
) -> tuple[np.ndarray, dict[int, np.ndarray] | None]:
    h, w = size
    shrink = h * w < ids.shape[0] * ids.shape[1]
    method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    objects = sorted(set(present_ids(ids)) | set(soft or ()))
    if not objects:
        return np.zeros(size, np.uint8), None
    planes = [
        cv2.resize(
            np.ascontiguousarray(soft[i] if soft and i in soft else (ids == i), dtype=np.float32),
            (w, h),
            interpolation=method,
        )
        for i in objects
    ]
    stack = np.stack(planes)
    best = stack.argmax(axis=0)
    lut = np.asarray(objects, dtype=np.uint8)
    scaled = np.where(stack.max(axis=0) >= threshold, lut[best], 0).astype(np.uint8)
    return scaled, ({i: p for i, p in zip(objects, planes)} if soft is not None else None)


def fit_to_frame(
    ids: np.ndarray,
    soft: dict[int, np.ndarray] | None,
    size: tuple[int, int],
    windows: tuple[Window, Window] | None,
    threshold: float,
    path: Path,
) -> tuple[np.ndarray, dict[int, np.ndarray] | None, str | None]:
    """Bring a decoded roto onto its frame's pixels.

    Arguments:
        ids: HxW uint8 object ids as read.
        soft: object id -> HxW float32 coverage, or None for a hard mask.
        size: (height, width) of the frame (an EXR plate's data window).
        windows: (data window, display window) of the frame, or None.
        threshold: coverage an object needs to own a pixel after scaling.
        path: the roto file, for messages.
    Returns:
        (ids, soft, notice): at `size`; `notice` says what was scaled (None when nothing was).
        Raises `InputError` for roto of another aspect ratio.
    """
    have = (int(ids.shape[0]), int(ids.shape[1]))
    size = (int(size[0]), int(size[1]))
    if have == size:
        return ids, soft, None
    notice = None
    if windows is not None and windows[0] != windows[1]:
        data, display = windows
        full = (display[3], display[2])
        if have != full:
            if not _same_aspect(have, full):
                raise _mismatch(path, have, size, full)
            ids, soft = _scale(ids, soft, full, threshold)
            notice = f"{path.name} is {have[1]}x{have[0]}: scaled to the plate's display window {full[1]}x{full[0]}"
        ids = _place(ids, data, display)
        soft = {i: _place(p, data, display) for i, p in soft.items()} if soft is not None else None
        return ids, soft, notice
    if not _same_aspect(have, size):
        raise _mismatch(path, have, size, None)
    ids, soft = _scale(ids, soft, size, threshold)
    return ids, soft, f"{path.name} is {have[1]}x{have[0]}: scaled to the plate's {size[1]}x{size[0]}"


def _mismatch(path: Path, have: tuple[int, int], size: tuple[int, int], full: tuple[int, int] | None) -> InputError:
    display = f" (display window {full[1]}x{full[0]})" if full is not None else ""
    return InputError(
        f"mask {path} is {have[1]}x{have[0]} but its frame is {size[1]}x{size[0]}{display}: another "
        f"aspect ratio, so it is not roto of this plate",
        remedy=Remedy(RemedyKind.FIX_INPUT, note="by exporting the roto at the plate's resolution"),
    )
