"""What the canvas draws (numpy + OpenCV; no Qt): the overlay modes of `overlay.py` and the matte views
a compositor checks a roto with.

View modes:
    "blend", "fade", "popup": the overlays (`overlay.OVERLAY_MODES`);
    "outline": the plate with only the objects' outlines;
    "alpha": the current object's matte in grey (white = object), as a compositor's alpha channel;
    "combined": every visible object's matte together in grey (the shot's combined alpha);
    "black": the plate multiplied by the matte, over black;
    "checker": the plate multiplied by the matte, over a checkerboard (holes and fringes show).

The matte is the current object's mask (hard edges; every visible object's in the combined view), or a refined
soft matte when one is given;
`COMPARE_MODES` say whether the raw, the refined or a split (raw left, refined right) is shown.
Onion skin: outlines of the previous and next frames' masks drawn over any mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .overlay import OVERLAY_LABELS, OVERLAY_MODES, clip_rect, composite_into, object_outline

__all__ = [
    "COMBINED_MODE",
    "COMPARE_LABELS",
    "COMPARE_MODES",
    "MATTE_MODES",
    "ONION_NEXT",
    "ONION_PREVIOUS",
    "VIEW_LABELS",
    "VIEW_MODES",
    "checkerboard",
    "onion_edges",
    "render_view",
]

#: The combined-alpha view: every visible object's matte at once.
COMBINED_MODE = "combined"
MATTE_MODES = ("outline", "alpha", COMBINED_MODE, "black", "checker")
VIEW_MODES = OVERLAY_MODES + MATTE_MODES
VIEW_LABELS = {
    **OVERLAY_LABELS,
    "outline": "Outline only",
    "alpha": "Alpha",
    COMBINED_MODE: "Alpha, all objects",
    "black": "Over black",
    "checker": "Over checker",
}
COMPARE_MODES = ("raw", "refined", "split")
COMPARE_LABELS = {"raw": "Raw", "refined": "Refined", "split": "Raw | refined"}

#: Onion-skin outline colours: the previous frame's (warm) and the next frame's (cool).
ONION_PREVIOUS = (255, 96, 64)
ONION_NEXT = (64, 200, 255)
#: Checkerboard behind the matte: square size in image pixels and its two greys.
CHECKER_SQUARE = 16
CHECKER_GREYS = (102, 153)


def checkerboard(height: int, width: int, square: int = CHECKER_SQUARE) -> np.ndarray:
    """An HxWx3 uint8 checkerboard of `CHECKER_GREYS`."""
    yy, xx = np.mgrid[:height, :width]
    light = ((yy // square + xx // square) % 2).astype(bool)
    board = np.where(light, np.uint8(CHECKER_GREYS[1]), np.uint8(CHECKER_GREYS[0]))
    return np.repeat(board[..., None], 3, axis=2)


def onion_edges(ids: np.ndarray | None) -> np.ndarray | None:
    """The outline (bool HxW) of every object in a neighbouring frame's mask, or None without a mask."""
    if ids is None or not ids.any():
        return None
    return object_outline(ids)


def render_view(
    out: np.ndarray,
    frame: np.ndarray,
    ids: np.ndarray | None,
    mode: str,
    *,
    rect: tuple[int, int, int, int] | None = None,
    object_id: int = 1,
    soft: np.ndarray | None = None,
    opacity: float = 0.5,
    palette: np.ndarray | None = None,
    onion: Sequence[tuple[np.ndarray, tuple[int, int, int]]] = (),
) -> None:
    """Render one view mode of a region into `out` in place.

    Arguments:
        out: HxWx3 uint8 destination (the size of `frame`).
        frame: HxWx3 uint8 RGB plate.
        ids: HxW uint8 object ids to show (hidden objects already 0), or None (the plate as it is).
        mode: one of `VIEW_MODES`.
        rect: (x0, y0, x1, y1) region, exclusive ends; None for the whole image.
        object_id: the object whose matte the matte modes show (the combined view shows every object in `ids`).
        soft: HxW float32 matte in [0, 1] to show instead of the hard mask (refined: `object_id`'s, or every
            visible object's in the combined view), or None.
        opacity, palette: as in `overlay.composite_into`.
        onion: (HxW bool outline, RGB colour) pairs drawn on top.
    Returns:
        None.
    """
    h, w = frame.shape[:2]
    region = clip_rect(rect, (h, w))
    if region is None:
        return
    x0, y0, x1, y1 = region
    if mode in OVERLAY_MODES or ids is None:
        composite_into(out, frame, ids, (x0, y0, x1, y1), mode if mode in OVERLAY_MODES else "blend", opacity, palette)
    elif mode == "outline":
        composite_into(out, frame, ids, (x0, y0, x1, y1), "blend", 0.0, palette)
    else:
        src = frame[y0:y1, x0:x1].astype(np.float32)
        if soft is not None:
            matte = np.clip(soft[y0:y1, x0:x1], 0.0, 1.0).astype(np.float32)
        elif mode == COMBINED_MODE:
            matte = (ids[y0:y1, x0:x1] > 0).astype(np.float32)
        else:
            matte = (ids[y0:y1, x0:x1] == object_id).astype(np.float32)
        if mode in ("alpha", COMBINED_MODE):
            result = np.repeat(matte[..., None] * 255.0, 3, axis=2)
        elif mode == "black":
            result = src * matte[..., None]
        else:
            board = checkerboard(h, w)[y0:y1, x0:x1].astype(np.float32)
            result = src * matte[..., None] + board * (1.0 - matte[..., None])
        out[y0:y1, x0:x1] = np.clip(result + 0.5, 0, 255).astype(np.uint8)
    for edges, colour in onion:
        outline = edges[y0:y1, x0:x1]
        if outline.any():
            out[y0:y1, x0:x1][outline] = colour
