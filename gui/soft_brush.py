"""One brush stroke on a frame's soft layer: the coverage of its dabs composited over the layer the frame had
when the stroke began (`xmempp.io.soft_paint`), the mask following the layer where the stroke passed, and
the layer saved with the mask as one undo step when it ends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from xmempp.annotation import Step
from xmempp.errors import XMemppError
from xmempp.io.roto_shapes import Shape
from xmempp.io.soft_paint import composite_stroke, ids_from_mattes, stroke_coverage

from .soft_paint_store import Layer, SoftPaintChange, SoftPaintStore, keyframe_layer

__all__ = ["SoftBrushHost", "SoftStroke", "start_soft_stroke"]

Rect = tuple[int, int, int, int]


class ShapeSource(Protocol):
    """The spline shapes of the workspace's frames (`spline_tool.ShapeStore`)."""

    def shapes(self, frame: int) -> list[Shape]: ...


class SoftBrushHost(Protocol):
    """What a soft stroke needs of the canvas."""

    work_mask: np.ndarray
    frame_index: int
    brush_softness: float
    soft_store: SoftPaintStore
    shape_store: ShapeSource

    @property
    def locked_objects(self) -> Sequence[int]: ...

    def notify(self, text: str) -> None: ...


class SoftStroke:
    """A stroke painting (object id >= 1) or erasing (0) a frame's soft layer."""

    def __init__(
        self,
        store: SoftPaintStore,
        frame: int,
        base: Layer,
        before: Layer,
        value: int,
        softness: float,
        locked: Sequence[int],
        notify: Callable[[str], None],
    ) -> None:
        self.store, self.frame, self.value, self.softness, self.notify = store, frame, value, softness, notify
        self.base, self.before, self.locked = base, before, tuple(locked)
        h, w = store.size
        self.coverage = np.zeros((h, w), np.float32)
        self._rect: Rect | None = None
        self._scratch: np.ndarray | None = None  # where a hard segment is drawn before it joins the coverage

    def _grow(self, rect: Rect) -> None:
        r = self._rect
        self._rect = (
            rect if r is None else (min(r[0], rect[0]), min(r[1], rect[1]), max(r[2], rect[2]), max(r[3], rect[3]))
        )

    def dab(self, a: tuple[float, float], b: tuple[float, float], size: float, mask: np.ndarray) -> Rect | None:
        """A soft segment a-b: the mask takes the objects the layer gives the pixels it reached. Returns the
        rectangle changed."""
        rect = stroke_coverage(self.coverage, a, b, size, self.softness)
        if rect is None:
            return None
        self._grow(rect)
        x0, y0, x1, y1 = rect
        crop = {oid: m[y0:y1, x0:x1] for oid, m in self.base.items()}
        c = self.coverage[y0:y1, x0:x1]
        ids = ids_from_mattes(composite_stroke(crop, c, self.value, self.locked), c.shape)
        reached = c > 0
        mask[y0:y1, x0:x1][reached] = ids[reached]
        return rect

    def hard_dab(self, draw: Callable[[np.ndarray], None], rect: Rect) -> None:
        """A hard segment drawn by `draw(target)` (value 1): full coverage where it drew."""
        x0, y0, x1, y1 = rect
        if self._scratch is None:
            self._scratch = np.zeros(self.coverage.shape, np.uint8)
        draw(self._scratch)
        part = self._scratch[y0:y1, x0:x1]
        np.maximum(self.coverage[y0:y1, x0:x1], part, out=self.coverage[y0:y1, x0:x1])
        part[...] = 0  # the segment lies inside `rect`: the scratch is clear again
        self._grow(rect)

    def finish(self, text: str) -> list[Step]:
        """Save the frame's new layer. Returns the undo step to record with the mask (none when it could not
        be saved: the store's error is shown and the mask is kept)."""
        if self._rect is None:
            return []
        after = composite_stroke(self.base, self.coverage, self.value, self.locked, self._rect)
        try:
            self.store.set_layer(self.frame, after)
        except XMemppError as exc:
            self.notify(f"{exc}; the stroke's soft edge is not saved")
            return []
        return [SoftPaintChange(self.store, self.frame, self.before, after, text)]


def start_soft_stroke(host: SoftBrushHost, value: int) -> SoftStroke | None:
    """A soft stroke when the brush is soft or the frame has a soft layer, else None (the hard brush alone).
    A damaged layer file is reported and the stroke painted hard."""
    store, frame, softness = host.soft_store, host.frame_index, float(host.brush_softness)
    if softness <= 0 and not store.has(frame):
        return None
    try:
        before = store.layer(frame)
        base = keyframe_layer(store, host.shape_store.shapes(frame), frame, host.work_mask)
    except XMemppError as exc:
        host.notify(f"{exc}; painting hard until it is fixed")
        return None
    return SoftStroke(store, frame, base, before, value, softness, host.locked_objects, host.notify)
