"""The refine stage: guided filter, band, renormalisation, settings, and its gain over bilinear on
generated composites (thresholds from issue 27, judged on every scene), on the scenes the defaults were
tuned on and on the held-out generator's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from xmempp.errors import ConfigError, InputError
from xmempp.evaluation.coarse import network_matte
from xmempp.evaluation.composites import make_scene
from xmempp.evaluation.matting import edge_region
from xmempp.evaluation.refine_bench import TARGETS, scene_and_coarse, score_scene
from xmempp.refine import Refiner, RefineSettings, refine_frame, renormalise
from xmempp.refine.band import edge_band
from xmempp.refine.guided import box_mean, fit_coefficients, upsample_crop

GUIDED = {"guided": RefineSettings(mode="guided")}


def _scene_scores(kind: str, seeds, height: int, width: int, frames: int = 2, scene_set: str = "tuning"):
    scores = []
    for seed in seeds:
        scene, coarse = scene_and_coarse(scene_set, kind, seed, height, width, frames)
        scores += score_scene(scene, coarse, GUIDED, kind, seed, band=max(2, height // 100))
    return scores


def _meets_targets(score) -> None:
    for (kind, metric), limit in TARGETS.items():
        if kind == score.kind:
            assert score.ratios[metric] <= limit, (metric, score)


def test_box_mean_matches_brute_force_at_borders_for_pooling_and_running_sums():
    x = torch.rand(1, 2, 17, 23, dtype=torch.float64)
    for r in (2, 11):  # 2: shifted sums, 11: running sums
        got = box_mean(x, r)
        for y, xx in ((0, 0), (8, 11), (16, 22), (3, 20)):
            want = x[0, :, max(0, y - r) : y + r + 1, max(0, xx - r) : xx + r + 1].mean(dim=(-2, -1))
            assert torch.allclose(got[0, :, y, xx], want)


def test_guided_filter_reproduces_a_matte_that_is_a_linear_function_of_the_colour():
    guide = torch.rand(3, 32, 40, dtype=torch.float64)
    target = (0.2 + 0.5 * guide[0] - 0.3 * guide[2]).unsqueeze(0)
    c = fit_coefficients(guide, target, 3, 1e-9)
    out = (c.a[0] * guide).sum(0) + c.b[0, 0]
    assert torch.allclose(out, target[0], atol=1e-5)


def test_upsample_crop_equals_the_crop_of_the_whole_upsampled_grid():
    grid = torch.rand(1, 3, 9, 12)
    full = torch.nn.functional.interpolate(grid, scale_factor=8, mode="bilinear", align_corners=False)
    for box in ((0, 72, 0, 96), (13, 40, 5, 91), (50, 72, 64, 96)):
        y0, y1, x0, x1 = box
        assert torch.allclose(upsample_crop(grid, 8, box), full[..., y0:y1, x0:x1], atol=1e-6)


def test_band_is_empty_on_a_confident_matte_and_covers_the_uncertain_zone():
    hard = torch.zeros(1, 64, 64)
    hard[:, 16:48, 16:48] = 1
    assert edge_band(hard * 0, 4, 0, 2).box is None
    soft = torch.nn.functional.avg_pool2d(hard[None], 9, 1, 4)[0]
    band = edge_band(soft, 0, 0, 2)
    y0, y1, x0, x1 = band.box
    weight = torch.zeros_like(soft)
    weight[:, y0:y1, x0:x1] = band.weight()
    unsure = (soft > 0.05) & (soft < 0.95)
    assert bool((weight[unsure] > 0.999).all())
    assert float(weight[0, 32, 32]) == 0 and float(weight[0, 0, 0]) == 0


def test_renormalise_keeps_object_sums_at_most_one():
    objects = torch.tensor([[[0.8, 0.2]], [[0.6, 0.3]]])
    out = renormalise(objects.clone())
    assert torch.allclose(out.sum(0), torch.tensor([[1.0, 0.5]]))
    assert torch.allclose(out[:, 0, 0], torch.tensor([0.8, 0.6]) / 1.4)


def test_refine_frame_two_touching_objects_never_sum_above_one_and_background_is_the_rest():
    scene = make_scene("hair", 96, 128, 1, seed=2)[0]
    p = network_matte(scene.alpha, 96)
    probs = np.stack([1 - p, p * 0.7, np.roll(p, 5, axis=1) * 0.7]).astype(np.float32)
    out = refine_frame(scene.plate, probs, RefineSettings(mode="guided"))
    assert isinstance(out, np.ndarray) and out.shape == probs.shape
    assert out[1:].sum(0).max() <= 1 + 1e-5
    np.testing.assert_allclose(out[0], 1 - out[1:].sum(0), atol=1e-5)
    assert not np.allclose(out, probs)


def test_mode_off_returns_the_probabilities_unchanged():
    probs = torch.rand(2, 16, 16)
    assert refine_frame(np.zeros((16, 16, 3), np.uint8), probs, RefineSettings()) is probs


def test_temporal_smoothing_averages_coefficients_between_frames():
    scene = make_scene("hair", 96, 128, 2, seed=1, locked_off=True)
    probs = [np.stack([1 - p, p]) for p in (network_matte(c.alpha, 96) for c in scene)]
    still = Refiner(RefineSettings(mode="guided"))
    smooth = Refiner(RefineSettings(mode="guided", temporal=0.8))
    a = [still(c.plate, p)[1] for c, p in zip(scene, probs)]
    b = [smooth(c.plate, p)[1] for c, p in zip(scene, probs)]
    np.testing.assert_allclose(a[0], b[0])
    assert np.abs(b[1] - b[0]).mean() < np.abs(a[1] - a[0]).mean()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(mode="fast"),
        dict(eps=0),
        dict(band=-1),
        dict(temporal=1.0),
        dict(radius=0.9),
        dict(low=0.9, high=0.1),
        dict(fit_height=2),
    ],
)
def test_settings_refuse_bad_values(kwargs):
    with pytest.raises(ConfigError):
        RefineSettings(**kwargs)


def test_defaults_scale_with_the_plate_height():
    small, big = RefineSettings(mode="guided").resolve(540), RefineSettings(mode="guided").resolve(2160)
    assert big.band == 4 * small.band == 32 and big.radius == 4 * small.radius


def test_plate_and_mattes_of_different_sizes_are_refused():
    with pytest.raises(InputError):
        refine_frame(np.zeros((8, 8, 3), np.uint8), np.zeros((2, 9, 8), np.float32), RefineSettings(mode="guided"))


def _small_object_plate(h: int, w: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured plate with one small anti-aliased ellipse and, 2.5-4 sizes away, background spots of the
    same colour (which the object's matte must not take); and the ellipse's alpha."""
    rng = np.random.default_rng(seed)
    background = rng.uniform(0.2, 0.8, 3) + rng.normal(0, 0.05, (h, w, 3))
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    y0, x0 = max(0, int(cy - 5 * size)), max(0, int(cx - 5 * size))  # everything drawn lies in this box
    y1, x1 = min(h, int(cy + 5 * size)), min(w, int(cx + 5 * size))
    yy, xx = np.mgrid[y0 * 4 : y1 * 4, x0 * 4 : x1 * 4] / 4.0
    inside = ((yy - cy) / (size * 0.6)) ** 2 + ((xx - cx) / (size * 0.45)) ** 2 <= 1
    spots = np.zeros_like(inside)
    for angle in rng.uniform(0, 2 * np.pi, 3):
        distance = rng.uniform(2.5, 4) * size
        sy, sx = cy + distance * np.sin(angle), cx + distance * np.cos(angle)
        spots |= (yy - sy) ** 2 + (xx - sx) ** 2 <= (size / 3) ** 2
    alpha, spot = np.zeros((h, w)), np.zeros((h, w))
    for out, drawn in ((alpha, inside), (spot, spots & ~inside)):
        out[y0:y1, x0:x1] = drawn.reshape(y1 - y0, 4, x1 - x0, 4).mean(axis=(1, 3))
    colour = np.clip(1 - background.mean(axis=(0, 1)) + rng.normal(0, 0.05, 3), 0, 1)  # the opposite colour
    painted = np.clip(alpha + spot, 0, 1)[..., None]
    plate = painted * colour + (1 - painted) * background
    return np.clip(plate, 0, 1).astype(np.float32), alpha.astype(np.float32)


