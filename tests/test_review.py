"""The review (`xmempp.review`): each signal on a failure of its own kind, the combination over whole
sequences with every kind injected (the frames that are right, an occlusion and fast camera moves
included), the reports, `xmempp qc` and `xmempp process --qc`."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli.app import app
from iohelpers import shared_data
from xmempp.evaluation.review_cases import FAILURE_KINDS, ReviewScore, inject_failures, make_scene, score_review
from xmempp.review import ReviewSettings, review_sequence
from xmempp.review.appearance import Appearance
from xmempp.review.motion import MotionEstimator
from xmempp.review.report import flagged_spans, review_to_dict
from xmempp.review.signals import Window, edge_offset, edge_strength, edge_support
from xmempp.review.store import FrameStore
from xmempp.review.verdict import EDGE_SUPPORT

runner = CliRunner()

#: What the reasons of a flagged frame say for each failure kind (one of the words).
REASON_WORDS = {
    "drop": ("missing",),
    "cut": ("missing", "area", "changed"),
    "shift": ("shifted", "area", "changed", "missing", "boundary"),
    "swap": ("looks like",),
    "leak": ("extra", "area", "patch", "changed"),
    "holes": ("holes",),
    "drift": ("sliding", "shifted", "boundary"),
    "spurious": ("patch", "extra"),
}


@pytest.fixture(scope="module")
def scenes():
    """Three shots: one object, two crossing objects, three objects; fast camera bursts in each."""
    return [make_scene(seed, objects=objects, frames=32) for seed, objects in ((10, 1), (11, 2), (12, 3))]


def _flags(reviews):
    return [r.flagged for r in reviews]


@pytest.mark.slow
def test_correct_masks_are_rarely_flagged_through_occlusions_and_fast_camera_moves():
    """Six shots of 1-3 objects crossing one another under bursts of fast camera motion: at most 5 % of
    the frames flagged in all (measured: 8 of 186, 7 of them in the three-object shot)."""
    flagged, frames = 0, 0
    for seed, objects in ((10, 1), (11, 2), (12, 3), (13, 2), (14, 3), (15, 1)):
        scene = make_scene(seed, objects=objects, frames=32)
        reviews = review_sequence(scene.frames, scene.masks, keyframes={0: scene.masks[0]})
        flagged += sum(_flags(reviews))
        frames += len(reviews) - 1
    assert flagged / frames <= 0.05, flagged


@pytest.mark.parametrize("kind", FAILURE_KINDS)
@pytest.mark.slow
def test_each_failure_kind_is_flagged_with_a_reason_that_names_it(scenes, kind):
    score, reasons = ReviewScore(), []
    for number, scene in enumerate(scenes):
        injected = inject_failures(scene.masks, seed=20 + number, kinds=[kind])
        reviews = review_sequence(scene.frames, injected.masks, keyframes={0: scene.masks[0]})
        score.add(score_review(_flags(reviews), injected.failures))
        reasons += [
            reason
            for t in injected.failures
            for o in injected.failures[t]
            if o in reviews[t].objects
            for reason in reviews[t].objects[o].reasons
        ]
    assert score.failed.get(kind, 0) > 0, "the injector made no failure of this kind"
    assert score.found[kind] / score.failed[kind] >= 0.5, (score.found, score.failed)
    assert any(word in reason for reason in reasons for word in REASON_WORDS[kind]), reasons
    assert score.false_positive_rate <= 0.1


@pytest.mark.slow
def test_every_kind_together_most_failures_flagged_few_right_frames(scenes):
    total = ReviewScore()
    for number, scene in enumerate(scenes):
        injected = inject_failures(scene.masks, seed=40 + number)
        reviews = review_sequence(scene.frames, injected.masks, keyframes={0: scene.masks[0]})
        total.add(score_review(_flags(reviews), injected.failures))
    assert total.recall >= 0.75, (total.found, total.failed)
    assert total.false_positive_rate <= 0.08, total.false_flags


def test_a_swap_says_which_object_the_mask_looks_like():
    scene = make_scene(3, objects=2, frames=20, fast_camera=False)
    masks = [m.copy() for m in scene.masks]
    for t in (9, 10):
        masks[t][scene.masks[t] == 1], masks[t][scene.masks[t] == 2] = 2, 1
    reviews = review_sequence(scene.frames, masks, keyframes={0: scene.masks[0]})
    assert reviews[9].flagged and reviews[10].flagged
    said = " ".join(reviews[9].objects[1].reasons + reviews[9].objects[2].reasons)
    assert "looks like object" in said


def test_spans_group_consecutive_flagged_frames_worst_first():
    scene = make_scene(5, objects=1, frames=24, fast_camera=False)
    masks = [m.copy() for m in scene.masks]
    for t in (5, 6, 7):
        masks[t][:] = 0  # dropped for three frames
    masks[15] = np.roll(masks[15], 12, axis=1)  # one shifted frame
    reviews = review_sequence(scene.frames, masks, [f"f{t:03d}" for t in range(24)], keyframes={0: scene.masks[0]})
    spans = flagged_spans(reviews)
    assert [(s.first, s.last) for s in spans][:2] == [("f005", "f007"), ("f015", "f015")]
    data = review_to_dict(reviews)
    assert data["frames"][5]["objects"]["1"]["flagged"] and data["summary"]["flagged_frames"] == 4
    assert 0.0 <= data["frames"][3]["objects"]["1"]["score"] <= 1.0


def test_a_small_object_moving_across_a_panning_background_is_carried_by_its_own_motion():
    """Dense flow smears the background's motion into a small fast object's outline; the object's mask is
    carried by the motion its inside fits (within a pixel), not blown up along its edge."""
    rng = np.random.default_rng(4)
    background = (rng.random((300, 400)) * 255).astype(np.uint8)
    background = cv2.GaussianBlur(background, (0, 0), 2)
    texture = cv2.GaussianBlur((rng.random((60, 60)) * 255).astype(np.uint8), (0, 0), 1.5)
    disk = np.zeros((60, 60), np.uint8)
    cv2.circle(disk, (30, 30), 24, 1, -1)

    def frame(t: int) -> tuple[np.ndarray, np.ndarray]:
        image = background[20:260, 20 + 3 * t : 380 + 3 * t].copy()  # the camera pans 3 pixels a frame
        mask = np.zeros(image.shape, np.float32)
        x = 100 + 7 * t  # the object moves 7 pixels a frame the other way round in the picture
        image[90:150, x : x + 60][disk > 0] = texture[disk > 0]
        mask[90:150, x : x + 60] = disk
        return image, mask

    (before, mask_before), (now, mask_now) = frame(2), frame(3)
    motion = MotionEstimator().motion(now, before)
    carried, own, transform = motion.follow(mask_before)
    assert transform is not None and own is not None
    assert abs(float(transform[0, 2]) - 7.0) < 1.0 and abs(float(transform[1, 2])) < 1.0, transform
    landed, truth = carried > 0.5, mask_now > 0.5
    assert (landed & truth).sum() / (landed | truth).sum() > 0.9


def test_settings_refuse_nonsense():
    with pytest.raises(ValueError, match="short side"):
        ReviewSettings(short_side=4)


def _write_shot(folder, scene, masks):
    (folder / "frames").mkdir(parents=True)
    (folder / "masks").mkdir()
    (folder / "roto").mkdir()
    for t, (frame, mask) in enumerate(zip(scene.frames, masks)):
        Image.fromarray(frame).save(folder / "frames" / f"sh010.{1001 + t}.png")
        Image.fromarray(mask).save(folder / "masks" / f"sh010.{1001 + t}.png")
    Image.fromarray(scene.masks[0]).save(folder / "roto" / "sh010.1001.png")


def test_qc_command_writes_qc_json_and_html_and_prints_the_spans(tmp_path):
    scene = make_scene(7, objects=2, frames=16, fast_camera=False)
    masks = [m.copy() for m in scene.masks]
    masks[8][masks[8] == 2] = 0  # object 2 dropped on frame 1009
    _write_shot(tmp_path, scene, masks)
    out = tmp_path / "qc"
    args = ["qc", "-v", tmp_path / "frames", "-m", tmp_path / "masks", "-o", out, "--keyframes", tmp_path / "roto"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "sh010.1009" in result.output
    data = json.loads((out / "qc.json").read_text())
    by_name = {f["frame"]: f for f in data["frames"]}
    assert by_name["sh010.1009"]["objects"]["2"]["flagged"]
    assert by_name["sh010.1009"]["objects"]["2"]["reasons"]
    assert not by_name["sh010.1003"]["objects"]["1"]["flagged"]
    assert by_name["sh010.1001"]["keyframe"]
    page = (out / "qc.html").read_text()
    assert "<svg" in page and "sh010.1009" in page and "data:image/jpeg;base64," in page
    again = runner.invoke(app, [str(a) for a in args])
    assert again.exit_code != 0 and "overwrite" in again.output
    missing = runner.invoke(
        app, ["qc", "-v", str(tmp_path / "frames"), "-m", str(tmp_path / "nope"), "-o", str(out), "--overwrite"]
    )
    assert missing.exit_code != 0 and "not found" in missing.output


@pytest.mark.slow
def test_process_qc_reviews_the_run_it_made(tmp_path, checkpoint_path):
    scene = make_scene(8, objects=1, frames=6, size=(96, 128), fast_camera=False)
    _write_shot(tmp_path, scene, scene.masks)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "process",
            "-v",
            str(tmp_path / "frames"),
            "-m",
            str(tmp_path / "roto"),
            "-o",
            str(out),
            "--model",
            str(checkpoint_path),
            "--qc",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((out / "qc.json").read_text())
    assert [f["frame"] for f in data["frames"]] == [f"sh010.{1001 + t}" for t in range(6)]
    assert data["frames"][0]["keyframe"] and (out / "qc.html").is_file()


@pytest.mark.slow
def test_candidates_take_a_review_to_prefer_its_flagged_frames(tmp_path, checkpoint_path):
    scene = make_scene(9, objects=1, frames=8, size=(96, 128), fast_camera=False)
    _write_shot(tmp_path, scene, scene.masks)
    args = [
        "candidates",
        "-v",
        str(tmp_path / "frames"),
        "-m",
        str(tmp_path / "roto"),
        "--model",
        str(checkpoint_path),
        "-k",
        "1",
        "--min-mask-percent",
        "0",
        "--json",
        "--quiet",
    ]
    plain = runner.invoke(app, args)
    assert plain.exit_code == 0, plain.output
    first = json.loads(plain.stdout)["candidates"][0]["index"]
    flagged = 1 if first != 1 else 2  # a frame the plain selection does not pick first, flagged badly
    review = {
        "frames": [
            {"frame": f"sh010.{1001 + t}", "score": 0.0 if t == flagged else 1.0, "objects": {}} for t in range(8)
        ]
    }
    qc = tmp_path / "qc.json"
    qc.write_text(json.dumps(review))
    result = runner.invoke(app, [*args, "--from-review", str(qc)])
    assert result.exit_code == 0, result.output
    picked = json.loads(result.stdout)["candidates"][0]["index"]
    assert picked in (first, flagged)
    dissimilarities = {c["index"]: c["dissimilarity"] for c in json.loads(result.stdout)["candidates"]}
    assert dissimilarities[picked] > 0
    qc.write_text(json.dumps({"frames": [{"frame": "other.0001", "score": 0.5}]}))
    wrong = runner.invoke(app, [*args, "--from-review", str(qc)])
    assert wrong.exit_code != 0 and "names none of the frames" in wrong.output


def _textured(rng: np.random.Generator, height: int, width: int, scale: float) -> np.ndarray:
    noise = rng.random((max(2, int(height / scale)), max(2, int(width / scale)), 3)).astype(np.float32)
    smooth = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(rng.random(3) * 150 + 50 + (smooth - 0.5) * 140, 0, 255).astype(np.uint8)


def _occluded_shot(frames: int = 24) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """An object drifting right while an untracked bar sweeps left across it: the right masks are the object
    minus the bar (nothing marks the bar)."""
    rng = np.random.default_rng(8)
    background, texture, bar = _textured(rng, 200, 320, 30), _textured(rng, 80, 80, 6), _textured(rng, 200, 30, 5)
    disk = np.zeros((80, 80), np.uint8)
    cv2.circle(disk, (40, 40), 36, 1, -1)
    images, masks = [], []
    for t in range(frames):
        image, ids = background.copy(), np.zeros((200, 320), np.uint8)
        x = 90 + 2 * t
        image[60:140, x : x + 80][disk > 0] = texture[disk > 0]
        ids[60:140, x : x + 80][disk > 0] = 1
        left = 260 - 9 * t
        image[:, max(0, left) : max(0, left + 30)] = bar[:, max(0, -left) : 30]
        ids[:, max(0, left) : max(0, left + 30)] = 0
        images.append(image)
        masks.append(ids)
    return images, masks


def test_an_untracked_occluder_sweeping_across_an_object_is_not_blamed_on_its_mask():
    """The part behind the bar is expected back (not missing), and what shows of the object is where it was:
    no frame is flagged (the bar's own texture, moved along with the object, does not pass for the object's)."""
    images, masks = _occluded_shot()
    reviews = review_sequence(images, masks, keyframes={0: masks[0]})
    assert not [r.index for r in reviews if r.flagged]


def test_a_cut_after_an_untracked_occluder_has_passed_is_still_flagged():
    """The parts that were hidden are expected back: a mask that keeps a hole there is flagged."""
    images, masks = _occluded_shot()
    broken = [m.copy() for m in masks]
    for t in (20, 21, 22):  # the bar has passed: a cut where it was
        broken[t][:, 150:190] = 0
    reviews = review_sequence(images, broken, keyframes={0: masks[0]})
    assert all(reviews[t].flagged for t in (20, 21, 22)), [r.index for r in reviews if r.flagged]


def test_an_object_leaving_the_picture_is_not_missing():
    rng = np.random.default_rng(9)
    background, texture = _textured(rng, 160, 240, 25), _textured(rng, 60, 60, 6)
    disk = np.zeros((60, 60), np.uint8)
    cv2.circle(disk, (30, 30), 27, 1, -1)
    images, masks = [], []
    for t in range(20):
        image, ids = background.copy(), np.zeros((160, 240), np.uint8)
        x = 120 + 11 * t  # out of view from frame 11 on
        visible = max(0, min(60, 240 - x))
        image[50:110, x : x + visible][disk[:, :visible] > 0] = texture[:, :visible][disk[:, :visible] > 0]
        ids[50:110, x : x + visible][disk[:, :visible] > 0] = 1
        images.append(image)
        masks.append(ids)
    reviews = review_sequence(images, masks, keyframes={0: masks[0]})
    assert not [r.index for r in reviews if r.flagged]


def _turning_object(image_follows: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grey frame, mask, previous mask) of a dark plain object turning in depth on a textured ground: the mask
    narrows from 70 to 40 pixels; with `image_follows` the picture narrows with it, otherwise it stays wide."""
    rng = np.random.default_rng(12)
    image = cv2.cvtColor(_textured(rng, 200, 320, 20), cv2.COLOR_RGB2GRAY)
    previous, mask = np.zeros((200, 320), np.uint8), np.zeros((200, 320), np.uint8)
    cv2.ellipse(previous, (160, 100), (35, 60), 0, 0, 360, 1, -1)
    cv2.ellipse(mask, (160, 100), (20, 60), 0, 0, 360, 1, -1)
    image[(mask if image_follows else previous) > 0] = 40
    return image, mask > 0, previous > 0


