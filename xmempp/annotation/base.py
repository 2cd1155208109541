"""The frames, saving and undo every part of an `AnnotationSession` shares (the session's base class)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from xmempp.errors import InputError, XMemppError
from xmempp.io.review_state import FrameRecord, ReviewStates

from .events import SessionEvents
from .history import History, Step
from .objects import MAX_OBJECTS, ObjectTable
from .store import SessionStore

__all__ = ["SessionBase"]

_IMAGE_CACHE = 12


class SessionBase:
    """What the parts of a session share: its state, frames, saving and undo (see `AnnotationSession`)."""

    frames: Sequence[np.ndarray]
    store: SessionStore
    events: SessionEvents
    history: History
    objects: ObjectTable
    review: ReviewStates
    objects_follow_references: bool
    problems: list[str]
    unsaved: set[str]
    _lock: threading.RLock
    _references: list[int]
    _masked: set[int]
    _edited: set[int]
    _masks: OrderedDict[int, np.ndarray]
    _images: OrderedDict[int, np.ndarray]
    _versions: dict[int, int]
    _size: tuple[int, int] | None
    _propagation_before: dict[int, FrameRecord]

    # ------------------------------------------------------------------ frames
    def __len__(self) -> int:
        return len(self.frames)

    @property
    def names(self) -> list[str]:
        """Frame names in frame order (the frame source's, else zero-padded indices)."""
        names = getattr(self.frames, "names", None)
        return list(names) if names is not None else [f"{i:06d}" for i in range(len(self))]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames (and of every mask)."""
        if self._size is None:
            h, w = self.image(0).shape[:2]
            self._size = (int(h), int(w))
        return self._size

    def image(self, frame: int) -> np.ndarray:
        """Frame `frame` as HxWx3 uint8 RGB, read-only (a small cache keeps recent frames)."""
        with self._lock:
            cached = self._images.get(frame)
            if cached is not None:
                self._images.move_to_end(frame)
                return cached
        image = np.asarray(self.frames[frame])
        image.flags.writeable = False
        with self._lock:
            self._images[frame] = image
            while len(self._images) > _IMAGE_CACHE:
                self._images.popitem(last=False)
        return image

    def check_frame(self, frame: int) -> int:
        """`frame` as an int; raises `InputError` for an index outside the shot."""
        n = len(self)
        if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)) or not 0 <= int(frame) < n:
            raise InputError(f"frame {frame!r} is outside the shot of {n} frames; use an index 0..{n - 1}")
        return int(frame)

    def _checked_ids(self, frame: int, ids: np.ndarray, what: str = "mask") -> np.ndarray:
        array = np.asarray(ids)
        h, w = self.size
        if array.ndim != 2 or array.shape != (h, w):
            shape = "x".join(map(str, array.shape[::-1])) if array.ndim == 2 else f"an array of shape {array.shape}"
            raise InputError(
                f"the {what} for frame {frame} is {shape}, the frames are {w}x{h}; a mask must match "
                f"its frame (HxW object ids)"
            )
        if (
            array.dtype != np.uint8
            and array.size
            and (not np.issubdtype(array.dtype, np.integer) or array.min() < 0 or array.max() > MAX_OBJECTS)
        ):
            raise InputError(
                f"the {what} for frame {frame} holds values outside 0..{MAX_OBJECTS}; a mask holds "
                f"object ids (0 = background) as uint8"
            )
        return np.array(array, dtype=np.uint8, copy=True)

    def _save(self, key: str, write: Callable[[], None], failure: str) -> bool:
        try:
            write()
        except XMemppError as exc:
            self.unsaved.add(key)
            self.events.problem.emit(f"{failure}: {exc}")
            return False
        self.unsaved.discard(key)
        return True

    # ------------------------------------------------------------------ undo
    def record(self, step: Step) -> None:
        """Add an applied step to the history (announced by `step_recorded`)."""
        self.history.record(step)
        self.events.step_recorded.emit(step)
        self.events.history_changed.emit()

    def _remember_problem(self, message: str) -> None:
        self.problems = [*self.problems[-9:], message]
