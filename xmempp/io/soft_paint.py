"""Soft brush painting: a keyframe's per-object soft mattes, how a soft stroke changes them, their files.

A frame painted with a soft brush keeps a *soft layer*: object id -> HxW matte in [0, 1] (quantised to
1/65535, as it is saved). The frame's index mask is always what the layer says: a pixel belongs to the
object with the largest matte when that matte is at least 0.5, else to the background. A stroke is a
coverage map `c` (1 under the brush's hard core, falling off linearly to 0 at its rim, `stroke_coverage`)
composited as paint over the mattes: the painted object's matte becomes `m + c (1 - m)` and every other
object's `m (1 - c)` (erasing: every object's `m (1 - c)`); locked objects keep theirs. Other tools
change only the index mask: `effective_mattes` puts a layer back in line with it (a pixel whose object a
fill or an undo changed takes its new object, hard), so the layer never contradicts the mask.

A workspace keeps the layers in `soft_paint/<frame>.npz` (`SOFT_PAINT_DIR`, frame 0-based, six digits),
one uint16 array `o<id>` per object (0..65535 = 0..1). On a reference frame the layer's mattes are the
keyframe's soft output, like a spline keyframe's (`xmempp.io.roto_shapes`); the network is given the
index mask.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from xmempp.errors import InputError, OutputError
from xmempp.io.atomic import atomic_write_bytes
from xmempp.io.roto_shapes import keyframe_ids

__all__ = [
    "SOFT_PAINT_DIR",
    "composite_stroke",
    "effective_mattes",
    "ids_from_mattes",
    "layer_path",
    "quantise",
    "read_layer",
    "soft_paint_frames",
    "stroke_coverage",
    "write_layer",
]

SOFT_PAINT_DIR = "soft_paint"
_SCALE = 65535
_KEY = re.compile(r"o(\d{1,3})")
_NAME = re.compile(r"(\d{6})\.npz")

Layer = dict[int, np.ndarray]


def quantise(matte: np.ndarray) -> np.ndarray:
    """A matte as float32 rounded to the 1/65535 steps it is saved with (so a reopened layer is the same)."""
    return (np.round(np.clip(matte, 0.0, 1.0) * _SCALE) / _SCALE).astype(np.float32)


def stroke_coverage(
    coverage: np.ndarray, a: tuple[float, float], b: tuple[float, float], size: float, softness: float
) -> tuple[int, int, int, int] | None:
    """Add one brush segment from image point `a` to `b` to a stroke's coverage (the largest value wins).

    Arguments:
        coverage: HxW float32 coverage of the stroke so far, changed in place.
        a, b: the segment's ends (x, y), image pixels (pixel (i, j) is centred at (i + 0.5, j + 0.5)).
        size: brush diameter, pixels.
        softness: 0 (hard) .. 1: the share of the radius over which the brush falls off to its rim
            (at least one pixel: an anti-aliased edge).
    Returns:
        The rectangle (x0, y0, x1, y1) it touched, or None when it lies outside the frame.
    """
    h, w = coverage.shape
    radius = max(0.5, size / 2.0)
    ramp = max(1.0, radius * float(np.clip(softness, 0.0, 1.0)))
    x0 = max(0, int(np.floor(min(a[0], b[0]) - radius)) - 1)
    y0 = max(0, int(np.floor(min(a[1], b[1]) - radius)) - 1)
    x1 = min(w, int(np.ceil(max(a[0], b[0]) + radius)) + 1)
    y1 = min(h, int(np.ceil(max(a[1], b[1]) + radius)) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = dx * dx + dy * dy
    t = np.clip(((xx - ax) * dx + (yy - ay) * dy) / length2, 0.0, 1.0) if length2 > 0 else 0.0
    distance = np.hypot(xx - ax - t * dx, yy - ay - t * dy)
    value = np.clip((radius - distance) / ramp, 0.0, 1.0).astype(np.float32)
    np.maximum(coverage[y0:y1, x0:x1], value, out=coverage[y0:y1, x0:x1])
    return x0, y0, x1, y1


def effective_mattes(layer: Mapping[int, np.ndarray], ids: np.ndarray) -> Layer:
    """A soft layer put in line with the frame's index mask: where a matte and the mask disagree about an
    object (the mask was changed by another tool, an undo, a propagation), the mask's hard value wins.

    Arguments:
        layer: object id -> HxW matte (may be empty: the mask's objects, hard).
        ids: HxW uint8 index mask of the frame.
    Returns:
        Object id -> HxW float32 matte, for every object of the layer or the mask that is not empty.
    """
    present = {int(v) for v in np.unique(ids) if v} | set(layer)
    result: Layer = {}
    for oid in sorted(present):
        hard = ids == oid
        matte = layer.get(oid)
        if matte is None:
            merged = hard.astype(np.float32)
        else:
            merged = np.where(hard == (matte >= 0.5), matte, hard).astype(np.float32)
        if merged.any():
            result[oid] = merged
    return result


def composite_stroke(
    layer: Mapping[int, np.ndarray],
    coverage: np.ndarray,
    object_id: int,
    locked: Iterable[int] = (),
    rect: tuple[int, int, int, int] | None = None,
) -> Layer:
    """Paint (object_id >= 1) or erase (object_id 0) a stroke's coverage over a layer.

    Arguments:
        layer: object id -> HxW matte before the stroke (`effective_mattes`).
        coverage: HxW stroke coverage (`stroke_coverage`).
        object_id: the object painted, or 0 to erase every object.
        locked: object ids whose mattes stay as they are (the painted object never covers them).
        rect: (x0, y0, x1, y1) outside which the coverage is 0 (None: the whole frame).
    Returns:
        A new layer (quantised); the other objects' arrays are copies.
    """
    h, w = coverage.shape
    x0, y0, x1, y1 = rect if rect is not None else (0, 0, w, h)
    c = coverage[y0:y1, x0:x1]
    locked = set(locked)
    result: Layer = {oid: m.copy() for oid, m in layer.items()}
    if object_id and object_id not in result:
        result[object_id] = np.zeros((h, w), np.float32)
    for oid, matte in result.items():
        if oid in locked:
            continue
        part = matte[y0:y1, x0:x1]
        part[...] = part + c * (1 - part) if oid == object_id else part * (1 - c)
    if object_id and locked & result.keys():
        held = sum(result[oid][y0:y1, x0:x1] for oid in locked & result.keys())
        part = result[object_id][y0:y1, x0:x1]
        np.minimum(part, np.clip(1 - held, 0.0, 1.0), out=part)
    for oid in result:
        result[oid][y0:y1, x0:x1] = quantise(result[oid][y0:y1, x0:x1])
    return {oid: m for oid, m in result.items() if m.any()}


def ids_from_mattes(layer: Mapping[int, np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """The index mask a layer stands for: the object with the largest matte where it is at least 0.5.

    Arguments:
        layer: object id -> HxW matte.
        shape: (height, width) of the mask.
    Returns:
        HxW uint8 ids (0 = background).
    """
    return keyframe_ids(layer, np.zeros(shape, np.uint8))


# ---------------------------------------------------------------------------------------- files


def layer_path(workspace: str | Path, frame: int) -> Path:
    """The file of frame `frame`'s soft layer in a workspace."""
    return Path(workspace) / SOFT_PAINT_DIR / f"{int(frame):06d}.npz"


def soft_paint_frames(workspace: str | Path) -> list[int]:
    """Frames of a workspace that have a soft layer file, ascending."""
    folder = Path(workspace) / SOFT_PAINT_DIR
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _NAME.fullmatch(p.name)))


