"""Motion between consecutive frames at the review's working size: dense optical flow and warping.

The review compares each frame's masks with the previous frame's masks carried along the image motion
(OpenCV's DIS optical flow, computed from the current frame back to the previous one, so that a
backward warp samples the previous frame at each current pixel). A pixel where the flow cannot be
trusted (it leaves the picture, or the previous frame carried along the flow does not look like the
current one: an occlusion, a disocclusion, motion blur, a flow failure) is marked unreliable; the
review never blames a mask for a disagreement there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from xmempp.review.signals import Window, disk, touches_edge

__all__ = ["BLURRED", "Motion", "MotionEstimator", "PastMask", "warp_affine", "working_size"]

#: The sharpness drop (the shot's recent sharp frames over this one) from which a frame counts as blurred.
BLURRED = 1.5


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
    now: np.ndarray  # this frame, grey, lightly blurred (float32)
    before: np.ndarray  # the previous frame, the same way
    carried: np.ndarray  # `before` carried to this frame along the flow
    residual: float  # the grey-level difference a reliable pixel stays within
    _moved: dict[bytes, np.ndarray] = field(default_factory=dict, repr=False)  # `moved` by transform

    def follow(
        self,
        plane: np.ndarray,
        prior: tuple[float, float] | None = None,
        seen: np.ndarray | None = None,
        blur: float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """An object's mask of the previous frame (HxW float32) carried to this frame as a whole: by the
        similarity transform that the flow inside it fits (dense flow smears the background's motion into the
        object's outline, and the object's into the background around it), or by its own best shift where its
        pixels match much better that way (dense flow smooths the background's motion into a small object that
        moves otherwise: a subject the camera pans with); along the dense flow where neither fits.

        A carry must keep the object's size: a fitted transform that scales it by more than a fifth, or a dense
        warp that loses or gains more than a fifth of its pixels away from the picture's edge (the flow of a
        blurred, fast frame scatters) on a frame that moves fast, is no motion of the object, and its own best
        shift is taken instead.
        `prior` is the object's own last shift (dx, dy) in pixels: objects move smoothly where the camera
        jerks, so it is a candidate too, taken where it explains the object's pixels better. `seen` (HxW
        float32) is the part of `plane` that was visible: the motion is measured on it alone (the flow over a
        hidden part is the occluder's), and `plane` carried as a whole. `blur` (the blurrier of the two
        frames'; 1 = as sharp as the shot's recent frames, see the reviewer) weakens the pixels' evidence: where
        it is 1.5x or more the dense flow of a fast frame is no carry, nor a dense warp that changes the object's
        size by a fifth, and the steady shift is taken unless another carry explains the object's pixels much
        better.

        Returns:
            (the carried mask, the pixels that the object's own motion makes reliable (HxW bool) or None, the
            2x3 transform used or None where the dense flow carried it: `carry` moves other masks the same way).
        """
        warped = self.warp(plane)
        whole = plane
        plane = plane if seen is None else seen
        mask = plane > 0.5
        landed = (warped if seen is None else self.warp(plane)) > 0.5
        if int(mask.sum()) < 32 or not landed.any():
            return warped, None, None
        best, best_error = None, _trimmed_mean((self.now[landed] - self.carried[landed]) ** 2)
        scattered = (  # a fast or blurred frame whose flow lost or spread the object (slow ones may be occlusions)
            (self.magnitude >= 8.0 or blur >= BLURRED)
            and not touches_edge(mask | landed)
            and not 0.8 <= landed.sum() / mask.sum() <= 1.25
        )
        if scattered or (blur >= BLURRED and self.magnitude >= 8.0):  # a blurred fast frame's dense flow is no carry
            best_error = float("inf")
        fitted = self._fit(mask)
        if fitted is not None and 0.8 <= float(np.sqrt(abs(np.linalg.det(fitted[:, :2])))) <= 1.25:
            fitted_error = self._error(fitted, plane)  # taken unless it explains the object far worse (it deforms)
            if fitted_error <= 2.0 * best_error + 32.0:
                best, best_error = fitted, fitted_error
        if prior is not None:
            steady = np.array([[1, 0, prior[0]], [0, 1, prior[1]]], np.float32)
            steady_error = self._error(steady, plane)
            if steady_error <= (0.9 if blur < BLURRED else 1.5) * best_error:
                best, best_error = steady, steady_error
        if best_error >= 24.0 or self.magnitude >= 8.0:  # the flow may have lost the object: try its own shift
            shift = _best_shift(self.before, self.now, mask, search=max(8.0, 2.0 * self.magnitude))
            if shift is not None and (shift[2] <= 0.7 * best_error or (best is None and scattered)):
                best = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float32)
        if best is None:
            return warped, None, None
        return self.carry(whole, best), np.abs(self.moved(best) - self.now) <= self.residual, best

    def moved(self, transform: np.ndarray | None) -> np.ndarray:
        """The previous frame (as `before`) moved by `transform` (2x3, from `follow`), or along the dense flow
        where it is None."""
        if transform is None:
            return self.carried
        key = np.asarray(transform, np.float32).tobytes()
        if key not in self._moved:  # each object's candidate carries are tried, then the chosen one used again
            size = (self.before.shape[1], self.before.shape[0])
            self._moved[key] = cv2.warpAffine(
                self.before, transform, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        return self._moved[key]

    def same_texture(self, transform: np.ndarray | None, where: np.ndarray) -> np.ndarray:
        """HxW bool: pixels of `where` (HxW bool) where the previous frame moved by `transform` (from `follow`;
        along the dense flow where None) shows the same texture as this frame: the two 7x7 neighbourhoods
        correlate, or both are flat and of about the same grey. Stricter than `reliable`, which a different
        texture of about the same grey passes (an occluder that moves otherwise: the object's content is not
        seen there)."""
        same = np.zeros(where.shape, bool)
        left, top, width, height = cv2.boundingRect(where.astype(np.uint8))
        if not width:
            return same
        pad = 4  # the window's half and one
        y0, y1 = max(0, top - pad), min(where.shape[0], top + height + pad)
        x0, x1 = max(0, left - pad), min(where.shape[1], left + width + pad)
        moved, now = self.moved(transform)[y0:y1, x0:x1], self.now[y0:y1, x0:x1]
        window = (7, 7)
        mean_a, mean_b = cv2.blur(moved, window), cv2.blur(now, window)
        var_a = np.maximum(cv2.blur(moved * moved, window) - mean_a * mean_a, 0.0)
        var_b = np.maximum(cv2.blur(now * now, window) - mean_b * mean_b, 0.0)
        covariance = cv2.blur(moved * now, window) - mean_a * mean_b
        correlated = covariance >= 0.5 * np.sqrt(var_a * var_b) + 1.0
        flat = (var_a < _FLAT_VARIANCE) & (var_b < _FLAT_VARIANCE) & (np.abs(mean_a - mean_b) <= 0.5 * self.residual)
        same[y0:y1, x0:x1] = (correlated | flat) & where[y0:y1, x0:x1]
        return same

    def carry(self, plane: np.ndarray, transform: np.ndarray | None) -> np.ndarray:
        """`plane` (HxW float32, of the previous frame) carried by `transform` (2x3, from `follow`), or along
        the dense flow where it is None."""
        return self.warp(plane) if transform is None else warp_affine(plane, transform)

    def _fit(self, mask: np.ndarray) -> np.ndarray | None:
        """The similarity transform (2x3, previous -> current) that the flow of the pixels landing well inside
        `mask` fits (RANSAC), or None where too few pixels land there or too few of them agree."""
        size = float(np.sqrt(mask.sum()))
        radius = max(1, round(0.1 * size))
        window = Window.around(mask, radius + 1)
        inner = np.zeros(mask.shape, np.uint8)
        window(inner)[:] = cv2.erode(window(mask).astype(np.uint8), disk(radius))
        ys, xs = np.nonzero(cv2.remap(inner, self.map_x, self.map_y, cv2.INTER_NEAREST))
        if len(xs) < 24:
            return None
        step = max(1, len(xs) // 400)
        ys, xs = ys[::step], xs[::step]
        source = np.stack([self.map_x[ys, xs], self.map_y[ys, xs]], 1).astype(np.float32)
        target = np.stack([xs, ys], 1).astype(np.float32)
        transform, inliers = cv2.estimateAffinePartial2D(source, target, method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if transform is None or inliers is None or float(inliers.mean()) < 0.5:
            return None
        return transform.astype(np.float32)

    def _error(self, transform: np.ndarray, plane: np.ndarray) -> float:
        """Mean squared grey difference, over the carried mask, between this frame and the previous one moved
        by `transform` (of the better half of its pixels: something may cover the rest)."""
        x, y, w, h = cv2.boundingRect((plane > 0).astype(np.uint8))
        corners = np.array([[x - 1, y - 1], [x + w + 1, y - 1], [x - 1, y + h + 1], [x + w + 1, y + h + 1]], np.float32)
        landing = corners @ transform[:, :2].T + transform[:, 2]
        (x0, y0), (x1, y1) = np.floor(landing.min(0)) - 2, np.ceil(landing.max(0)) + 2
        height, width = plane.shape
        x0, y0, x1, y1 = int(max(0, x0)), int(max(0, y0)), int(min(width, x1)), int(min(height, y1))
        if w == 0 or x1 <= x0 or y1 <= y0:
            return float("inf")
        shifted = transform.astype(np.float32).copy()  # the same carry, worked out for that window alone
        shifted[:, 2] -= (x0, y0)
        size = (x1 - x0, y1 - y0)
        landed = cv2.warpAffine(plane, shifted, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) > 0.5
        if not landed.any():
            return float("inf")
        moved = cv2.warpAffine(self.before, shifted, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return _trimmed_mean((self.now[y0:y1, x0:x1][landed] - moved[landed]) ** 2)

    def warp(self, plane: np.ndarray) -> np.ndarray:
        """`plane` (HxW float32, of the previous frame) carried to the current frame."""
        return cv2.remap(
            plane, self.map_x, self.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0
        )


@dataclass
class PastMask:
    """A mask of an earlier frame, carried to the latest frame lazily: the similarity carries since it are
    composed and applied once, where it is read (the reviewer's drift check reads only the oldest of several)."""

    age: int  # frames since
    mask: np.ndarray  # float32, carried as far as `pending` says
    pending: np.ndarray | None = None  # 3x3: the carries not applied yet

    def carried(self, motion: Motion, transform: np.ndarray | None) -> PastMask:
        """This mask carried one frame on by `motion` (`transform` from `Motion.follow`, None: the dense flow)."""
        if transform is None:
            return PastMask(self.age + 1, motion.carry(self.read(), None))
        step = np.vstack([transform, np.array([0.0, 0.0, 1.0], np.float32)])
        return PastMask(self.age + 1, self.mask, step if self.pending is None else step @ self.pending)

    def read(self) -> np.ndarray:
        """The mask carried to the latest frame."""
        if self.pending is not None:
            self.mask, self.pending = warp_affine(self.mask, self.pending[:2]), None
        return self.mask


#: Grey-level variance (after the light blur) below which a 7x7 neighbourhood counts as flat.
_FLAT_VARIANCE = 16.0


def warp_affine(plane: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """`plane` (HxW float32) moved by `transform` (2x3, to the same size), zero where it leaves nothing."""
    return cv2.warpAffine(
        plane,
        np.asarray(transform, np.float32),
        (plane.shape[1], plane.shape[0]),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )


def _trimmed_mean(squared: np.ndarray) -> float:
    """The mean of the lower half of `squared` (1-D): an occluder over part of an object (a bar sweeping across
    it covers new parts of it on every frame) does not make the object's true motion look wrong."""
    keep = max(1, int(0.5 * squared.size))
    return float(np.mean(np.partition(squared, keep - 1)[:keep]))


def _smooth(grey: np.ndarray) -> np.ndarray:
    """A grey frame lightly blurred (float32): what the flow's carry is checked on."""
    return cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)


def _scaled(image: np.ndarray, scale: float) -> np.ndarray:
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return np.asarray(cv2.resize(image, size), np.float32)


def _best_shift(
    before: np.ndarray, now: np.ndarray, mask: np.ndarray, search: float
) -> tuple[float, float, float] | None:
    """(dx, dy, mean squared error) of the translation that best moves `before`'s pixels under `mask` onto
    `now`, searched within `search` pixels (masked template matching, on a copy at most 96 pixels wide)."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    scale = min(1.0, 96.0 / max(y1 - y0, x1 - x0))
    radius = int(search)
    h, w = now.shape
    sy0, sy1, sx0, sx1 = max(0, y0 - radius), min(h, y1 + radius), max(0, x0 - radius), min(w, x1 + radius)
    template, weights = before[y0:y1, x0:x1], mask[y0:y1, x0:x1].astype(np.float32)
    region = now[sy0:sy1, sx0:sx1]
    if scale < 1.0:
        template, weights, region = (_scaled(a, scale) for a in (template, weights, region))
    if region.shape[0] < template.shape[0] or region.shape[1] < template.shape[1] or weights.sum() < 8:
        return None
    scores = cv2.matchTemplate(region, template, cv2.TM_SQDIFF, mask=weights)
    _, _, (mx, my), _ = cv2.minMaxLoc(scores)
    error = float(scores[my, mx]) / float(weights.sum())
    return (sx0 + mx / scale - x0, sy0 + my / scale - y0, error)


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
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # the last frame's grey and its smoothed copy

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
        smooth_now = _smooth(grey)
        smooth_before = self._last[1] if self._last is not None and self._last[0] is previous else _smooth(previous)
        self._last = (grey, smooth_now)  # the next frame's `previous`
        carried = cv2.remap(smooth_before, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        reliable = inside & (np.abs(carried - smooth_now) <= self._residual)
        every_other = flow[::2, ::2]  # the median of a quarter of the pixels, as good and four times quicker
        magnitude = float(np.median(np.hypot(every_other[..., 0], every_other[..., 1])))
        return Motion(map_x, map_y, reliable, magnitude, smooth_now, smooth_before, carried, self._residual)
