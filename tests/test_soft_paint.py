"""Soft brush layers (xmempp.io.soft_paint): the brush's falloff, painting and erasing over mattes, the
index mask a layer stands for, a layer put back in line with a mask another tool changed, the files."""

from __future__ import annotations

import numpy as np
import pytest

from xmempp.errors import InputError
from xmempp.io.soft_paint import (
    composite_stroke,
    effective_mattes,
    ids_from_mattes,
    layer_path,
    quantise,
    read_layer,
    soft_paint_frames,
    stroke_coverage,
    write_layer,
)


def test_a_soft_dab_falls_off_from_its_hard_core_to_its_rim():
    coverage = np.zeros((40, 40), np.float32)
    rect = stroke_coverage(coverage, (20.0, 20.0), (20.0, 20.0), size=20, softness=0.5)
    assert rect == (9, 9, 31, 31)
    row = coverage[19]  # pixel centres at x + 0.5, y = 19.5: distance ~ |x + 0.5 - 20|
    assert row[19] == 1.0 and row[15] == 1.0  # inside the hard core (radius 5)
    assert row[12] == pytest.approx((10 - np.hypot(7.5, 0.5)) / 5, abs=1e-6)  # linear over the outer 5 px
    assert row[9] == 0.0 and coverage[0, 0] == 0.0  # beyond the rim
    hard = np.zeros((40, 40), np.float32)
    stroke_coverage(hard, (20.0, 20.0), (20.0, 20.0), size=20, softness=0.0)
    soft_pixels = (hard > 0) & (hard < 1)
    assert soft_pixels.any() and np.hypot(*(np.argwhere(soft_pixels) + 0.5 - 20).T).min() > 8.9  # a 1 px edge


def test_painting_and_erasing_composite_over_the_other_objects():
    base = {1: np.ones((4, 4), np.float32), 2: np.zeros((4, 4), np.float32)}
    base[2][0, 0] = 1.0
    base[1][0, 0] = 0.0
    c = np.full((4, 4), 0.5, np.float32)
    painted = composite_stroke(base, c, 2)
    assert painted[2][1, 1] == pytest.approx(0.5, abs=1e-4) and painted[1][1, 1] == pytest.approx(0.5, abs=1e-4)
    assert painted[2][0, 0] == 1.0
    assert base[1][1, 1] == 1.0  # the layer given is left as it was
    erased = composite_stroke(base, c, 0)
    assert erased[1][1, 1] == pytest.approx(0.5, abs=1e-4) and erased[2][0, 0] == pytest.approx(0.5, abs=1e-4)
    locked = composite_stroke(base, np.ones((4, 4), np.float32), 2, locked=[1])
    assert locked[1][1, 1] == 1.0 and locked[2][1, 1] == 0.0 and locked[2][0, 0] == 1.0  # 1 keeps its pixels
    new = composite_stroke({}, np.ones((4, 4), np.float32), 3, rect=(1, 1, 3, 3))
    assert new[3].sum() == 4 and new[3][1:3, 1:3].all()


def test_the_mask_is_the_largest_matte_at_half_or_more():
    layer = {1: np.array([[0.6, 0.4, 0.5]], np.float32), 2: np.array([[0.3, 0.45, 0.0]], np.float32)}
    assert ids_from_mattes(layer, (1, 3)).tolist() == [[1, 0, 1]]
    assert ids_from_mattes({}, (2, 2)).tolist() == [[0, 0], [0, 0]]


def test_a_layer_follows_the_mask_where_another_tool_changed_it():
    layer = {1: np.array([[1.0, 0.7, 0.3, 0.0]], np.float32)}
    ids = np.array([[1, 0, 0, 2]], np.uint8)  # pixel 1 erased by a fill; object 2 painted hard at pixel 3
    merged = effective_mattes(layer, ids)
    assert merged[1].tolist() == [[1.0, 0.0, pytest.approx(0.3), 0.0]]  # the soft fringe at 2 stays
    assert merged[2].tolist() == [[0.0, 0.0, 0.0, 1.0]]
    assert ids_from_mattes(merged, ids.shape).tolist() == ids.tolist()


def test_a_layer_round_trips_exactly_and_a_damaged_file_is_named(tmp_path):
    rng = np.random.default_rng(0)
    layer = {1: quantise(rng.random((6, 8))), 12: quantise(rng.random((6, 8)))}
    path = layer_path(tmp_path, 3)
    write_layer(path, layer)
    assert path.name == "000003.npz" and soft_paint_frames(tmp_path) == [3]
    back = read_layer(path, (6, 8))
    assert back.keys() == layer.keys() and all(np.array_equal(back[k], layer[k]) for k in layer)
    with pytest.raises(InputError, match="needs uint16"):
        read_layer(path, (6, 9))
    path.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="remove it"):
        read_layer(path, (6, 8))
    write_layer(path, {1: np.zeros((6, 8), np.float32)})  # nothing left: the file goes
    assert not path.exists() and read_layer(path, (6, 8)) == {}
