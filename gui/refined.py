"""The refined matte for the canvas's A/B view: the core's refine stage (`xmempp.refine.refine_frame`,
guided filter) run on the shown frame's plate and mask, cached per frame, mask version, settings and hidden
objects. A hidden object is left out, as the raw view leaves it out, so a raw | refined split shows the same
objects on both halves; the combined view shows every visible object's matte together.

The workspace keeps hard masks, so each object's mask is first given the soft edge a network matte has:
taken to the decoder's resolution (a quarter of the processing size, area-averaged and thresholded) and
upsampled bilinearly, which is what the refine stage works on in a run. The view uses the
band, feather and detail last chosen in the export dialog (remembered in the workspace), so it shows what
the export writes; a value the core refuses takes its default. Without the refine stage the view modes
stay and the raw / refined control says why it is off."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from .matte_view import COMBINED_MODE
from .project import Project

__all__ = ["RefinedMattes"]

#: Refined frames kept (frame, mask version, settings, hidden objects).
_CACHE = 8


#: The refine mode the A/B view shows (the refine stage's fast guided filter).
VIEW_MODE = "guided"


def _refine_function():
    """`(plate, ids, objects, processing size, export choices) -> refined (1+K)xHxW probabilities` for one
    frame, or None without the refine stage."""
    try:
        from xmempp.errors import ConfigError
        from xmempp.refine import RefineSettings, refine_frame  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None

    def accepted(name: str, value: Any) -> bool:
        try:
            RefineSettings(mode=VIEW_MODE, **{name: value})
        except (ConfigError, TypeError, ValueError):
            return False
        return True

    def view_settings(choices: Mapping[str, Any]) -> RefineSettings:
        detail = choices.get("refine_detail")
        try:
            eps = float(detail) if isinstance(detail, (str, int, float)) and not isinstance(detail, bool) else None
        except ValueError:
            eps = None
        wanted: dict[str, Any] = {
            "band": choices.get("refine_band"),
            "feather": choices.get("refine_feather"),
            "eps": eps,
        }
        return RefineSettings(mode=VIEW_MODE, **{k: v for k, v in wanted.items() if v is not None and accepted(k, v)})

    def refine(plate: np.ndarray, ids: np.ndarray, objects: int, processing: int, choices: Mapping[str, Any]):
        soft = [_decoder_matte(ids == k, processing) for k in range(1, objects + 1)]
        objects_sum = np.sum(soft, axis=0) if soft else np.zeros(ids.shape, np.float32)
        scale = np.maximum(objects_sum, 1.0)
        probs = np.stack([1 - np.minimum(objects_sum, 1.0), *(m / scale for m in soft)]).astype(np.float32)
        return refine_frame(plate, probs, view_settings(choices))

    return refine


def _decoder_matte(mask: np.ndarray, processing: int) -> np.ndarray:
    """HxW float32: `mask` at the decoder's resolution (a quarter of the processing size), bilinear back up."""
    h, w = mask.shape
    scale = processing / min(h, w) / 4
    qh, qw = max(2, round(h * scale)), max(2, round(w * scale))
    quarter = cv2.resize(mask.astype(np.float32), (qw, qh), interpolation=cv2.INTER_AREA) > 0.5
    return cv2.resize(quarter.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _settings_key(choices: Mapping[str, Any]) -> tuple:
    return tuple(repr(choices.get(name)) for name in ("refine_band", "refine_feather", "refine_detail"))


class RefinedMattes:
    """Refined mattes of the project's frames, computed when the canvas shows one."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._refine = _refine_function()
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()

    @property
    def available(self) -> bool:
        """The refine stage is there."""
        return self._refine is not None

    @property
    def why_unavailable(self) -> str:
        """Why there is no refined matte ("" when there is)."""
        return "" if self.available else "this xmempp has no refine stage (xmempp.refine)"

    def probabilities(self, frame: int, image: np.ndarray, ids: np.ndarray) -> np.ndarray | None:
        """(1+K)xHxW float32 refined probabilities of `frame`'s visible objects (a hidden object is left out, as the
        raw view leaves it out), or None without the refine stage."""
        if self._refine is None:
            return None
        styles = self.project.styles
        choices = self.project.settings.export
        size = self.project.settings.config.size
        key = (frame, self.project.version(frame), size, _settings_key(choices), tuple(styles.hidden_ids))
        cached = self._cache.get(key)
        if cached is not None and cached.shape[1:] == ids.shape:
            self._cache.move_to_end(key)
            return cached
        processing = size if size > 0 else min(ids.shape)
        refined = np.asarray(
            self._refine(image, styles.visible_ids(ids), self.project.num_objects, processing, choices),
            dtype=np.float32,
        )
        self._cache[key] = refined
        while len(self._cache) > _CACHE:
            self._cache.popitem(last=False)
        return refined

    def matte(self, frame: int, image: np.ndarray, ids: np.ndarray, object_id: int) -> np.ndarray | None:
        """HxW float32 refined matte of `object_id` on `frame` (zero when it is hidden; None without the refine
        stage)."""
        refined = self.probabilities(frame, image, ids)
        return None if refined is None else refined[object_id]

    def view_matte(
        self, frame: int, image: np.ndarray, ids: np.ndarray, object_id: int, mode: str
    ) -> np.ndarray | None:
        """The refined matte a matte view shows: `object_id`'s, or in the combined view (`COMBINED_MODE`) every
        visible object's together (None without the refine stage)."""
        if mode != COMBINED_MODE:
            return self.matte(frame, image, ids, object_id)
        refined = self.probabilities(frame, image, ids)
        return None if refined is None else np.clip(refined[1:].sum(axis=0), 0.0, 1.0).astype(np.float32)
