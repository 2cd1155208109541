"""DAVIS J / F / J&F."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from iohelpers import shared_data, square_mask, write_palette_png
from xmempp.errors import InputError
from xmempp.io.masks import davis_palette, read_mask
from xmempp.evaluation.metrics import (
    boundary_f_measure, boundary_map, disk, evaluate_folders, evaluate_masks, region_similarity,
)


def test_boundary_map_of_a_square():
    seg = square_mask(8, 8, {1: (2, 2, 5, 5)})
    b = boundary_map(seg)
    # the DAVIS map compares each pixel with its east, south and south-east neighbours: it marks the
    # object's bottom/right edge pixels and the background pixels just above/left of the object
    assert b[4, 4] and b[4, 2] and b[2, 4] and b[1, 1] and b[2, 1] and b[1, 3]
    assert not b[2, 2] and not b[3, 3] and not b[6, 6]
    assert int(b.sum()) == 12
    assert not boundary_map(np.zeros((5, 5))).any()
    assert not boundary_map(np.ones((5, 5))).any()


def test_disk_shape():
    d = disk(2)
    assert d.shape == (5, 5) and d[2].tolist() == [1, 1, 1, 1, 1] and d[0].tolist() == [0, 0, 1, 0, 0]
    assert disk(0).tolist() == [[1]]


def test_region_similarity():
    a = square_mask(10, 10, {1: (0, 0, 4, 5)})   # 20 px
    b = square_mask(10, 10, {1: (0, 0, 2, 5)})   # 10 px inside a
    assert region_similarity(a, b) == pytest.approx(0.5)
    assert region_similarity(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0
    assert region_similarity(a, np.zeros_like(a)) == 0.0


def test_boundary_f_measure_tolerance():
    h, w = 200, 300
    radius = math.ceil(0.008 * math.hypot(h, w))  # 3 px
    gt = square_mask(h, w, {1: (50, 50, 150, 200)})
    near = square_mask(h, w, {1: (50 + radius - 1, 50, 150 + radius - 1, 200)})
    far = square_mask(h, w, {1: (70, 70, 170, 220)})
    assert boundary_f_measure(gt, gt) == 1.0
    assert boundary_f_measure(near, gt) == pytest.approx(1.0)
    assert 0.0 < boundary_f_measure(far, gt) < 0.5
    assert boundary_f_measure(np.zeros_like(gt), np.zeros_like(gt)) == 1.0
    assert boundary_f_measure(np.zeros_like(gt), gt) == 0.0
    assert boundary_f_measure(gt, np.zeros_like(gt)) == 0.0


def test_evaluate_masks_per_object_and_absent_objects():
    gt = {"a": square_mask(20, 20, {1: (0, 0, 10, 10)}),
          "b": square_mask(20, 20, {1: (0, 0, 10, 10), 2: (12, 12, 18, 18)})}
    pred = {"a": gt["a"].copy(), "b": square_mask(20, 20, {1: (0, 0, 10, 10), 9: (12, 12, 18, 18)})}
    result = evaluate_masks(pred, gt)
    scores = {o.object_id: o for o in result.objects}
    assert scores[1].J == 1.0 and scores[1].F == 1.0
    # object 2: absent from both masks of frame a (J = F = 1), missed on frame b (0)
    assert scores[2].J == pytest.approx(0.5) and scores[2].F == pytest.approx(0.5)
    assert result.J == pytest.approx(0.75) and result.JF == pytest.approx((result.J + result.F) / 2)
    assert result.extra_ids == [9] and result.frames == 2
    assert result.to_dict()["J&F"] == result.JF


def test_chair_ground_truth_against_itself_and_an_eroded_copy(tmp_path):
    gt_dir = shared_data("chair", "Annotations")
    perfect = evaluate_folders(gt_dir, gt_dir)
    assert perfect.frames == 60 and [o.object_id for o in perfect.objects] == [1]
    assert perfect.J == 1.0 and perfect.F == 1.0 and perfect.JF == 1.0
    scores = []
    for size in (3, 9):
        eroded_dir = tmp_path / f"eroded{size}"
        eroded_dir.mkdir()
        for path in sorted(gt_dir.glob("*.png")):
            ids = read_mask(path).ids
            eroded = cv2.erode(ids, np.ones((size, size), np.uint8))
            write_palette_png(eroded_dir / path.name, eroded, davis_palette())
        scores.append(evaluate_folders(eroded_dir, gt_dir))
    slightly, strongly = scores
    assert 0.0 < strongly.JF < slightly.JF < 1.0
    assert slightly.J < 1.0 and slightly.F < 1.0


def test_evaluate_folders_errors(tmp_path):
    gt = tmp_path / "gt"
    pred = tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    with pytest.raises(InputError, match="holds no masks"):
        evaluate_folders(pred, gt)
    write_palette_png(gt / "f_1.png", square_mask(10, 10, {1: (0, 0, 5, 5)}), davis_palette())
    write_palette_png(gt / "f_2.png", square_mask(10, 10, {1: (0, 0, 5, 5)}), davis_palette())
    write_palette_png(pred / "f_1.png", square_mask(10, 10, {1: (0, 0, 5, 5)}), davis_palette())
    with pytest.raises(InputError, match="no prediction for ground-truth frame f_2"):
        evaluate_folders(pred, gt)
    write_palette_png(pred / "f_2.png", square_mask(12, 10, {1: (0, 0, 5, 5)}), davis_palette())
    with pytest.raises(InputError, match=r"f_2\.png is 10x12 but ground truth"):
        evaluate_folders(pred, gt)
    with pytest.raises(InputError, match="not found"):
        evaluate_folders(tmp_path / "nope", gt)


def test_output_folder_with_masks_subfolder_is_accepted(tmp_path):
    gt = tmp_path / "gt"
    (tmp_path / "out" / "masks").mkdir(parents=True)
    gt.mkdir()
    ids = square_mask(10, 10, {1: (0, 0, 5, 5)})
    write_palette_png(gt / "f.png", ids, davis_palette())
    write_palette_png(tmp_path / "out" / "masks" / "f.png", ids, davis_palette())
    assert evaluate_folders(tmp_path / "out", gt).JF == 1.0


def test_video_outputs_pair_with_ground_truth_by_frame_number(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir(), pred.mkdir()
    mask = np.zeros((20, 30), np.uint8)
    mask[5:15, 5:20] = 1
    for index in range(3):
        write_palette_png(gt / f"frame_{index:06d}.png", mask, davis_palette())
        write_palette_png(pred / f"{index:06d}.png", mask, davis_palette())
    result = evaluate_folders(pred, gt)
    assert len(result.stems) == 3 and result.JF == 1.0
