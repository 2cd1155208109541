"""The refined matte for the canvas's A/B view: the core's refine stage (`xmempp.refine.refine_frame`,
guided filter) run on the shown frame's plate and mask, cached per frame, mask version and object.
Without the refine stage the view modes stay and the raw / refined control says why it is off."""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional

import numpy as np

from .project import Project

__all__ = ["RefinedMattes"]

#: Refined mattes kept (frame, mask version, object).
_CACHE = 8


#: The refine mode the A/B view shows (the refine stage's fast guided filter).
VIEW_MODE = "guided"


def _refine_function():
    """`probs -> refined probs` for one frame with the view's settings, or None without the refine stage."""
    try:
        from xmempp.refine import RefineSettings, refine_frame  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    settings = RefineSettings(mode=VIEW_MODE)
    return lambda plate, probs: refine_frame(plate, probs, settings)


class RefinedMattes:
    """Refined mattes of the project's frames, computed when the canvas shows one."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._refine = _refine_function()
        self._cache: "OrderedDict[tuple[int, int, int], np.ndarray]" = OrderedDict()

    @property
    def available(self) -> bool:
        """The refine stage is there."""
        return self._refine is not None

    @property
    def why_unavailable(self) -> str:
        """Why there is no refined matte ("" when there is)."""
        return "" if self.available else "this xmempp has no refine stage (xmempp.refine)"

    def matte(self, frame: int, image: np.ndarray, ids: np.ndarray, object_id: int) -> Optional[np.ndarray]:
        """HxW float32 refined matte of `object_id` on `frame` (None without the refine stage)."""
        if self._refine is None:
            return None
        key = (frame, self.project.version(frame), object_id)
        cached = self._cache.get(key)
        if cached is not None and cached.shape == ids.shape:
            self._cache.move_to_end(key)
            return cached
        k = self.project.num_objects
        probs = (ids[None] == np.arange(k + 1, dtype=np.uint8)[:, None, None]).astype(np.float32)
        refined = np.asarray(self._refine(image, probs), dtype=np.float32)
        matte = refined[object_id]
        self._cache[key] = matte
        while len(self._cache) > _CACHE:
            self._cache.popitem(last=False)
        return matte