def test_edge_support_says_whether_the_image_backs_a_changed_outline():
    """Gained outline on the object's edges, given-up outline on plain ground: well above the line; the same
    masks over a picture where the object stayed wide: well below it."""
    for follows, backed in ((True, True), (False, False)):
        image, mask, previous = _turning_object(follows)
        support = edge_support(edge_strength(image), mask, previous, tolerance=2)
        assert support is not None and (support >= 2 * EDGE_SUPPORT if backed else support <= 0.5), support
    image, mask, _ = _turning_object(True)
    assert edge_support(edge_strength(image), mask, mask, tolerance=2) is None  # nothing moved


def test_edge_offset_measures_how_far_an_outline_slid_off_the_object():
    """A textured blob on a textured ground: its right mask sits on its edges (no offset, or a gain near 1); the
    mask slid by 5 pixels is found 5 pixels off with a clear gain; the outline along another object is not
    counted (an occluder's edges are not the object's)."""
    rng = np.random.default_rng(4)
    image = cv2.GaussianBlur(rng.integers(40, 120, (120, 160), dtype=np.uint8), (5, 5), 0)
    mask = np.zeros((120, 160), np.uint8)
    cv2.ellipse(mask, (80, 60), (30, 20), 15, 0, 360, 1, -1)
    image[mask > 0] = np.clip(image[mask > 0].astype(int) + 90, 0, 255).astype(np.uint8)
    strength, nobody = edge_strength(image), np.zeros(mask.shape, bool)
    distance, gain = edge_offset(strength, mask > 0, nobody, reach=8)
    assert distance == 0 or gain < 1.1, (distance, gain)
    slid = np.roll(mask > 0, (3, 4), axis=(0, 1))
    distance, gain = edge_offset(strength, slid, nobody, reach=8)
    assert distance == pytest.approx(5.0) and gain >= 2.0, (distance, gain)
    assert edge_offset(strength, slid, np.ones(mask.shape, bool), reach=8) is None  # all of it along another


