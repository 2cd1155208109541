"""Spline (Bezier) roto shapes with per-point feather: sampling, soft rasterisation, their JSON file.

A shape is a closed cubic Bezier outline around one object: each point has an anchor, an incoming and
an outgoing tangent handle (offsets from the anchor; zero handles make a corner) and a feather: `inner`
pixels of falloff inside the outline and `outer` pixels outside it, interpolated along the curve between
points (as Silhouette's and Nuke's per-point feather). Rasterised, a shape is a soft matte: 1 inside,
0 outside, a linear falloff from `outer` pixels outside the curve to `inner` pixels inside it, and at
least one pixel of falloff across a hard edge (anti-aliasing). Coordinates are image pixels with pixel
(i, j) covering [i, i + 1) x [j, j + 1), so its centre is (i + 0.5, j + 0.5).

A workspace keeps its keyframes' shapes in `shapes.json` beside `masks/` (`SHAPES_FILE`):

    {"format": "xmempp-shapes", "version": 1,
     "frames": {"12": [{"object": 1, "points": [{"x": 40.5, "y": 20.0, "in": [-8, 0], "out": [8, 0],
                                                  "feather": [0, 6]}, ...]}]}}

where "frames" maps a 0-based frame index to that keyframe's shapes and "object" is the workspace
object id (1..K). The shapes are the artist's soft keyframe: `keyframe_mattes` gives each object's
matte (the soft keyframe output of a job, `JobOutputs.keyframe_mattes`) and `keyframe_ids` the index
mask the network is given.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from xmempp.errors import InputError
from xmempp.io.atomic import atomic_write_text

__all__ = [
    "SHAPES_FILE",
    "SHAPES_FORMAT",
    "SHAPES_VERSION",
    "Shape",
    "ShapePoint",
    "keyframe_ids",
    "keyframe_mattes",
    "rasterise_shape",
    "read_shapes",
    "sample_shape",
    "shapes_from_json",
    "shapes_to_json",
    "write_shapes",
]

SHAPES_FILE = "shapes.json"
SHAPES_FORMAT = "xmempp-shapes"
SHAPES_VERSION = 1
#: Distance between samples along the curve, in output pixels (dense enough that the sampled outline
#: has no gaps when drawn pixel by pixel).
_SPACING = 0.5
#: Samples either side of the nearest outline pixel's sample searched for the exact nearest point.
_SEARCH = 5
#: Pixels this close to the outline get the exact nearest point of the curve (farther: the nearest sample's).
_EXACT_WITHIN = 3.0
#: Feather of one point, pixels (larger is surely a typo).
MAX_FEATHER = 1000.0
_SHIFT = 8  # sub-pixel bits of cv2.fillPoly


@dataclass(frozen=True)
class ShapePoint:
    """One point of a shape.

    Attributes:
        x, y: the anchor, image pixels.
        in_x, in_y: incoming tangent handle, relative to the anchor (0, 0: a corner).
        out_x, out_y: outgoing tangent handle, relative to the anchor.
        inner: feather inside the outline, pixels (>= 0).
        outer: feather outside the outline, pixels (>= 0).
    """

    x: float
    y: float
    in_x: float = 0.0
    in_y: float = 0.0
    out_x: float = 0.0
    out_y: float = 0.0
    inner: float = 0.0
    outer: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The point as a JSON object."""
        return {
            "x": self.x,
            "y": self.y,
            "in": [self.in_x, self.in_y],
            "out": [self.out_x, self.out_y],
            "feather": [self.inner, self.outer],
        }


@dataclass(frozen=True)
class Shape:
    """A closed Bezier shape around one object.

    Attributes:
        object_id: the workspace object it draws (1..K).
        points: its points in order (at least 3), the last joined to the first.
    """

    object_id: int
    points: tuple[ShapePoint, ...]

    def to_json(self) -> dict[str, Any]:
        """The shape as a JSON object."""
        return {"object": self.object_id, "points": [p.to_json() for p in self.points]}