def _confident_decoder_matte(alpha: np.ndarray, processing: int) -> np.ndarray:
    """A small object as a confident network sees it: sure on the decoder cells it mostly covers (a quarter
    of the processing size), upsampled bilinearly."""
    h, w = alpha.shape
    scale = processing / min(h, w) / 4
    quarter = cv2.resize(alpha, (max(2, round(w * scale)), max(2, round(h * scale))), interpolation=cv2.INTER_AREA)
    return cv2.resize((quarter > 0.5).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize(
    "h,w,size,processing", [(426, 240, 16, 240), (240, 426, 12, 240), (1080, 1920, 40, 480), (1080, 1920, 90, 480)]
)
def test_small_objects_are_refined_not_erased(h, w, size, processing):
    for seed in range(3):
        plate, alpha = _small_object_plate(h, w, size, seed)
        coarse = _confident_decoder_matte(alpha, processing)
        refined = np.asarray(refine_frame(plate, np.stack([1 - coarse, coarse]), RefineSettings(mode="guided")))[1]
        inside = alpha > 0.99  # never less opaque than the network's matte, and closer to the truth
        assert refined[inside].mean() >= coarse[inside].mean() - 0.01, (
            seed,
            refined[inside].mean(),
            coarse[inside].mean(),
        )
        assert np.abs(refined - alpha).sum() < np.abs(coarse - alpha).sum(), seed


def test_guided_meets_the_targets_on_generated_hair_fabric_and_motion_blur():
    for s in _scene_scores("hair", (0, 2, 3), 540, 960):
        _meets_targets(s)
        assert s.foreground_ratio >= 2, s
    for kind in ("fabric", "motion"):
        for s in _scene_scores(kind, (0, 1), 540, 960):
            _meets_targets(s)


def test_guided_still_beats_bilinear_where_hair_and_head_share_the_background_colour():
    (s,) = _scene_scores("hair", (1,), 540, 960)  # seed 1: green hair and head over green texture
    assert s.ratios["sad"] <= 0.5 and s.ratios["mse"] <= 0.45 and s.foreground_ratio >= 1.4, s


def test_held_out_scenes_meet_the_targets_where_there_is_contrast_and_are_never_worse_than_bilinear():
    # another generator (Bezier strand clumps, a scarf with tassels and a lace or twill weave, sub-frame
    # motion blur); seeds cycle dark on light, light on dark and low contrast (the background's own hue)
    for kind in ("hair", "fabric", "motion"):
        for s in _scene_scores(kind, (0, 1, 2), 540, 960, scene_set="heldout"):
            if (s.seed + ("hair", "fabric", "motion").index(kind)) % 3 == 2:  # low contrast
                assert s.ratios["sad"] <= 1.05, s
            else:
                _meets_targets(s)


def test_matting_refiner_keeps_the_guided_matte_where_a_tile_has_no_definite_background():
    pytest.importorskip("pymatting")
    scene = make_scene("fabric", 135, 240, 1, seed=4)[0]
    p = network_matte(scene.alpha, 135)
    probs = np.stack([1 - p, p])
    guided = refine_frame(scene.plate, probs, RefineSettings(mode="guided"))
    matting = refine_frame(scene.plate, probs, RefineSettings(mode="matting"))
    region = edge_region(scene.alpha, 2)
    err = lambda m: np.abs(m[1] - scene.alpha)[region].mean()  # noqa: E731
    assert err(matting) < err(p)
    flat = np.full_like(p, 0.5)  # no definite foreground or background anywhere: nothing to solve
    kept = refine_frame(scene.plate, np.stack([1 - flat, flat]), RefineSettings(mode="matting"))
    same = refine_frame(scene.plate, np.stack([1 - flat, flat]), RefineSettings(mode="guided"))
    np.testing.assert_allclose(kept, same, atol=1e-6)
    assert guided.shape == matting.shape


@pytest.mark.slow
def test_guided_meets_the_issue_targets_at_2k_on_every_scene():
    for kind in ("hair", "fabric", "motion"):
        for s in _scene_scores(kind, (0, 1, 2), 1080, 2048, frames=3):
            _meets_targets(s)
            if kind == "hair":
                assert s.foreground_ratio >= 2, s