@pytest.mark.slow
def test_a_real_object_turning_in_depth_is_not_blamed():
    """The chair clip of ../shared/data (a dark chair turning on a still camera, its right masks): at most 5 %
    of the frames flagged (14 of 59 before the edge support, where the backrest narrows; now 1)."""
    chair = shared_data("chair")
    frames = [np.array(Image.open(p).convert("RGB")) for p in sorted((chair / "JPEGImages").glob("*.jpg"))]
    masks = [np.array(Image.open(p)) for p in sorted((chair / "Annotations").glob("*.png"))]
    reviews = review_sequence(frames, masks, keyframes={0: masks[0]})
    flagged = [r.index for r in reviews if r.flagged]
    assert len(flagged) <= 0.05 * (len(reviews) - 1), flagged


def test_a_window_answers_as_the_whole_picture_does():
    """Measurements worked out in a window around an object see the picture's edges where the picture has them:
    the band along the edge, pieces reaching the edge and touching it come out as computed on the whole picture."""
    rng = np.random.default_rng(8)
    for _ in range(60):
        mask = np.zeros((90, 140), np.uint8)
        for _ in range(3):
            centre = (int(rng.integers(-10, 150)), int(rng.integers(-10, 100)))
            cv2.ellipse(mask, centre, (int(rng.integers(3, 30)), int(rng.integers(3, 30))), 0, 0, 360, 1, -1)
        mask = mask > 0
        if not mask.any():
            continue
        band = int(rng.integers(0, 15))
        window = Window.around(mask, int(rng.integers(1, 12)))
        rows, columns = np.indices(mask.shape)  # the whole picture's answers, worked out directly
        far = (rows >= band) & (rows < mask.shape[0] - band) & (columns >= band) & (columns < mask.shape[1] - band)
        whole = mask & far
        count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        reaching = {i for i in range(1, count) if (labels == i)[[0, -1]].any() or (labels == i)[:, [0, -1]].any()}
        inside = np.isin(labels, [i for i in range(1, count) if i not in reaching])
        assert np.array_equal(window.off_border(window(mask), band), window(whole))
        assert np.array_equal(window.inside_pieces(window(mask)), window(inside))
        assert window.touches_edge(window(mask)) == bool(reaching)


