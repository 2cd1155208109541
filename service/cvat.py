"""A CVAT tracking function (cvat-sdk auto-annotation interface) on xmempp's engine.

CVAT calls `init_tracking_state` with the image a user's mask shape is on, then `track` with each
following image. Each shape gets its own XMem++ memory (the shape's mask in permanent memory); the
steps run through the job API on the shared engine. Use it with the CVAT CLI agent::

    cvat-cli function create-native "XMem++" --function-module xmempp.service.cvat -p model=str:/weights/XMem.pth
    cvat-cli function run-agent <function id> --function-module xmempp.service.cvat -p model=str:/weights/XMem.pth

(`-p device=str:cuda` picks the device, `-p size=int:480` the processing size.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cvat_sdk.auto_annotation as cvataa
import numpy as np
import PIL.Image
import torch
from cvat_sdk.masks import decode_mask, encode_mask

from xmempp.errors import InputError, XMemppError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.jobs import FrameResult, ShotJob, iter_job
from xmempp.io.writers import probs_to_ids

from .scheduler import Scheduler

#: Frames one tracked shape may be followed through.
MAX_TRACK_FRAMES = 50_000


class CvatTrackingError(cvataa.BadFunctionError, InputError):
    """An error of the tracking function in a type the CVAT agent forwards with its message (any other
    exception reaches CVAT as "Unknown error"). It pickles by its message, across the agent's worker pool."""


def _forwarded(exc: XMemppError) -> CvatTrackingError:
    """`exc` as an error CVAT shows: its message and remedies in neutral words, no server path."""
    from .errors import scrub_paths

    return CvatTrackingError(scrub_paths(str(exc)))


class _LiveFrames:
    """Frames that arrive one at a time: holds only the newest, read by its index."""

    def __init__(self, first: np.ndarray) -> None:
        self.size = first.shape[:2]
        self._index, self._frame = 0, first

    def __len__(self) -> int:
        return MAX_TRACK_FRAMES

    def push(self, frame: np.ndarray) -> int:
        """Make `frame` the next one; returns its index."""
        if self._index + 1 >= MAX_TRACK_FRAMES:
            raise InputError(f"a shape can be tracked through at most {MAX_TRACK_FRAMES} frames")
        self._index, self._frame = self._index + 1, frame
        return self._index

    def __getitem__(self, index: int) -> np.ndarray:
        if index != self._index:
            raise InputError(f"frame {index} is not the current frame {self._index} of this track")
        return self._frame


@dataclass
class TrackingState:
    """One tracked shape: its frames and the running job over them."""

    frames: _LiveFrames
    results: Iterator[FrameResult]
    shape_type: str


class XMemppTrackingFunction:
    """Tracks CVAT mask and polygon shapes with XMem++.

    Arguments:
        engine: the network and its work queue.
        config: inference settings (XMem++ defaults when None).
    """

    spec = cvataa.TrackingFunctionSpec(supported_shape_types=["mask", "polygon"])

    def __init__(self, engine: Scheduler, config: InferenceConfig | None = None) -> None:
        self.engine = engine
        self.config = config or InferenceConfig()

    def preprocess_image(self, context: cvataa.TrackingFunctionContext, image: PIL.Image.Image) -> np.ndarray:
        """The image as HxWx3 uint8 RGB."""
        return np.array(image.convert("RGB"))

    def init_tracking_state(
        self, context: cvataa.TrackingFunctionShapeContext, pp_image: np.ndarray, shape: cvataa.TrackableShape
    ) -> TrackingState:
        """Put the shape's mask into a new memory and step its frame."""
        try:
            height, width = pp_image.shape[:2]
            mask = shape_to_mask(shape, height, width)
            if not mask.any():
                raise InputError("the shape covers no pixel of the image")
            frames = _LiveFrames(pp_image)
            job = ShotJob(frames, {0: mask.astype(np.uint8)}, self.config, direction="forward", start=0)
            results = iter_job(self.engine.model, job, prefetch_depth=0)
            self.engine.call(lambda: next(results))  # the reference frame: initialises memory as a job does
        except CvatTrackingError:
            raise
        except XMemppError as exc:
            raise _forwarded(exc) from exc
        return TrackingState(frames, results, shape.type)

    def track(
        self, context: cvataa.TrackingFunctionShapeContext, pp_image: np.ndarray, state: TrackingState
    ) -> cvataa.TrackableShape | None:
        """The shape on the next image, or None where the object is not found."""
        try:
            state.frames.push(pp_image)
            result = self.engine.call(lambda: next(state.results))
        except XMemppError as exc:
            raise _forwarded(exc) from exc
        probs = result.probs.numpy() if isinstance(result.probs, torch.Tensor) else result.probs
        found = probs_to_ids(probs, (1,)) == 1
        if not found.any():
            return None
        return mask_to_shape(found, state.shape_type)


def shape_to_mask(shape: cvataa.TrackableShape, height: int, width: int) -> np.ndarray:
    """HxW bool mask of a CVAT "mask" or "polygon" shape."""
    if shape.type == "mask":
        try:
            return decode_mask(shape.points, image_width=width, image_height=height)
        except ValueError as exc:
            raise InputError(f"bad mask shape: {exc}") from None
    if shape.type == "polygon":
        import cv2

        points = np.asarray(shape.points, dtype=np.float64).reshape(-1, 2)
        if len(points) < 3:
            raise InputError("a polygon needs at least 3 points")
        canvas = np.zeros((height, width), dtype=np.uint8)
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 1)
        return canvas.astype(bool)
    raise InputError(f"shape type {shape.type!r} cannot be tracked; use a mask or a polygon")


def mask_to_shape(mask: np.ndarray, shape_type: str) -> cvataa.TrackableShape:
    """A CVAT shape of `shape_type` for a bool mask (a polygon is the outline of the largest region)."""
    if shape_type == "polygon":
        import cv2

        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        outline = max(contours, key=cv2.contourArea).reshape(-1, 2)
        if len(outline) < 3:
            ys, xs = np.nonzero(mask)
            outline = np.array([[xs.min(), ys.min()], [xs.max(), ys.min()], [xs.max(), ys.max()]])
        return cvataa.TrackableShape(type="polygon", points=outline.astype(float).ravel().tolist())
    return cvataa.TrackableShape(type="mask", points=encode_mask(mask))


def create(model: str | None = None, device: str = "auto", size: int = 480) -> XMemppTrackingFunction:
    """The function object the CVAT CLI builds (`-p model=str:PATH -p device=str:cuda -p size=int:480`).

    Arguments:
        model: checkpoint path (default: the official XMem.pth, downloaded on first use).
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        size: processing size (shorter side; -1 = native).
    Returns:
        A tracking function.
    """
    engine = Scheduler.load(Path(model) if model else None, device)
    return XMemppTrackingFunction(engine, InferenceConfig(size=size))
