"""Motion between consecutive frames at the review's working size: dense optical flow and warping.

The review compares each frame's masks with the previous frame's masks carried along the image motion
(OpenCV's DIS optical flow, computed from the current frame back to the previous one, so that a
backward warp samples the previous frame at each current pixel). A pixel where the flow cannot be
trusted (it leaves the picture, or the previous frame carried along the flow does not look like the
current one: an occlusion, a disocclusion, motion blur, a flow failure) is marked unreliable; the
review never blames a mask for a disagreement there.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Motion", "MotionEstimator", "working_size"]


def working_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the shorter side at most `short_side`, aspect kept, each at least 8."""
    scale = min(1.0, short_side / max(1, min(height, width)))
    return max(8, round(height * scale)), max(8, round(width * scale))


@dataclass
class Motion:
    """The motion from one frame back to the previous one.

    Attributes:
        map_x, map_y: HxW float32 sampling positions in the previous frame for each current pixel.
        reliable: HxW bool, pixels whose flow is trusted (inside the picture, the previous frame
            carried along the flow matches the current one).
        magnitude: median flow length in pixels (how fast the picture moves).
    """

    map_x: np.ndarray
    map_y: np.ndarray
    reliable: np.ndarray
    magnitude: float

    def warp(self, plane: np.ndarray) -> np.ndarray:
        """`plane` (HxW float32, of the previous frame) carried to the current frame."""
        return cv2.remap(plane, self.map_x, self.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=0.0)


class MotionEstimator:
    """Optical flow from each frame back to the one before it (DIS, OpenCV).

    Arguments:
        residual: largest grey-level difference (0..255, after a light blur) between a pixel and the
            previous frame carried to it along the flow for the pixel to count as reliable.
    """

    def __init__(self, residual: float = 24.0) -> None:
        self._dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._residual = residual
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    def grey(self, rgb: np.ndarray) -> np.ndarray:
        """The frame (HxWx3 uint8 RGB) as the grey image the flow is computed on."""
        return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)

    def motion(self, grey: np.ndarray, previous: np.ndarray) -> Motion:
        """The motion from `grey` (this frame) back to `previous` (the frame before), both HxW uint8."""
        h, w = grey.shape
        if self._grid is None or self._grid[0].shape != (h, w):
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = (xs, ys)
        flow = np.asarray(self._dis.calc(grey, previous, np.empty((0, 0), np.float32)))
        map_x = self._grid[0] + flow[..., 0]
        map_y = self._grid[1] + flow[..., 1]
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        smooth_now = cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)
        smooth_before = cv2.GaussianBlur(previous, (5, 5), 0).astype(np.float32)
        carried = cv2.remap(smooth_before, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        reliable = inside & (np.abs(carried - smooth_now) <= self._residual)
        magnitude = float(np.median(np.hypot(flow[..., 0], flow[..., 1])))
        return Motion(map_x, map_y, reliable, magnitude)