def test_the_frames_kept_for_the_backward_pass_come_back_as_they_went_in():
    rng = np.random.default_rng(3)
    store = FrameStore()
    kept = [
        (rng.integers(0, 256, (36, 64, 3), dtype=np.uint8), rng.integers(0, 4, (36, 64), dtype=np.uint8))
        for _ in range(5)
    ]
    for rgb, labels in kept:
        store.append(rgb, labels)
    assert len(store) == 5
    for position in (4, 0, 2):
        rgb, labels = store.read(position)
        assert np.array_equal(rgb, kept[position][0]) and np.array_equal(labels, kept[position][1])
    store.close()


def test_the_first_sharp_frame_after_a_blurred_burst_is_not_blamed():
    """A hard shot (motion blur along fast camera moves, an untracked bar, an object leaving the picture, one
    sliding behind another) with right masks: the flow from the last blurred frame of a burst to the first sharp
    one is as rough as within the burst, so an object's place there is judged as loosely (frames 18-21 of this
    shot were flagged "shifted 13-16 %" when only the frame's own sharpness counted)."""
    scene = make_scene(86, objects=3, hard=True)
    reviews = review_sequence(scene.frames, scene.masks, keyframes={0: scene.masks[0]})
    assert not [r.index for r in reviews if r.flagged and 17 <= r.index <= 21]
    assert sum(r.flagged for r in reviews) <= 0.05 * len(reviews), [r.index for r in reviews if r.flagged]