def read_layer(path: str | Path, shape: tuple[int, int]) -> Layer:
    """Read a soft layer file (no file: an empty layer).

    Arguments:
        path: the `.npz` file.
        shape: (height, width) its mattes must have (the workspace's frames).
    Returns:
        Object id -> HxW float32 matte. Raises `InputError` saying what is wrong for a damaged file.
    """
    path = Path(path)
    remedy = "remove it to drop the frame's soft edges (its mask stays)"
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"cannot read the soft paint layer {path} ({exc}); {remedy}") from exc
    layer: Layer = {}
    for name, array in arrays.items():
        match = _KEY.fullmatch(name)
        if match is None or not 1 <= int(match.group(1)) <= 255:
            raise InputError(f"{path}: {name!r} is no object matte (o1 .. o255); {remedy}")
        if array.dtype != np.uint16 or array.shape != tuple(shape):
            raise InputError(
                f"{path}: matte {name} is {array.dtype} {array.shape}, the workspace needs uint16 {tuple(shape)}; "
                f"{remedy}"
            )
        layer[int(match.group(1))] = (array.astype(np.float32) / _SCALE).astype(np.float32)
    return layer


def write_layer(path: str | Path, layer: Mapping[int, np.ndarray]) -> None:
    """Write a soft layer atomically (an empty layer removes the file)."""
    path = Path(path)
    kept = {f"o{oid}": np.round(np.clip(m, 0.0, 1.0) * _SCALE).astype(np.uint16) for oid, m in layer.items() if m.any()}
    try:
        if not kept:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write the soft paint layer {path}: {exc.strerror or exc}") from exc
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **kept)
    atomic_write_bytes(path, buffer.getvalue())
