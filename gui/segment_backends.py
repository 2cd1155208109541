"""Pluggable click-to-segment backends (no Qt).

* `GrabCutBackend` (OpenCV GrabCut) needs no weights and is always available: give it a box, or
  foreground / background strokes, or both.
* `SamBackend` (Segment Anything) is offered only when the `segment_anything` package is installed
  and a SAM checkpoint is found: `$XMEMPP_SAM_CHECKPOINT`, or a `sam_vit_{h,l,b}_*.pth` file in the
  xmempp weights folder (`xmempp weights path`). It takes boxes, clicks and strokes. The package is
  detected with importlib and imported only when the backend is first used.

A backend takes a `Prompt` at image resolution and returns a bool mask of the object.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from xmempp.errors import WeightsError

__all__ = [
    "SCRIBBLE_BG",
    "SCRIBBLE_FG",
    "GrabCutBackend",
    "Prompt",
    "SamBackend",
    "SegmentBackend",
    "available_backends",
    "find_sam_checkpoint",
]

#: Values of `Prompt.scribble`.
SCRIBBLE_FG = 1
SCRIBBLE_BG = 2


@dataclass
class Prompt:
    """What the user has shown so far, in image pixels.

    Attributes:
        box: (x0, y0, x1, y1) around the object, or None.
        scribble: HxW uint8, `SCRIBBLE_FG` on object strokes, `SCRIBBLE_BG` on background strokes,
            0 elsewhere; or None.
        points: [(x, y, positive)] clicks.
        frame: frame index (lets a backend reuse per-image work such as SAM's embedding).
    """

    box: tuple[int, int, int, int] | None = None
    scribble: np.ndarray | None = None
    points: list[tuple[float, float, bool]] = field(default_factory=list)
    frame: int = -1

    @property
    def empty(self) -> bool:
        """True when there is nothing to segment from."""
        has_strokes = self.scribble is not None and bool((self.scribble == SCRIBBLE_FG).any())
        return self.box is None and not has_strokes and not any(p[2] for p in self.points)


class SegmentBackend(ABC):
    """A click-to-segment method."""

    #: Name shown in the GUI.
    name: str = ""
    #: Prompt kinds it understands, among "box", "strokes", "points".
    modes: tuple[str, ...] = ()

    @classmethod
    @abstractmethod
    def available(cls) -> bool:
        """True when it can run here."""

    @abstractmethod
    def segment(self, image: np.ndarray, prompt: Prompt) -> np.ndarray:
        """Segment the object the prompt shows.

        Arguments:
            image: HxWx3 uint8 RGB frame.
            prompt: box / strokes / clicks in image pixels.
        Returns:
            HxW bool mask of the object (all False when nothing was found).
        """


class GrabCutBackend(SegmentBackend):
    """OpenCV GrabCut: colour models of object and background, refined by graph cuts."""

    name = "GrabCut"
    modes = ("box", "strokes")

    def __init__(self, iterations: int = 5, max_pixels: int = 400_000) -> None:
        """Arguments:
        iterations: GrabCut iterations.
        max_pixels: larger regions are processed at a reduced scale (speed).
        """
        self.iterations = iterations
        self.max_pixels = max_pixels

    @classmethod
    def available(cls) -> bool:
        return True

    def segment(self, image: np.ndarray, prompt: Prompt) -> np.ndarray:
        h, w = image.shape[:2]
        result = np.zeros((h, w), bool)
        roi = _region(prompt, h, w)
        if roi is None:
            return result
        x0, y0, x1, y1 = roi
        gc = np.full((y1 - y0, x1 - x0), cv2.GC_PR_BGD, np.uint8)
        if prompt.box is not None:
            bx0, by0, bx1, by1 = _clip_box(prompt.box, w, h)
            gc[:] = cv2.GC_BGD
            gc[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] = cv2.GC_PR_FGD
        if prompt.scribble is not None:
            s = prompt.scribble[y0:y1, x0:x1]
            if prompt.box is None:
                # strokes only: the area around the object strokes is probably object
                near = cv2.dilate((s == SCRIBBLE_FG).astype(np.uint8), np.ones((15, 15), np.uint8), iterations=2)
                gc[near > 0] = cv2.GC_PR_FGD
            gc[s == SCRIBBLE_FG] = cv2.GC_FGD
            gc[s == SCRIBBLE_BG] = cv2.GC_BGD
        for x, y, positive in prompt.points:
            xi, yi = int(round(x)) - x0, int(round(y)) - y0
            if 0 <= xi < gc.shape[1] and 0 <= yi < gc.shape[0]:
                cv2.circle(gc, (xi, yi), 4, int(cv2.GC_FGD if positive else cv2.GC_BGD), -1)
        fg_like = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD))
        bg_like = np.isin(gc, (cv2.GC_BGD, cv2.GC_PR_BGD))
        if not fg_like.any() or not bg_like.any():
            return result
        crop = np.ascontiguousarray(image[y0:y1, x0:x1][:, :, ::-1])  # GrabCut wants BGR
        scale = min(1.0, (self.max_pixels / float(crop.shape[0] * crop.shape[1])) ** 0.5)
        if scale < 1.0:
            size = (max(8, int(crop.shape[1] * scale)), max(8, int(crop.shape[0] * scale)))
            small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
            small_gc = cv2.resize(gc, size, interpolation=cv2.INTER_NEAREST)
            fg = self._run(small, small_gc)
            fg = cv2.resize(fg.astype(np.uint8), (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR) > 0
        else:
            fg = self._run(crop, gc)
        if prompt.scribble is not None:  # hard constraints win over the resampling
            s = prompt.scribble[y0:y1, x0:x1]
            fg[s == SCRIBBLE_FG] = True
            fg[s == SCRIBBLE_BG] = False
        result[y0:y1, x0:x1] = fg
        return result

    def _run(self, bgr: np.ndarray, gc: np.ndarray) -> np.ndarray:
        gc = gc.copy()
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        try:
            cv2.grabCut(bgr, gc, (0, 0, 0, 0), bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)  # rect unused
        except cv2.error:
            return np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD))  # degenerate colour model: keep the prompt
        fg = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
        opened = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        return np.asarray(opened) > 0


def _clip_box(box: tuple[int, int, int, int], w: int, h: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    x0, x1 = sorted((int(x0), int(x1)))
    y0, y1 = sorted((int(y0), int(y1)))
    return max(0, x0), max(0, y0), min(w, max(x1, x0 + 1)), min(h, max(y1, y0 + 1))


def _region(prompt: Prompt, h: int, w: int) -> tuple[int, int, int, int] | None:
    """The part of the image GrabCut works on: the prompt's extent with a margin of context."""
    xs: list[int] = []
    ys: list[int] = []
    if prompt.box is not None:
        x0, y0, x1, y1 = _clip_box(prompt.box, w, h)
        xs += [x0, x1]
        ys += [y0, y1]
    if prompt.scribble is not None and prompt.scribble.any():
        rows = np.flatnonzero(prompt.scribble.any(axis=1))
        cols = np.flatnonzero(prompt.scribble.any(axis=0))
        xs += [int(cols[0]), int(cols[-1]) + 1]
        ys += [int(rows[0]), int(rows[-1]) + 1]
    for x, y, _positive in prompt.points:
        xs.append(int(x))
        ys.append(int(y))
    if not xs:
        return None
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if prompt.box is None and len(prompt.points) == len(xs) and len(xs) == 1:
        return None  # one click says nothing about extent
    mx = max(16, (x1 - x0) // 3)
    my = max(16, (y1 - y0) // 3)
    x0, y0, x1, y1 = max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return x0, y0, x1, y1


# ------------------------------------------------------------------------------------------ SAM

_SAM_TYPES = ("vit_h", "vit_l", "vit_b")


def find_sam_checkpoint() -> Path | None:
    """A SAM checkpoint: `$XMEMPP_SAM_CHECKPOINT`, else `sam_vit_*.pth` in the xmempp weights folder."""
    explicit = os.environ.get("XMEMPP_SAM_CHECKPOINT")
    if explicit:
        path = Path(explicit).expanduser()
        return path if path.is_file() else None
    try:
        from xmempp.model.weights import weights_dir

        folder = weights_dir()
        found = sorted(folder.glob("sam_vit_*.pth")) if folder.is_dir() else []
    except Exception:
        return None
    for kind in _SAM_TYPES:  # largest model first
        for path in found:
            if path.name.startswith(f"sam_{kind}"):
                return path
    return None


def _sam_type(path: Path) -> str:
    for kind in _SAM_TYPES:
        if kind in path.name:
            return kind
    return os.environ.get("XMEMPP_SAM_MODEL_TYPE", "vit_h")


class SamBackend(SegmentBackend):
    """Segment Anything (`segment_anything.SamPredictor`), loaded on first use."""

    name = "Segment Anything"
    modes = ("points", "box", "strokes")

    def __init__(self, checkpoint: Path | None = None, device: str | None = None) -> None:
        self.checkpoint = checkpoint or find_sam_checkpoint()
        self.device = device
        self._predictor = None
        self._frame: int | None = None

    @classmethod
    def available(cls) -> bool:
        return importlib.util.find_spec("segment_anything") is not None and find_sam_checkpoint() is not None

    def _load(self):
        if self._predictor is None:
            sam = importlib.import_module("segment_anything")
            import torch

            if self.checkpoint is None:
                raise WeightsError("no Segment Anything checkpoint found: set XMEMPP_SAM_CHECKPOINT to a SAM .pth file")
            model = sam.sam_model_registry[_sam_type(self.checkpoint)](checkpoint=str(self.checkpoint))
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            model.to(device)
            self._predictor = sam.SamPredictor(model)
        return self._predictor

    def segment(self, image: np.ndarray, prompt: Prompt) -> np.ndarray:
        h, w = image.shape[:2]
        predictor = self._load()
        if self._frame != prompt.frame or prompt.frame < 0:
            predictor.set_image(np.ascontiguousarray(image))
            self._frame = prompt.frame
        points = [(x, y, pos) for x, y, pos in prompt.points]
        if prompt.scribble is not None:  # a few samples along each stroke count as clicks
            for value, positive in ((SCRIBBLE_FG, True), (SCRIBBLE_BG, False)):
                ys, xs = np.nonzero(prompt.scribble == value)
                if xs.size:
                    pick = np.linspace(0, xs.size - 1, num=min(8, xs.size)).astype(int)
                    points += [(float(xs[i]), float(ys[i]), positive) for i in pick]
        coords = np.array([(x, y) for x, y, _ in points], np.float32) if points else None
        labels = np.array([1 if pos else 0 for _, _, pos in points], np.int32) if points else None
        box = np.array(_clip_box(prompt.box, w, h), np.float32) if prompt.box is not None else None
        if coords is None and box is None:
            return np.zeros((h, w), bool)
        masks, _scores, _logits = predictor.predict(
            point_coords=coords, point_labels=labels, box=box, multimask_output=False
        )
        return np.asarray(masks[0], dtype=bool)


def available_backends() -> list[SegmentBackend]:
    """Backends usable here, the best first (Segment Anything when present, then GrabCut)."""
    backends: list[SegmentBackend] = []
    if SamBackend.available():
        backends.append(SamBackend())
    backends.append(GrabCutBackend())
    return backends