def test_an_object_first_seen_as_a_sliver_learns_its_colours_once_it_shows_more():
    """A keyframe that shows a sliver of an object (entering view, mostly hidden) holds few of its colours: once a
    frame shows twice that area, its colours are learnt too, so the whole object is not "unlike its keyframes"."""
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, :40] = (220, 40, 40)  # the object's red half
    image[:, 40:] = (40, 60, 220)  # and its blue half
    sliver, whole = np.zeros((60, 80), bool), np.zeros((60, 80), bool)
    sliver[10:50, 30:40] = True
    whole[10:50, 30:70] = True
    appearance = Appearance()
    appearance.learn(1, image, sliver, trusted=True)
    before, _ = appearance.distance(1, image, whole)
    appearance.learn(1, image, whole, trusted=False)  # a frame not flagged, four times the sliver's area
    after, _ = appearance.distance(1, image, whole)
    assert before is not None and after is not None
    assert before >= 0.6 and after < 0.1, (before, after)


def test_a_small_patch_apart_counts_while_another_object_touches_but_a_large_piece_does_not():
    """Touching another object, a small patch away from the object is still a failure (a spurious patch); a
    large piece apart is the object's own part showing past the other one."""
    from xmempp.review.signals import ObjectSignals
    from xmempp.review.verdict import SMALL_PATCH, Thresholds, judge

    def verdict(detached: float):
        signals = ObjectSignals(area=1000.0, expected_area=1000.0, full_area=1000.0)
        signals.contact, signals.detached = 0.2, detached
        return judge(signals, Thresholds())

    small = verdict(0.04)
    assert small.flagged and "patch away" in small.reasons[0]
    assert not verdict(SMALL_PATCH * 2).flagged


