"""Mask sequences with known failures, to measure the review: a scene generator and a failure injector.

`make_scene` renders a textured background under a moving camera (with bursts of fast motion) and
textured objects on their own paths, one passing in front of another, with the exact index masks
(with `hard=True`: motion blur, an untracked bar in front, an object leaving the picture, an object
sliding behind another until nearly hidden).
`inject_failures` corrupts chosen frames of correct masks the ways propagation fails (an object
dropped, a part cut away, a shift by an eighth of its size, two objects swapped, a leak into the
background, small holes, a slow drift, a spurious patch elsewhere) and says which frames and objects
it changed. `score_review` counts what a review flagged against that: recall per kind and the
share of correct frames flagged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["FAILURE_KINDS", "Injected", "ReviewScore", "Scene", "inject_failures", "make_scene", "score_review"]

#: The failure kinds `inject_failures` makes.
FAILURE_KINDS = ("drop", "cut", "shift", "swap", "leak", "holes", "drift", "spurious")


@dataclass
class Scene:
    """Frames (HxWx3 uint8 RGB) and their correct index masks (HxW uint8)."""

    frames: list[np.ndarray]
    masks: list[np.ndarray]


def _texture(rng: np.random.Generator, height: int, width: int, scale: float) -> np.ndarray:
    noise = rng.random((max(2, int(height / scale)), max(2, int(width / scale)), 3)).astype(np.float32)
    smooth = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    base = rng.random(3) * 200 + 25
    fine = rng.normal(0, 12, (height, width, 3))
    return np.clip(base + (smooth - 0.5) * 120 + fine, 0, 255).astype(np.uint8)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    image = _texture(rng, height, width, 40)
    for _ in range(40):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + int(rng.integers(10, 90)), y + int(rng.integers(10, 90))), colour, -1)
        else:
            cv2.line(
                image,
                (x, y),
                (x + int(rng.integers(-120, 120)), y + int(rng.integers(-120, 120))),
                colour,
                int(rng.integers(2, 9)),
            )
    return image


def _shape(rng: np.random.Generator, radius: int) -> np.ndarray:
    """A random star-convex blob (a closed polygon around the origin)."""
    angles = np.sort(rng.random(9) * 2 * np.pi)
    radii = radius * (0.6 + 0.4 * rng.random(9))
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)


def make_scene(
    seed: int,
    *,
    frames: int = 40,
    size: tuple[int, int] = (240, 360),
    objects: int = 2,
    fast_camera: bool = True,
    hard: bool = False,
) -> Scene:
    """A synthetic shot with exact masks.

    Arguments:
        seed: the random seed (the same seed makes the same scene).
        frames: number of frames.
        size: (height, width).
        objects: number of objects (1..4); with two or more, the first passes in front of the second.
        fast_camera: add bursts of fast camera motion (up to about a tenth of the width a frame).
        hard: the harder cases as well (see `_HardScene`): motion blur along the camera's fast moves, an
            untracked bar passing in front of everything, the first object leaving the picture, and with
            three objects the third sliding behind the second until nearly hidden.
    Returns:
        A `Scene`.
    """
    rng = np.random.default_rng(seed)
    height, width = size
    margin = width
    background = _background(rng, height + 2 * margin, width + 2 * margin)
    speed = rng.normal(0, 1.5, 2)
    camera = np.zeros(2)
    cameras = []
    for t in range(frames):
        step = speed.copy()
        if fast_camera and (t // 6) % 3 == 2:
            step = step + rng.normal(0, width * 0.05, 2)
        camera = np.clip(camera + step, -margin + 1, margin - 1)
        cameras.append(camera.copy())
    bodies = []
    for _ in range(objects):
        radius = int(min(height, width) * rng.uniform(0.12, 0.2))
        start = np.array([rng.uniform(0.25, 0.75) * width, rng.uniform(0.3, 0.7) * height])
        velocity = rng.normal(0, 2.0, 2)
        bodies.append(
            (
                radius,
                _shape(rng, radius),
                _texture(rng, 2 * radius + 2, 2 * radius + 2, 8),
                start,
                velocity,
                rng.uniform(-0.03, 0.03),
            )
        )
    if objects >= 2:  # the first object crosses the second over the shot
        r0, s0, tex0, _, _, spin0 = bodies[0]
        target = bodies[1][3]
        begin = target + np.array([-width * 0.35, 0])
        bodies[0] = (r0, s0, tex0, begin, (target - begin) * 2 / frames, spin0)
    extras = _HardScene.make(rng, height, width, frames, bodies) if hard else None
    scene = Scene([], [])
    for t in range(frames):
        cx, cy = cameras[t]
        frame = background[
            int(margin + cy) : int(margin + cy) + height, int(margin + cx) : int(margin + cx) + width
        ].copy()
        ids = np.zeros((height, width), np.uint8)
        for k in reversed(range(objects)):  # the first object is drawn last: in front
            radius, shape, tex, start, velocity, spin = bodies[k]
            angle = spin * t
            rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
            centre = start + velocity * t + 2 * np.sin(t / 5 + k)
            points = (shape * (1 + 0.08 * math.sin(t / 7 + k))) @ rot.T + centre
            blob = np.zeros((height, width), np.uint8)
            cv2.fillPoly(blob, [np.round(points).astype(np.int32)], 1)
            warp = np.array([[1, 0, centre[0] - radius - 1], [0, 1, centre[1] - radius - 1]], np.float32)
            layer = cv2.warpAffine(tex, warp, (width, height), borderMode=cv2.BORDER_WRAP)
            frame[blob > 0] = layer[blob > 0]
            ids[blob > 0] = k + 1
        if extras is not None:
            frame = extras.render(t, frame, ids, cameras[t] - cameras[t - 1] if t else np.zeros(2))
        noisy = frame.astype(np.float32) + rng.normal(0, 3, frame.shape)
        scene.frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
        scene.masks.append(ids)
    return scene


@dataclass
class _HardScene:
    """What `make_scene(hard=True)` adds to a shot: an untracked bar in front, motion blur, paths out of view."""

    bar: np.ndarray  # the bar's texture (H x bar width x 3)
    bar_start: float  # its left edge on the first frame (pixels)
    bar_speed: float  # pixels a frame

    @classmethod
    def make(cls, rng: np.random.Generator, height: int, width: int, frames: int, bodies: list) -> _HardScene:
        """Choose the extras and change `bodies` in place: the first object leaves the picture (crossing in
        front of the second on its way when there is one), the third (of three or more) slides behind the second
        until nearly hidden and comes out again."""
        radius, shape, tex, start, velocity, spin = bodies[0]
        if len(bodies) == 1:
            velocity = np.array([rng.choice([-1.0, 1.0]) * width * 1.4 / frames, rng.normal(0, 1.0)])
        bodies[0] = (radius, shape, tex, start, velocity * (1.6 if len(bodies) > 1 else 1.0), spin)
        if len(bodies) >= 3:
            radius, shape, tex, _, _, spin = bodies[2]
            target = bodies[1][3] + bodies[1][4] * frames * 0.6  # where the second object is at 60 % of the shot
            begin = target + np.array([width * rng.choice([-0.3, 0.3]), height * rng.uniform(-0.15, 0.15)])
            bodies[2] = (radius, shape, tex, begin, (target - begin) / (frames * 0.6), spin)
        bar_width = int(width * rng.uniform(0.06, 0.12))
        speed = float(rng.choice([-1.0, 1.0]) * width * rng.uniform(1.2, 1.8) / frames)
        start = -bar_width - width * 0.1 if speed > 0 else width * 1.1
        return cls(_texture(rng, height, bar_width, 6), start, speed)

    def render(self, t: int, frame: np.ndarray, ids: np.ndarray, camera_step: np.ndarray) -> np.ndarray:
        """Frame `t` with the bar in front (its pixels taken from `ids`: it is not tracked) and blurred along
        the camera's motion where that is fast."""
        x0 = int(round(self.bar_start + self.bar_speed * t))
        left, right = max(0, x0), min(frame.shape[1], x0 + self.bar.shape[1])
        if right > left:
            frame[:, left:right] = self.bar[:, left - x0 : right - x0]
            ids[:, left:right] = 0
        length = float(np.hypot(*camera_step))
        if length < 4.0:
            return frame
        size = int(min(31, length)) | 1
        kernel = np.zeros((size, size), np.float32)
        direction = camera_step / length
        for step in np.linspace(-(size // 2), size // 2, 2 * size):
            kernel[int(round(size // 2 + step * direction[1])), int(round(size // 2 + step * direction[0]))] = 1.0
        return cv2.filter2D(frame, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


@dataclass
class Injected:
    """Corrupted masks and what was done: frame index -> {object id: failure kind}."""

    masks: list[np.ndarray]
    failures: dict[int, dict[int, str]] = field(default_factory=dict)


def _size(mask: np.ndarray) -> float:
    ys, xs = np.nonzero(mask)
    return float(max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)) if len(xs) else 0.0


def _translate(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return cv2.warpAffine(mask.astype(np.uint8), m, (mask.shape[1], mask.shape[0]), flags=cv2.INTER_NEAREST) > 0


def _blob_near(rng: np.random.Generator, mask: np.ndarray, area: float, touching: bool) -> np.ndarray:
    """A round blob of about `area` pixels on the background, touching the object or away from it."""
    h, w = mask.shape
    radius = max(2, int(math.sqrt(area / math.pi)))
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    if touching:
        candidates = np.argwhere((dist > radius * 0.5) & (dist < radius * 0.9))
    else:
        candidates = np.argwhere(dist > _size(mask) * 0.6 + radius)
    if not len(candidates):
        return np.zeros_like(mask)
    y, x = candidates[rng.integers(len(candidates))]
    blob = np.zeros((h, w), np.uint8)
    cv2.circle(blob, (int(x), int(y)), radius, 1, -1)
    return blob.astype(bool)


def _corrupt(
    rng: np.random.Generator, kind: str, ids: np.ndarray, obj: int, other: int, step: int, params: dict
) -> np.ndarray:
    mask = ids == obj
    out = ids.copy()
    size = _size(mask)
    if kind == "drop":
        out[mask] = 0
    elif kind == "cut":
        ys, xs = np.nonzero(mask)
        angle = params["angle"]
        proj = xs * math.cos(angle) + ys * math.sin(angle)
        cut = proj > np.quantile(proj, 1 - params["share"])
        out[ys[cut], xs[cut]] = 0
    elif kind in ("shift", "drift"):
        distance = size * (params["share"] if kind == "shift" else 0.03 * (step + 1))
        moved = _translate(mask, distance * math.cos(params["angle"]), distance * math.sin(params["angle"]))
        out[mask] = 0
        out[moved & ((ids == 0) | (ids == obj))] = obj
    elif kind == "swap":
        out[mask] = other
        out[ids == other] = obj
    elif kind == "leak":
        blob = _blob_near(rng, mask, params["share"] * mask.sum(), touching=True)
        out[blob & (ids == 0)] = obj
    elif kind == "spurious":
        blob = _blob_near(rng, mask, params["share"] * mask.sum(), touching=False)
        out[blob & (ids == 0)] = obj
    elif kind == "holes":
        dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
        radius = max(2, int(size * 0.04))
        inside = np.argwhere(dist > radius * 2)
        for _ in range(params["count"]):
            if len(inside):
                y, x = inside[rng.integers(len(inside))]
                hole = np.zeros_like(out)
                cv2.circle(hole, (int(x), int(y)), radius, 1, -1)
                out[(hole > 0) & mask] = 0
    return out


def inject_failures(
    masks: Sequence[np.ndarray], seed: int, *, kinds: Sequence[str] = FAILURE_KINDS, protected: Sequence[int] = (0,)
) -> Injected:
    """Corrupt spans of `masks` with each failure kind once (kinds that need two objects are skipped
    on one-object shots).

    Arguments:
        masks: the correct index masks, in frame order.
        seed: the random seed.
        kinds: the failure kinds to inject (see `FAILURE_KINDS`).
        protected: frames never corrupted (keyframes).
    Returns:
        An `Injected`: the corrupted masks and each changed frame's {object id: kind}. Frames are
        listed only where the corruption changed the mask.
    """
    rng = np.random.default_rng(seed)
    out = [m.copy() for m in masks]
    failures: dict[int, dict[int, str]] = {}
    taken = set(protected)
    n = len(masks)
    for kind in kinds:
        length = int(rng.integers(8, 12)) if kind == "drift" else int(rng.integers(1, 4))
        for _ in range(50):
            start = int(rng.integers(1, max(2, n - length)))
            span = range(start, min(n, start + length))
            if not any(t in taken or t - 1 in taken or t + 1 in taken for t in span):
                break
        else:
            continue
        ids_present = [int(i) for i in np.unique(masks[start]) if i]
        if not ids_present or (kind == "swap" and len(ids_present) < 2):
            continue
        obj = int(rng.choice(ids_present))
        other = int(rng.choice([i for i in ids_present if i != obj])) if len(ids_present) > 1 else 0
        params = {
            "angle": float(rng.uniform(0, 2 * np.pi)),
            "share": float(
                {"cut": rng.uniform(0.25, 0.45), "shift": 0.125, "leak": 0.2, "spurious": rng.uniform(0.03, 0.06)}.get(
                    kind, 0.0
                )
            ),
            "count": int(rng.integers(2, 5)),
        }
        for step, t in enumerate(span):
            if not (out[t] == obj).any():
                continue
            corrupted = _corrupt(rng, kind, out[t], obj, other, step, params)
            if (corrupted != out[t]).any():
                out[t] = corrupted
                failures.setdefault(t, {})[obj] = kind
                if kind == "swap":
                    failures[t][other] = kind
                taken.add(t)
    return Injected(out, dict(sorted(failures.items())))


@dataclass
class ReviewScore:
    """Frame-level recall per failure kind and the share of correct frames flagged."""

    found: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    false_flags: int = 0
    correct: int = 0

    def add(self, other: ReviewScore) -> None:
        """Add another sequence's counts."""
        for kind, count in other.failed.items():
            self.failed[kind] = self.failed.get(kind, 0) + count
            self.found[kind] = self.found.get(kind, 0) + other.found.get(kind, 0)
        self.false_flags += other.false_flags
        self.correct += other.correct

    @property
    def recall(self) -> float:
        """Failure frames flagged, over all failure frames."""
        return sum(self.found.values()) / max(1, sum(self.failed.values()))

    @property
    def false_positive_rate(self) -> float:
        """Correct frames flagged, over all correct frames."""
        return self.false_flags / max(1, self.correct)


def score_review(
    flagged: Sequence[bool], failures: dict[int, dict[int, str]], skip: Sequence[int] = (0,)
) -> ReviewScore:
    """Count a review's frame flags against the injected failures (frames in `skip` are not counted)."""
    score = ReviewScore()
    for t, is_flagged in enumerate(flagged):
        if t in skip:
            continue
        if t in failures:
            for kind in set(failures[t].values()):
                score.failed[kind] = score.failed.get(kind, 0) + 1
                score.found[kind] = score.found.get(kind, 0) + int(is_flagged)
        else:
            score.correct += 1
            score.false_flags += int(is_flagged)
    return score
