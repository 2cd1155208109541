"""Mask overlay rendering (numpy + OpenCV; no Qt), for the canvas and the thumbnails.

Modes:
    "blend": the object colour blended over the frame, with a solid outline;
    "fade":  the frame dimmed and desaturated outside the objects, objects untouched, outlined;
    "popup": the objects in their own colours on a flat grey background (checks the matte edge).
"""

from __future__ import annotations

import cv2
import numpy as np

from xmempp.io.masks import davis_palette

__all__ = ["OVERLAY_LABELS", "OVERLAY_MODES", "composite", "composite_into", "object_outline"]

OVERLAY_MODES = ("blend", "fade", "popup")
OVERLAY_LABELS = {"blend": "Colour blend", "fade": "Fade background", "popup": "Object only"}

_PALETTE = davis_palette()
_POPUP_GREY = 112
_KERNEL = np.ones((3, 3), np.uint8)


def object_outline(ids: np.ndarray) -> np.ndarray:
    """Object pixels that touch another id (an object edge), as a bool array."""
    ids = np.ascontiguousarray(ids, dtype=np.uint8)
    grown = cv2.dilate(ids, _KERNEL)
    shrunk = cv2.erode(ids, _KERNEL)
    return (grown != shrunk) & (ids > 0)


def composite(
    frame: np.ndarray,
    ids: np.ndarray | None,
    mode: str = "blend",
    opacity: float = 0.5,
    palette: np.ndarray | None = None,
    outline: bool = True,
) -> np.ndarray:
    """Render `ids` over `frame`.

    Arguments:
        frame: HxWx3 uint8 RGB.
        ids: HxW uint8 object ids (0 = background) or None (the frame is returned as is).
        mode: one of `OVERLAY_MODES`.
        opacity: weight of the object colour in "blend" mode (0..1).
        palette: (256,3) uint8 colours by id (DAVIS palette when None).
        outline: draw object edges in the object colour.
    Returns:
        A new HxWx3 uint8 RGB image.
    """
    out = np.empty_like(frame)
    composite_into(out, frame, ids, None, mode, opacity, palette, outline)
    return out


def clip_rect(rect: tuple[int, int, int, int] | None, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """`rect` (x0, y0, x1, y1; exclusive ends; None = the whole image) clipped to an image of `shape` (h, w),
    or None when nothing of it is inside."""
    h, w = shape[:2]
    x0, y0, x1, y1 = (0, 0, w, h) if rect is None else rect
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def composite_into(
    out: np.ndarray,
    frame: np.ndarray,
    ids: np.ndarray | None,
    rect: tuple[int, int, int, int] | None = None,
    mode: str = "blend",
    opacity: float = 0.5,
    palette: np.ndarray | None = None,
    outline: bool = True,
) -> None:
    """Render a region of the overlay into `out` in place (the canvas redraws only what a stroke touched).

    Arguments:
        out: HxWx3 uint8 destination (same size as `frame`).
        frame, ids, mode, opacity, palette, outline: as in `composite`.
        rect: (x0, y0, x1, y1) region to render, exclusive ends; None for the whole image.
    Returns:
        None.
    """
    h, w = frame.shape[:2]
    region = clip_rect(rect, (h, w))
    if region is None:
        return
    x0, y0, x1, y1 = region
    src = frame[y0:y1, x0:x1]
    if ids is None:
        out[y0:y1, x0:x1] = src
        return
    # one pixel more on each side so outlines at the region's border are right
    px0, py0, px1, py1 = max(0, x0 - 1), max(0, y0 - 1), min(w, x1 + 1), min(h, y1 + 1)
    region_ids = ids[py0:py1, px0:px1]
    edge = object_outline(region_ids)[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0] if outline else None
    region_ids = region_ids[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]
    pal = _PALETTE if palette is None else palette
    fg = region_ids > 0
    colours = pal[region_ids]
    if mode == "fade":
        grey = cv2.cvtColor(src, cv2.COLOR_RGB2GRAY)
        dim = (src.astype(np.uint16) * 3 + grey[..., None].astype(np.uint16) * 2) // 14
        result = np.where(fg[..., None], src, dim.astype(np.uint8))
    elif mode == "popup":
        result = np.where(fg[..., None], src, np.uint8(_POPUP_GREY))
    else:
        a = float(np.clip(opacity, 0.0, 1.0))
        blended = cv2.addWeighted(src, 1.0 - a, colours, a, 0.0)
        result = np.where(fg[..., None], blended, src)
    if edge is not None and mode != "popup":
        # lighter than the fill, so edges read on dark plates
        result[edge] = np.clip(colours[edge].astype(np.float32) * 1.5 + 60, 0, 255).astype(np.uint8)
    out[y0:y1, x0:x1] = result
