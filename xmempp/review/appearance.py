"""Each object's colours against its trusted appearance: swapped or wandering masks cover other colours.

An object's appearance is a histogram of its pixels' chroma (CIE a*b*, 16x16 bins), learnt from the
keyframes (trusted) or, without keyframes, from its first frames. The distance of a mask's histogram
to it is the Hellinger distance (0 same colours .. 1 none shared). A mask that is much closer to
another object's appearance than to its own "looks like" that object.
"""

from __future__ import annotations

import cv2
import numpy as np

from xmempp.review.signals import Window

__all__ = ["Appearance"]

#: Pixels a mask needs for its colours to be compared.
MIN_PIXELS = 64
#: Untrusted frames an object's appearance is learnt from when it has no keyframe.
FIRST_FRAMES = 3
#: How many times the area its colours were learnt from an object must show, on a frame not flagged, for that
#: frame's colours to be learnt too: an object first seen as a sliver (entering view, mostly hidden) showed few
#: of its colours.
GROWN = 2.0
#: The most colour references an object keeps.
MOST_REFERENCES = 8


def _histogram(small: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    if int(mask.sum()) < MIN_PIXELS:
        return None
    window = Window.around(mask, 0)  # the colours of the mask's box alone: the same histogram, far quicker
    lab = cv2.cvtColor(np.ascontiguousarray(window(small)), cv2.COLOR_RGB2LAB)
    hist = cv2.calcHist([lab], [1, 2], window(mask).astype(np.uint8), [16, 16], [0, 256, 0, 256]).ravel()
    return hist / max(float(hist.sum()), 1.0)


def _hellinger(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(max(0.0, 1.0 - float(np.sum(np.sqrt(a * b))))))


class Appearance:
    """Trusted colour histograms per object."""

    def __init__(self) -> None:
        self._references: dict[int, list[np.ndarray]] = {}
        self._trusted: set[int] = set()
        self._largest: dict[int, int] = {}  # the largest area an object's references were learnt from

    def learn(self, object_id: int, small: np.ndarray, mask: np.ndarray, *, trusted: bool) -> None:
        """Learn an object's colours from a frame (a keyframe when `trusted`; otherwise while the object has
        no keyframe and fewer than `FIRST_FRAMES` references, or where it shows `GROWN` times the area its
        references were learnt from)."""
        area, references = int(mask.sum()), self._references.get(object_id, [])
        if not trusted:
            first = object_id not in self._trusted and len(references) < FIRST_FRAMES
            grown = references and area >= GROWN * self._largest.get(object_id, 0)
            if not (first or grown) or len(references) >= MOST_REFERENCES:
                return
        hist = _histogram(small, mask)
        if hist is None:
            return
        if trusted and object_id not in self._trusted:
            self._references[object_id] = []
            self._largest[object_id] = 0
            self._trusted.add(object_id)
        self._references.setdefault(object_id, []).append(hist)
        self._largest[object_id] = max(self._largest.get(object_id, 0), area)

    def distance(self, object_id: int, small: np.ndarray, mask: np.ndarray) -> tuple[float | None, int | None]:
        """(distance of the mask's colours to the object's appearance or None, another object it looks like
        or None)."""
        own = self._references.get(object_id)
        hist = _histogram(small, mask)
        if not own or hist is None:
            return None, None
        mine = min(_hellinger(hist, ref) for ref in own)
        closest, best = None, mine
        for other, refs in self._references.items():
            if other == object_id or not refs:
                continue
            theirs = min(_hellinger(hist, ref) for ref in refs)
            if theirs < 0.5 * best and mine > 0.35:
                closest, best = other, theirs
        return mine, closest
