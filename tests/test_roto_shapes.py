"""Spline roto shapes: Bezier sampling, anti-aliased and feathered rasterisation, the shapes file."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest

from xmempp.errors import InputError
from xmempp.io.roto_shapes import (
    SHAPES_FORMAT,
    Shape,
    ShapePoint,
    keyframe_ids,
    keyframe_mattes,
    rasterise_shape,
    read_shapes,
    sample_shape,
    shapes_to_json,
    write_shapes,
)

K = 0.5523  # handle length of a quarter circle, as a fraction of its radius
SS = 8  # supersampling of the reference coverage


def circle(cx: float, cy: float, r: float, object_id: int = 1, inner: float = 0.0, outer: float = 0.0) -> Shape:
    k = K * r
    return Shape(
        object_id,
        (
            ShapePoint(cx + r, cy, 0, -k, 0, k, inner, outer),
            ShapePoint(cx, cy + r, k, 0, -k, 0, inner, outer),
            ShapePoint(cx - r, cy, 0, k, 0, -k, inner, outer),
            ShapePoint(cx, cy - r, -k, 0, k, 0, inner, outer),
        ),
    )


def coverage(inside, h: int, w: int) -> np.ndarray:
    """Fraction of each pixel inside, from SSxSS samples."""
    y, x = (np.mgrid[: h * SS, : w * SS] + 0.5) / SS
    return inside(x, y).reshape(h, SS, w, SS).mean((1, 3))


def test_samples_follow_the_curve_evenly():
    xy, inner, outer = sample_shape(circle(50, 50, 20))
    radius = np.hypot(xy[:, 0] - 50, xy[:, 1] - 50)
    assert np.abs(radius - 20).max() < 0.01  # a Bezier circle
    steps = np.hypot(*np.diff(np.vstack([xy, xy[:1]]), axis=0).T)
    assert steps.max() <= 0.5 + 1e-9 and steps.min() > 0.4  # no gaps, no bunching
    assert not inner.any() and not outer.any()


def test_hard_edge_is_anti_aliased_like_pixel_coverage():
    matte = rasterise_shape(circle(50.2, 49.7, 20), (100, 100))
    truth = coverage(lambda x, y: np.hypot(x - 50.2, y - 49.7) <= 20, 100, 100)
    assert np.abs(matte - truth).max() < 0.08 and np.abs(matte - truth).mean() < 0.001
    assert 0 < ((matte > 0) & (matte < 1)).sum() < 2 * np.pi * 20 * 2  # a one-pixel soft rim, no more


def test_corners_and_concave_outlines():
    square = Shape(1, (ShapePoint(10.3, 10.3), ShapePoint(60.7, 10.3), ShapePoint(60.7, 40.2), ShapePoint(10.3, 40.2)))
    truth = coverage(lambda x, y: (x >= 10.3) & (x <= 60.7) & (y >= 10.3) & (y <= 40.2), 60, 80)
    error = np.abs(rasterise_shape(square, (60, 80)) - truth)
    assert error.max() < 0.15 and error.mean() < 0.003
    arrow = Shape(2, (ShapePoint(10, 50), ShapePoint(40, 5), ShapePoint(70, 50), ShapePoint(40, 30)))
    big = np.zeros((60 * SS, 80 * SS), np.uint8)
    corners = np.array([[10, 50], [40, 5], [70, 50], [40, 30]], np.float64) * SS
    cv2.fillPoly(big, [np.round((corners - 0.5) * 16).astype(np.int32).reshape(-1, 1, 2)], 1, cv2.LINE_8, 4)
    error = np.abs(rasterise_shape(arrow, (60, 80)) - big.reshape(60, SS, 80, SS).mean((1, 3)))
    assert error.mean() < 0.004 and error.max() < 0.25  # slanted edges and the sharp tips differ a little


def test_feather_falls_off_from_outer_to_inner():
    matte = rasterise_shape(circle(50, 50, 20, inner=2.0, outer=6.0), (100, 100))
    y, x = np.mgrid[:100, :100] + 0.5
    expected = np.clip((20 - np.hypot(x - 50, y - 50) + 6) / 8, 0, 1)  # 0 at 6 px out, 1 at 2 px in
    assert np.abs(matte - expected).max() < 0.01


def test_feather_is_per_point_and_interpolated():
    shape = circle(50, 50, 20)
    points = list(shape.points)
    points[0] = dataclasses.replace(points[0], outer=10.0)  # right point only
    matte = rasterise_shape(Shape(1, tuple(points)), (100, 100))
    assert matte[50, 75] > 0.4  # 5 px out on the right: half the falloff
    assert matte[50, 25] == 0 and matte[75, 50] == 0  # left and bottom: a hard edge
    assert 0 < matte[67, 67] < matte[50, 75]  # between them: in between


def test_scale_and_frame_edges():
    small = rasterise_shape(circle(20, 20, 10, outer=2), (40, 40))
    large = rasterise_shape(circle(20, 20, 10, outer=2), (80, 80), scale=2.0)
    assert abs(large.sum() / 4 - small.sum()) < 0.01 * small.sum()
    clipped = rasterise_shape(circle(0, 0, 10), (30, 30))  # over the frame's corner
    assert clipped[0, 0] == 1 and clipped[29, 29] == 0
    assert not rasterise_shape(circle(-50, -50, 10), (30, 30)).any()  # off the frame


def test_keyframe_mattes_and_ids():
    shapes = [circle(20, 20, 8, 1), circle(30, 20, 8, 1), circle(60, 20, 8, 2, outer=4)]
    mattes = keyframe_mattes(shapes, (40, 80))
    assert sorted(mattes) == [1, 2] and mattes[1][20, 25] == 1  # one object's shapes combine
    base = np.zeros((40, 80), np.uint8)
    base[35:, :] = 3
    ids = keyframe_ids(mattes, base)
    assert ids[20, 20] == 1 and ids[20, 60] == 2 and ids[38, 5] == 3 and ids[0, 0] == 0
    assert np.array_equal(ids[20] == 2, mattes[2][20] >= 0.5)


def test_shapes_file_round_trip_and_removal(tmp_path):
    frames = {3: [circle(20, 20, 8, 1, 1.5, 4.0)], 0: [circle(5, 5, 3, 2)], 7: []}
    path = tmp_path / "shapes.json"
    write_shapes(path, frames)
    data = json.loads(path.read_text())
    assert data["format"] == SHAPES_FORMAT and sorted(data["frames"]) == ["0", "3"]
    assert read_shapes(path, num_objects=2, num_frames=8) == {0: frames[0], 3: frames[3]}
    assert shapes_to_json(read_shapes(path)) == data
    write_shapes(path, {})
    assert not path.exists() and read_shapes(path) == {}


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(format="other"), "not an xmempp shapes file"),
        (lambda d: d.update(version=9), "version 9"),
        (lambda d: d["frames"].update({"x": []}), "not a 0-based frame number"),
        (lambda d: d["frames"].update({"20": d["frames"]["3"]}), "past the workspace's last frame"),
        (lambda d: d["frames"]["3"][0].update(object=5), "workspace object id (1..2)"),
        (lambda d: d["frames"]["3"][0]["points"].pop() and d["frames"]["3"][0]["points"].pop(), "at least 3 points"),
        (lambda d: d["frames"]["3"][0]["points"][1].update(feather=[-1, 2]), "feather"),
        (lambda d: d["frames"]["3"][0]["points"][1].update(x="a"), "x must be a finite number"),
        (lambda d: d["frames"]["3"][0]["points"][1].update(handle=1), "unknown point field(s) handle"),
    ],
)
def test_invalid_shapes_files_are_refused_with_the_place(tmp_path, edit, message):
    data = shapes_to_json({3: [circle(20, 20, 8, 1)]})
    edit(data)
    path = tmp_path / "shapes.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="shapes.json") as error:
        read_shapes(path, num_objects=2, num_frames=10)
    assert message in str(error.value)


def test_broken_json_says_how_to_recover(tmp_path):
    path = tmp_path / "shapes.json"
    path.write_text("{")
    with pytest.raises(InputError, match="remove it"):
        read_shapes(path)
