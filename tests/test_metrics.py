"""DAVIS J / F / J&F."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from davis_oracle import oracle_boundary, oracle_jf, oracle_sequence, perturbed_prediction
from iohelpers import shared_data, square_mask, write_palette_png
from xmempp.errors import InputError
from xmempp.evaluation.metrics import (
    boundary_f_measure,
    boundary_map,
    disk,
    evaluate_folders,
    evaluate_masks,
    excluded_frames,
    region_similarity,
)
from xmempp.io.masks import davis_palette, read_mask


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
    a = square_mask(10, 10, {1: (0, 0, 4, 5)})  # 20 px
    b = square_mask(10, 10, {1: (0, 0, 2, 5)})  # 10 px inside a
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
    gt = {
        "a": square_mask(20, 20, {1: (0, 0, 10, 10)}),
        "b": square_mask(20, 20, {1: (0, 0, 10, 10), 2: (12, 12, 18, 18)}),
    }
    pred = {"a": gt["a"].copy(), "b": square_mask(20, 20, {1: (0, 0, 10, 10), 9: (12, 12, 18, 18)})}
    result = evaluate_masks(pred, gt, include_ends=True)
    scores = {o.object_id: o for o in result.objects}
    assert scores[1].J == 1.0 and scores[1].F == 1.0
    # object 2: absent from both masks of frame a (J = F = 1), missed on frame b (0)
    assert pytest.approx(0.5) == scores[2].J and pytest.approx(0.5) == scores[2].F
    assert pytest.approx(0.75) == result.J and pytest.approx((result.J + result.F) / 2) == result.JF
    assert result.extra_ids == [9] and result.frames == 2
    assert result.to_dict()["J&F"] == result.JF


def test_chair_ground_truth_against_itself_and_an_eroded_copy(tmp_path):
    gt_dir = shared_data("chair", "Annotations")
    perfect = evaluate_folders(gt_dir, gt_dir)
    assert perfect.frames == 58 and [o.object_id for o in perfect.objects] == [1]
    assert perfect.excluded == {"frame_000000": "first", "frame_000059": "last"}
    assert evaluate_folders(gt_dir, gt_dir, include_ends=True).frames == 60
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
    with pytest.raises(InputError, match=r"no ground-truth frame left to score.*f_1 \(first\), f_2 \(last\)"):
        evaluate_folders(pred, gt)
    with pytest.raises(InputError, match="no prediction for ground-truth frame f_2"):
        evaluate_folders(pred, gt, include_ends=True)
    write_palette_png(pred / "f_2.png", square_mask(12, 10, {1: (0, 0, 5, 5)}), davis_palette())
    with pytest.raises(InputError, match=r"f_2\.png is 10x12 but ground truth"):
        evaluate_folders(pred, gt, include_ends=True)
    with pytest.raises(InputError, match="not found"):
        evaluate_folders(tmp_path / "nope", gt)


def test_output_folder_with_masks_subfolder_is_accepted(tmp_path):
    gt = tmp_path / "gt"
    (tmp_path / "out" / "masks").mkdir(parents=True)
    gt.mkdir()
    ids = square_mask(10, 10, {1: (0, 0, 5, 5)})
    write_palette_png(gt / "f.png", ids, davis_palette())
    write_palette_png(tmp_path / "out" / "masks" / "f.png", ids, davis_palette())
    assert evaluate_folders(tmp_path / "out", gt, include_ends=True).JF == 1.0


def test_output_folder_is_accepted_as_ground_truth_too(tmp_path):
    import json

    from typer.testing import CliRunner

    from xmempp.cli.app import create_app

    for name, right in (("reference", 20), ("candidate", 16)):  # two xmempp output folders of one shot
        (tmp_path / name / "masks").mkdir(parents=True)
        (tmp_path / name / "alpha" / "1").mkdir(parents=True)
        for index in range(4):
            ids = square_mask(20, 30, {1: (5, 5, 15, right)})
            write_palette_png(tmp_path / name / "masks" / f"{index:06d}.png", ids, davis_palette())
            write_palette_png(tmp_path / name / "alpha" / "1" / f"{index:06d}.png", ids * 255, davis_palette())
    result = evaluate_folders(tmp_path / "candidate", tmp_path / "reference")
    assert result.stems == ["000001", "000002"]
    assert pytest.approx(11 / 15) == result.J  # columns 5..15 of 5..20
    cli = CliRunner().invoke(create_app(), ["eval", str(tmp_path / "candidate"), str(tmp_path / "reference"), "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.stdout)["J"] == pytest.approx(11 / 15)


def test_video_outputs_pair_with_ground_truth_by_frame_number(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir(), pred.mkdir()
    mask = np.zeros((20, 30), np.uint8)
    mask[5:15, 5:20] = 1
    for index in range(3):
        write_palette_png(gt / f"frame_{index:06d}.png", mask, davis_palette())
        write_palette_png(pred / f"{index:06d}.png", mask, davis_palette())
    result = evaluate_folders(pred, gt)
    assert result.stems == ["frame_000001"] and result.JF == 1.0


def test_excluded_frames_follow_the_davis_protocol():
    stems = ["shot_10", "shot_2", "shot_1", "shot_30", "other_7"]
    # natural order: other_7, shot_1, shot_2, shot_10, shot_30
    assert excluded_frames(stems) == {"other_7": "first", "shot_30": "last"}
    assert excluded_frames(stems, include_ends=True) == {}
    # an annotated name matches its stem, else every stem ending in its number; unknown names are ignored
    assert excluded_frames(stems, ["shot_2", "10", "frame_000007", "nope", "99"], include_ends=True) == {
        "other_7": "annotated",
        "shot_2": "annotated",
        "shot_10": "annotated",
    }
    assert excluded_frames(stems, ["shot_30", "1"]) == {"other_7": "first", "shot_1": "annotated", "shot_30": "last"}
    assert excluded_frames(["only"]) == {"only": "first"}


def test_annotated_frames_are_not_scored_and_need_no_prediction(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir(), pred.mkdir()
    box = square_mask(20, 30, {1: (5, 5, 15, 20)})
    for index in range(6):
        write_palette_png(gt / f"f_{index}.png", box, davis_palette())
    # object 2 appears only on the annotated frame f_2: it is still an object, scored J = F = 1 where absent
    write_palette_png(gt / "f_2.png", square_mask(20, 30, {1: (5, 5, 15, 20), 2: (0, 25, 4, 29)}), davis_palette())
    for index in (1, 3, 4):
        write_palette_png(pred / f"f_{index}.png", box if index != 4 else np.zeros_like(box), davis_palette())
    result = evaluate_folders(pred, gt, annotated=["f_2"])
    assert result.stems == ["f_1", "f_3", "f_4"]
    assert result.excluded == {"f_0": "first", "f_2": "annotated", "f_5": "last"}
    scores = {o.object_id: o for o in result.objects}
    assert pytest.approx(2 / 3) == scores[1].J and pytest.approx(2 / 3) == scores[1].F
    assert scores[2].J == 1.0 and scores[2].F == 1.0
    with pytest.raises(InputError, match="no prediction for ground-truth frame f_2"):
        evaluate_folders(pred, gt)
    with pytest.raises(InputError, match="no prediction for ground-truth frame f_0"):
        evaluate_folders(pred, gt, annotated=["f_2"], include_ends=True)


def random_blobs(rng: np.random.Generator, h: int, w: int, n_objects: int) -> np.ndarray:
    """An id mask of overlapping random ellipses (later ids on top)."""
    ids = np.zeros((h, w), np.uint8)
    for oid in range(1, n_objects + 1):
        for _ in range(rng.integers(0, 3)):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(1, w // 3 + 2)), int(rng.integers(1, h // 3 + 2)))
            cv2.ellipse(ids, centre, axes, float(rng.uniform(0, 180)), 0, 360, oid, -1)
    return ids


def test_per_frame_scores_match_the_independent_oracle():
    rng = np.random.default_rng(7)
    for trial in range(40):
        h, w = int(rng.integers(2, 90)), int(rng.integers(2, 120))
        a, b = random_blobs(rng, h, w, 1) != 0, random_blobs(rng, h, w, 1) != 0
        if trial % 4 == 0:
            b = np.roll(a, int(rng.integers(-4, 5)), axis=int(rng.integers(0, 2)))
        assert np.array_equal(boundary_map(a), oracle_boundary(a))
        j, f = oracle_jf(a, b)
        assert region_similarity(a, b) == pytest.approx(j, abs=1e-12)
        assert boundary_f_measure(a, b) == pytest.approx(f, abs=1e-12)


def test_multi_object_sequence_matches_the_independent_oracle(tmp_path):
    rng = np.random.default_rng(3)
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir(), pred.mkdir()
    for index in range(12):
        ids = random_blobs(rng, 64, 96, 3)
        if index == 0:
            ids[:4, :4], ids[-4:, -4:], ids[:4, -4:] = 1, 2, 3  # every object on the first frame, as DAVIS needs
        write_palette_png(gt / f"{index:05d}.png", ids, davis_palette())
        write_palette_png(
            pred / f"{index:05d}.png",
            perturbed_prediction(ids, index) if index % 3 else random_blobs(rng, 64, 96, 3),
            davis_palette(),
        )
    expected = oracle_sequence(pred, gt)
    result = evaluate_folders(pred, gt)
    assert result.frames == 10 and sorted(expected) == [o.object_id for o in result.objects]
    for obj in result.objects:
        assert pytest.approx(expected[obj.object_id][0], abs=1e-9) == obj.J
        assert pytest.approx(expected[obj.object_id][1], abs=1e-9) == obj.F


def test_chair_with_a_perturbed_prediction_matches_the_davis_2017_protocol(tmp_path):
    """xmempp eval against the independent DAVIS 2017 oracle on the chair clip: per object, within 1e-3."""
    gt_dir = shared_data("chair", "Annotations")
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    for index, path in enumerate(sorted(gt_dir.glob("*.png"))):
        write_palette_png(pred_dir / path.name, perturbed_prediction(read_mask(path).ids, index), davis_palette())
    expected = oracle_sequence(pred_dir, gt_dir)
    result = evaluate_folders(pred_dir, gt_dir)
    assert result.frames == 58 and [o.object_id for o in result.objects] == sorted(expected)
    for obj in result.objects:
        j, f = expected[obj.object_id]
        assert abs(obj.J - j) < 1e-3 and abs(obj.F - f) < 1e-3
        assert 0.2 < obj.J < 0.95 and 0.1 < obj.F < 0.95  # the perturbation is neither trivial nor total
