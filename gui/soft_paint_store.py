"""The workspace's soft brush layers (`xmempp.io.soft_paint`): read when first needed, written on each change,
changed and undone with the mask they stand for (`SoftPaintChange`).

A layer file that cannot be read is left as it is: the brush says why and paints hard on that frame, and
exports refuse to drop its soft edges silently, until it is fixed or removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from xmempp.annotation import EditTarget, Step
from xmempp.io.roto_shapes import Shape, keyframe_mattes
from xmempp.io.soft_paint import effective_mattes, layer_path, read_layer, soft_paint_frames, write_layer

__all__ = ["SoftPaintChange", "SoftPaintStore", "keyframe_layer", "resized", "soft_keyframes"]

Layer = dict[int, np.ndarray]


class SoftPaintStore:
    """The soft layers of one workspace's frames (`soft_paint/`)."""

    def __init__(self, workspace_path: Path, size: tuple[int, int]) -> None:
        self.path = Path(workspace_path)
        self.size = (int(size[0]), int(size[1]))
        #: Counts the changes (an undo changes a layer under the brush).
        self.version = 0
        self._frames = set(soft_paint_frames(self.path))
        self._cache: dict[int, Layer] = {}

    @property
    def frames(self) -> list[int]:
        """Frames that have a soft layer, ascending."""
        return sorted(self._frames)

    def has(self, frame: int) -> bool:
        """True when `frame` has a soft layer."""
        return frame in self._frames

    def layer(self, frame: int) -> Layer:
        """The soft layer of `frame` (copies; empty when it has none). Raises `InputError` for a damaged file."""
        return {oid: m.copy() for oid, m in self.view(frame).items()}

    def view(self, frame: int) -> Mapping[int, np.ndarray]:
        """The soft layer of `frame` as kept (not copied: read only). Raises `InputError` for a damaged file."""
        if frame not in self._frames:
            return {}
        if frame not in self._cache:
            self._cache[frame] = read_layer(layer_path(self.path, frame), self.size)
        return self._cache[frame]

    def set_layer(self, frame: int, layer: Mapping[int, np.ndarray]) -> None:
        """Replace the layer of `frame` and write its file (atomically; an empty layer removes it).
        Raises `OutputError` when it cannot be written."""
        kept = {oid: m.copy() for oid, m in layer.items() if m.any()}
        write_layer(layer_path(self.path, frame), kept)
        if kept:
            self._frames.add(frame)
            self._cache[frame] = kept
        else:
            self._frames.discard(frame)
            self._cache.pop(frame, None)
        self.version += 1


class SoftPaintChange(Step):
    """A change of one frame's soft layer, undone and redone with the mask it stands for."""

    def __init__(self, store: SoftPaintStore, frame: int, before: Layer, after: Layer, text: str) -> None:
        self.store, self.frame, self.text = store, frame, text
        self.before, self.after = before, after

    def undo(self, session: EditTarget) -> None:
        assert self.frame is not None
        self.store.set_layer(self.frame, self.before)

    def redo(self, session: EditTarget) -> None:
        assert self.frame is not None
        self.store.set_layer(self.frame, self.after)


def keyframe_layer(store: SoftPaintStore, shapes: Sequence[Shape], frame: int, ids: np.ndarray) -> Layer:
    """The soft mattes of a frame as its mask stands: its soft layer, else its spline shapes' mattes, put in
    line with the mask (`effective_mattes`). Raises `InputError` for a damaged layer file."""
    layer = store.layer(frame) if store.has(frame) else keyframe_mattes(shapes, ids.shape) if shapes else {}
    return effective_mattes(layer, ids)


def soft_keyframes(
    store: SoftPaintStore,
    frames: Iterable[int],
    ids_of: Callable[[int], np.ndarray],
    shapes_of: Callable[[int], Sequence[Shape]],
) -> dict[int, Layer]:
    """The soft mattes (workspace ids) of those `frames` that have a soft layer, for an export's keyframes.
    Raises `InputError` for a damaged layer file."""
    return {f: keyframe_layer(store, shapes_of(f), f, ids_of(f)) for f in frames if store.has(f)}


def resized(layer: Mapping[int, np.ndarray], size: tuple[int, int]) -> Layer:
    """Mattes resized to (height, width) (bilinear), as exports at the source size write them."""
    h, w = size
    if not layer or next(iter(layer.values())).shape == (h, w):
        return dict(layer)
    return {oid: np.clip(cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0) for oid, m in layer.items()}