def sample_shape(
    shape: Shape, scale: float = 1.0, spacing: float = _SPACING
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points along a shape's closed outline with the feather there.

    Arguments:
        shape: the shape.
        scale: output pixels per shape pixel (a workspace imported smaller, written at source size).
        spacing: largest distance between samples, output pixels.
    Returns:
        (N, 2) float64 points (x, y) in output pixels (the first point not repeated at the end), and the
        inner and outer feather (N,) at each, output pixels.
    """
    pts = shape.points
    n = len(pts)
    xy, inner, outer = [], [], []
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        c = np.array([[a.x, a.y], [a.x + a.out_x, a.y + a.out_y], [b.x + b.in_x, b.y + b.in_y], [b.x, b.y]]) * scale
        hull = float(np.linalg.norm(np.diff(c, axis=0), axis=1).sum())  # never shorter than the curve
        fine = _bezier(c, max(1, int(math.ceil(hull / spacing))) * 8)
        lengths = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(fine, axis=0).T))])
        steps = max(1, int(math.ceil(lengths[-1] / spacing)))
        # evenly spaced along the curve (a handle-less end would bunch samples up); the segment's end is
        # the next one's start
        at = np.interp(np.arange(steps) * lengths[-1] / steps, lengths, np.linspace(0.0, 1.0, len(fine)))
        xy.append(_bezier(c, 0, at))
        inner.append((a.inner * (1 - at) + b.inner * at) * scale)
        outer.append((a.outer * (1 - at) + b.outer * at) * scale)
    return np.concatenate(xy), np.concatenate(inner), np.concatenate(outer)


def _bezier(c: np.ndarray, steps: int, t: np.ndarray | None = None) -> np.ndarray:
    """Points of the cubic Bezier with control points c (4x2) at parameters t (default: steps + 1 even ones)."""
    t = (np.linspace(0.0, 1.0, steps + 1) if t is None else t)[:, None]
    u = 1.0 - t
    return u**3 * c[0] + 3 * u * u * t * c[1] + 3 * u * t * t * c[2] + t**3 * c[3]


def rasterise_shape(shape: Shape, size: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """A shape's soft matte: 1 inside, 0 outside, the feather's linear falloff across the outline.

    Arguments:
        shape: the shape (shape pixels).
        size: (height, width) of the matte, output pixels.
        scale: output pixels per shape pixel.
    Returns:
        HxW float32 in [0, 1].
    """
    h, w = size
    matte = np.zeros((h, w), np.float32)
    xy, inner, outer = sample_shape(shape, scale)
    band = float(max(inner.max(), outer.max(), 0.5)) + 2.0
    x0, y0 = max(0, int(math.floor(xy[:, 0].min() - band))), max(0, int(math.floor(xy[:, 1].min() - band)))
    x1, y1 = min(w, int(math.ceil(xy[:, 0].max() + band)) + 1), min(h, int(math.ceil(xy[:, 1].max() + band)) + 1)
    if x0 >= x1 or y0 >= y1:
        return matte
    local = xy - (x0, y0)
    ch, cw = y1 - y0, x1 - x0
    # inside at pixel centres (cv2 puts integer coordinates at pixel centres)
    inside = np.zeros((ch, cw), np.uint8)
    fixed = np.round((local - 0.5) * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(inside, [fixed], 1, cv2.LINE_8, _SHIFT)
    # the outline drawn pixel by pixel; each outline pixel remembers a sample that lies in it
    owner = np.full((ch, cw), -1, np.int64)
    px = np.floor(local).astype(np.int64)
    keep = (px[:, 0] >= 0) & (px[:, 0] < cw) & (px[:, 1] >= 0) & (px[:, 1] < ch)
    owner[px[keep, 1], px[keep, 0]] = np.nonzero(keep)[0]
    result = inside.astype(np.float32)
    if keep.any():
        _feather_band(result, inside, owner, local, inner, outer, band)
    matte[y0:y1, x0:x1] = result
    return matte


def _feather_band(
    result: np.ndarray,
    inside: np.ndarray,
    owner: np.ndarray,
    xy: np.ndarray,
    inner: np.ndarray,
    outer: np.ndarray,
    band: float,
) -> None:
    """Write the falloff of the pixels within `band` of the outline into `result` (the crop's inside mask)."""
    outline = owner >= 0
    source = np.where(outline, 0, 1).astype(np.uint8)
    dist, labels = cv2.distanceTransformWithLabels(source, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(dist <= band)
    zy, zx = np.nonzero(outline)  # labels count the outline pixels in row-major order from 1
    nearest = owner[zy, zx][labels[ys, xs] - 1]
    n = len(xy)
    p = np.stack([xs + 0.5, ys + 0.5], axis=1)
    # beyond a few pixels the nearest sample is as good as the nearest point (an error of spacing^2 / distance);
    # near the curve, where the edge and its side matter most, the exact nearest point
    near = dist[ys, xs] <= _EXACT_WITHIN
    close, far = np.nonzero(near)[0], np.nonzero(~near)[0]
    best = np.zeros(len(ys))
    best_k, best_t = nearest.copy(), np.zeros(len(ys))
    pf, near_f = p[far], nearest[far]
    best_f, k_f = np.full(len(far), np.inf), near_f.copy()
    for offset in range(-_SEARCH, _SEARCH + 1):
        k = (near_f + offset) % n
        d = np.hypot(*(pf - xy[k]).T)
        better = d < best_f
        best_f, k_f = np.where(better, d, best_f), np.where(better, k, k_f)
    best[far], best_k[far] = best_f, k_f
    pc, near_c = p[close], nearest[close]
    best_c = np.full(len(close), np.inf)
    k_c, t_c = np.zeros(len(close), np.int64), np.zeros(len(close))
    for offset in range(-_SEARCH, _SEARCH):
        k = (near_c + offset) % n
        a, ab = xy[k], xy[(k + 1) % n] - xy[k]
        t = np.clip(((pc - a) * ab).sum(1) / np.maximum((ab**2).sum(1), 1e-12), 0.0, 1.0)
        d = np.hypot(*(pc - a - t[:, None] * ab).T)
        better = d < best_c
        best_c, k_c, t_c = np.where(better, d, best_c), np.where(better, k, k_c), np.where(better, t, t_c)
    best[close], best_k[close], best_t[close] = best_c, k_c, t_c
    k1 = (best_k + 1) % n
    feather_in = inner[best_k] * (1 - best_t) + inner[k1] * best_t
    feather_out = outer[best_k] * (1 - best_t) + outer[k1] * best_t
    # inside or not near the curve: the side of the nearest segment, or at a sample (a corner) of both segments
    # meeting there (their normals' sum, the pseudo-normal); the filled polygon further away
    area = 0.5 * float(np.sum(xy[:, 0] * np.roll(xy[:, 1], -1) - np.roll(xy[:, 0], -1) * xy[:, 1]))
    side = _side(xy, k_c, pc)
    side = np.where(t_c <= 0, side + _side(xy, (k_c - 1) % n, pc), side)
    side = np.where(t_c >= 1, side + _side(xy, (k_c + 1) % n, pc), side)
    is_in = inside[ys, xs] > 0
    by_side = best_c < 1.5
    is_in[close[by_side]] = (side * area > 0)[by_side]
    signed = np.where(is_in, best, -best)
    lo, hi = -feather_out, feather_in
    narrow = hi - lo < 1.0  # at least one pixel of falloff: anti-aliasing
    middle = (hi + lo) / 2
    lo, hi = np.where(narrow, middle - 0.5, lo), np.where(narrow, middle + 0.5, hi)
    result[ys, xs] = np.clip((signed - lo) / (hi - lo), 0.0, 1.0)


def _side(xy: np.ndarray, k: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Which side of segment k (sample k to k + 1) points p lie on: the cross product over its length."""
    a, ab = xy[k], xy[(k + 1) % len(xy)] - xy[k]
    return (ab[:, 0] * (p - a)[:, 1] - ab[:, 1] * (p - a)[:, 0]) / np.maximum(np.hypot(*ab.T), 1e-12)


def keyframe_mattes(shapes: Sequence[Shape], size: tuple[int, int], scale: float = 1.0) -> dict[int, np.ndarray]:
    """Each object's soft matte of one keyframe (shapes of one object combine by their maximum).

    Arguments:
        shapes: the keyframe's shapes.
        size: (height, width) of the mattes, output pixels.
        scale: output pixels per shape pixel.
    Returns:
        Object id -> HxW float32 matte in [0, 1].
    """
    mattes: dict[int, np.ndarray] = {}
    for shape in shapes:
        matte = rasterise_shape(shape, size, scale)
        mattes[shape.object_id] = np.maximum(mattes[shape.object_id], matte) if shape.object_id in mattes else matte
    return mattes


def keyframe_ids(mattes: Mapping[int, np.ndarray], base: np.ndarray) -> np.ndarray:
    """The index mask of a keyframe's mattes: a pixel covered at least half by an object's matte takes that
    object (the one covering most where they overlap); elsewhere `base` stays.

    Arguments:
        mattes: object id -> HxW matte (`keyframe_mattes`).
        base: HxW uint8 ids to draw over (what the brush left on the frame).
    Returns:
        A new HxW uint8 index mask.
    """
    ids = np.array(base, dtype=np.uint8, copy=True)
    if not mattes:
        return ids
    order = sorted(mattes)
    stack = np.stack([mattes[o] for o in order])
    top = stack.argmax(0)
    covered = stack.max(0) >= 0.5
    ids[covered] = np.asarray(order, np.uint8)[top[covered]]
    return ids


# ---------------------------------------------------------------------------------------- file


def shapes_to_json(frames: Mapping[int, Sequence[Shape]]) -> dict[str, Any]:
    """Keyframe shapes as the JSON document of `shapes.json` (frames without shapes left out)."""
    return {
        "format": SHAPES_FORMAT,
        "version": SHAPES_VERSION,
        "frames": {str(f): [s.to_json() for s in frames[f]] for f in sorted(frames) if frames[f]},
    }


def _number(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where}: {what} must be a finite number, not {value!r}")
    return float(value)


def _pair(value: Any, what: str, where: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InputError(f"{where}: {what} must be a list of two numbers, not {value!r}")
    return _number(value[0], what, where), _number(value[1], what, where)


def _point(data: Any, where: str) -> ShapePoint:
    if not isinstance(data, dict) or "x" not in data or "y" not in data:
        raise InputError(f"{where}: a point is an object with x and y (and optionally in, out, feather)")
    unknown = set(data) - {"x", "y", "in", "out", "feather"}
    if unknown:
        raise InputError(f"{where}: unknown point field(s) {', '.join(sorted(unknown))}")
    in_x, in_y = _pair(data.get("in", [0, 0]), "in", where)
    out_x, out_y = _pair(data.get("out", [0, 0]), "out", where)
    inner, outer = _pair(data.get("feather", [0, 0]), "feather", where)
    if not (0 <= inner <= MAX_FEATHER and 0 <= outer <= MAX_FEATHER):
        raise InputError(
            f"{where}: feather [inner, outer] must be between 0 and {MAX_FEATHER:g} pixels, not {[inner, outer]}"
        )
    return ShapePoint(
        _number(data["x"], "x", where), _number(data["y"], "y", where), in_x, in_y, out_x, out_y, inner, outer
    )


def shapes_from_json(
    data: Any, num_objects: int | None = None, num_frames: int | None = None, source: str = SHAPES_FILE
) -> dict[int, list[Shape]]:
    """Keyframe shapes from the JSON document of `shapes.json`, checked.

    Arguments:
        data: the parsed document.
        num_objects: the workspace's object count (object ids must be 1..K), or None to not check.
        num_frames: the workspace's frame count (frames must be 0..N-1), or None to not check.
        source: what the document is called in error messages.
    Returns:
        Frame index -> its shapes. Raises `InputError` saying what is wrong and where.
    """
    if not isinstance(data, dict) or data.get("format") != SHAPES_FORMAT:
        raise InputError(f'{source} is not an xmempp shapes file (its "format" must be "{SHAPES_FORMAT}")')
    version = data.get("version")
    if version != SHAPES_VERSION:
        raise InputError(f"{source} has version {version!r}; this xmempp reads version {SHAPES_VERSION}: update xmempp")
    frames = data.get("frames")
    if not isinstance(frames, dict):
        raise InputError(f'{source}: "frames" must map frame numbers to lists of shapes')
    result: dict[int, list[Shape]] = {}
    for key, shapes in frames.items():
        if not str(key).isdigit():
            raise InputError(f"{source}: frame {key!r} is not a 0-based frame number")
        frame = int(key)
        if num_frames is not None and frame >= num_frames:
            raise InputError(f"{source}: frame {frame} is past the workspace's last frame ({num_frames - 1})")
        if not isinstance(shapes, list):
            raise InputError(f"{source}: frame {frame} must hold a list of shapes")
        for n, shape in enumerate(shapes, start=1):
            where = f"{source}, frame {frame}, shape {n}"
            if not isinstance(shape, dict) or not isinstance(shape.get("points"), list):
                raise InputError(f'{where}: a shape is an object with "object" and "points"')
            oid = shape.get("object")
            if (
                isinstance(oid, bool)
                or not isinstance(oid, int)
                or oid < 1
                or (num_objects is not None and oid > num_objects)
            ):
                limit = f"1..{num_objects}" if num_objects is not None else "1 or more"
                raise InputError(f"{where}: object must be a workspace object id ({limit}), not {oid!r}")
            points = tuple(_point(p, f"{where}, point {i}") for i, p in enumerate(shape["points"], start=1))
            if len(points) < 3:
                raise InputError(f"{where}: a closed shape needs at least 3 points, it has {len(points)}")
            result.setdefault(frame, []).append(Shape(oid, points))
    return result


def read_shapes(
    path: str | Path, num_objects: int | None = None, num_frames: int | None = None
) -> dict[int, list[Shape]]:
    """Read a `shapes.json` (no file: no shapes).

    Arguments:
        path: the file.
        num_objects, num_frames: the workspace's, to check ids and frames against (None: not checked).
    Returns:
        Frame index -> its shapes. Raises `InputError` for an unreadable or invalid file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); fix it or remove it to drop the shapes") from exc
    return shapes_from_json(data, num_objects, num_frames, str(path))


def write_shapes(path: str | Path, frames: Mapping[int, Sequence[Shape]]) -> None:
    """Write keyframe shapes to `path` atomically (no shapes left: the file is removed)."""
    path = Path(path)
    if not any(frames.values()):
        path.unlink(missing_ok=True)
        return
    atomic_write_text(path, json.dumps(shapes_to_json(frames), indent=1) + "\n")