def test_an_object_missing_on_one_pass_s_word_is_flagged_whatever_the_other_pass_says():
    """The frames after a drop (the object shows again) flag nothing, so a drop that only one direction can see
    (the other lost the object: it left the picture, or the drop runs to the shot's end) is still flagged; any
    other one-pass flag needs the other pass to come close."""
    from xmempp.review.merge import merge
    from xmempp.review.verdict import ObjectReview

    fine = ObjectReview(score=1.0, flagged=False)
    gone = ObjectReview(score=0.0, flagged=True, reasons=["object missing where the motion puts it"], vanished=True)
    cut = ObjectReview(score=0.0, flagged=True, reasons=["part missing (30 % of the object)"])
    assert merge(fine, gone).flagged and merge(gone, fine).flagged
    assert merge(gone, fine).score < 0.5 and merge(gone, fine).reasons == gone.reasons
    assert not merge(fine, cut).flagged and not merge(cut, fine).flagged


def test_a_dropped_object_is_flagged_on_every_frame_of_the_drop():
    """An object dropped for three frames of a shot with fast camera moves: each of the three is flagged."""
    scene = make_scene(13, objects=2, frames=32)
    masks = [m.copy() for m in scene.masks]
    for t in (27, 28, 29):
        masks[t][masks[t] == 1] = 0
    reviews = review_sequence(scene.frames, masks, keyframes={0: scene.masks[0]})
    assert all(reviews[t].flagged for t in (27, 28, 29)), [r.index for r in reviews if r.flagged]
    assert all(reviews[t].objects[1].flagged for t in (27, 28, 29))


def test_a_patch_on_the_picture_s_edge_far_from_the_object_is_apart_but_one_beside_it_is_entering_view():
    """A piece on the picture's edge may be the object entering view; one more than half the object's size from
    all of it is a spurious patch."""
    from xmempp.review.signals import compare_masks

    height, width = 240, 360
    body = np.zeros((height, width), np.uint8)
    cv2.circle(body, (200, 120), 30, 1, -1)
    expected = body.astype(bool)
    reliable = np.ones((height, width), bool)

    def detached(patch_centre: tuple[int, int]) -> float:
        mask = body.copy()
        cv2.circle(mask, patch_centre, 7, 1, -1)
        mask = mask.astype(bool)
        return compare_masks(mask, expected, reliable, mask.astype(np.uint8), 1, {}).detached

    assert detached((0, 200)) > 0.02  # at the left edge, far from the object
    near_edge = np.zeros((height, width), np.uint8)
    cv2.circle(near_edge, (45, 120), 30, 1, -1)  # an object close to the left edge
    mask = near_edge.copy()
    cv2.rectangle(mask, (0, 110), (14, 130), 1, -1)  # a part of it coming into view beside it
    signals = compare_masks(mask.astype(bool), near_edge.astype(bool), reliable, mask, 1, {})
    assert signals.detached == 0.0
