"""The colour model's trust (issue 32, round 2): the refine stage is never worse than the bilinear matte over
busy backgrounds in the object's own tones, where the background cannot be measured nearby (inside a
sheer panel) as well as where it can."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmempp.evaluation.coarse import DisplacementField, network_matte
from xmempp.evaluation.composites import make_busy_scene
from xmempp.evaluation.refine_bench import score_scenes
from xmempp.refine import Refiner, RefineSettings
from xmempp.refine.colour import fit_colour_model


@pytest.mark.parametrize(("kind", "seed"), [("fabric", 3), ("fabric", 7), ("motion", 7)])
def test_refine_is_no_worse_than_bilinear_over_stripes_in_the_objects_own_tones(kind, seed):
    # busy seeds 3 and 7: fine stripes in the object's tones behind a sheer panel or a blurred edge; before the
    # region-wide statistics and the known-pixel check, SAD was 1.21, 1.42 and 1.07 of bilinear here. Where the
    # background is this busy the stage falls back to the coarse matte (0.98, 1.00, 0.98): no worse, within 1 %
    frame = make_busy_scene(kind, 360, 640, 1, seed=seed)[0]
    coarse = network_matte(frame.alpha, 360, DisplacementField(seed, 1.2), 0, 0.7)
    refined = np.asarray(Refiner(RefineSettings(mode="guided"))(frame.plate, np.stack([1 - coarse, coarse])))[1]
    ratio = np.abs(refined - frame.alpha).sum() / np.abs(coarse - frame.alpha).sum()
    assert ratio < 1.01, ratio


def _sheer_panel(back: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A sheer panel (40 %) over `back` (3xHxW) from column 48 on, and its coarse matte (clean left of it)."""
    h, w = back.shape[-2:]
    alpha = torch.zeros(h, w)
    alpha[:, 48:] = 0.4
    fore = torch.tensor([0.7, 0.2, 0.5]).view(3, 1, 1)
    return alpha * fore + (1 - alpha) * back, alpha


def test_trust_falls_inside_a_sheer_panel_over_a_busy_background_with_no_clean_pixel_near():
    h, w = 64, 256
    noise = 0.01 * torch.randn(3, h, w, generator=torch.Generator().manual_seed(1))
    quiet = torch.full((3, h, w), 0.3) + noise
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    band = (((xx + yy) % 8) < 4).float()  # diagonal stripes: the panel's own colour and a pale one
    stripes = torch.stack([0.7 + 0.2 * band, 0.2 + 0.6 * band, 0.5 + 0.3 * band]) + noise
    trusts = []
    for back in (quiet, stripes):
        plate, alpha = _sheer_panel(back)
        model = fit_colour_model(plate, alpha[None], 2, coarse=alpha[None])
        assert model.trust is not None
        trusts.append(float(model.trust[0, 0, :, 80:].mean()))  # the panel beyond the clean pixels' reach
    assert trusts[0] > 0.8 and trusts[1] < 0.3, trusts


def test_the_guided_matte_is_trusted_over_a_quiet_background_and_not_over_stripes_beside_the_edge():
    h, w = 96, 160
    noise = 0.01 * torch.randn(3, h, w, generator=torch.Generator().manual_seed(2))
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    band = (((xx + 2 * yy) % 6) < 3).float()
    fore = torch.tensor([0.8, 0.3, 0.3]).view(3, 1, 1)
    alpha = (xx >= 96).float()
    coarse = torch.nn.functional.avg_pool2d(alpha[None, None], 21, 1, 10, count_include_pad=False)[0, 0]
    trusts = []
    for back in (torch.full((3, h, w), 0.25) + noise, torch.stack([0.8 * band, 0.3 + 0.5 * band, 0.3 + 0.4 * band])):
        plate = alpha * fore + (1 - alpha) * back
        # the guided matte as a wide window's linear fit leaves it: the background's stripes carved in over 40 px
        guided = (coarse + 0.5 * (plate[1] - plate[1].mean()) * (xx >= 56)).clamp(0, 1)
        model = fit_colour_model(plate, guided[None], 2, coarse=coarse[None])
        assert model.trust is not None and model.trust.shape[1] == 2
        trusts.append(float(model.trust[0, 1, :, 38:48].mean()))  # the guided matte's, at the edge (grid of 2 px)
    assert trusts[0] > 0.7 and trusts[1] < 0.3, trusts


@pytest.mark.slow
def test_busy_fabric_and_motion_at_864_lines_are_no_worse_than_bilinear():
    # the size where the last pass was 1.45-1.89x bilinear on busy fabric seed 3 (SAD, MSE, gradient, dtSSD); the
    # stage now keeps the coarse matte there: every ratio within 2 % of 1 or below
    scores = score_scenes(
        ("fabric", "motion"), range(4), 864, 1536, 2, {"guided": RefineSettings(mode="guided")}, scene_set="busy"
    )
    for score in scores:
        assert score.ratios["sad"] < 1.01 and score.ratios["mse"] < 1.01, (score.kind, score.seed, score.ratios)
        assert score.ratios["grad"] < 1.02 and score.ratios["dtssd"] < 1.02, (score.kind, score.seed, score.ratios)
