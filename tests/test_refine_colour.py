"""The refine stage's local colour model, its block reductions, and the held-out scene generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from xmempp.evaluation.composites import SCENE_KINDS
from xmempp.evaluation.heldout import make_heldout_scene
from xmempp.refine.colour import ColourCoefficients, apply_colour_model, fit_colour_model, snap_tails
from xmempp.refine.guided import block_max, block_mean


@pytest.mark.parametrize("factor", [1, 2, 3, 7])
def test_block_mean_and_max_match_pooling_with_partial_edge_blocks(factor):
    x = torch.rand(2, 3, 23, 31, dtype=torch.float64)
    mean = F.avg_pool2d(x, factor, stride=factor, ceil_mode=True)
    top = F.max_pool2d(x, factor, stride=factor, ceil_mode=True)
    assert torch.allclose(block_mean(x, factor), mean)
    assert torch.equal(block_max(x, factor), top)
    assert torch.equal(block_max(x, factor, lowest=True), -F.max_pool2d(-x, factor, stride=factor, ceil_mode=True))


def _stripes(h: int = 96, w: int = 96) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A plate of thin foreground lines over a background with its own texture, and the true alpha."""
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    alpha = torch.zeros(h, w)
    alpha[:, 40:56] = ((xx[:, 40:56] % 4) == 0).float() * 0.8  # strands 1 px wide, 80 % opaque
    alpha[:, 56:] = 1.0
    back = torch.stack([0.2 + 0.1 * torch.sin(yy / 5.0), 0.3 + 0.1 * torch.cos(xx / 7.0), torch.full((h, w), 0.25)])
    fore = torch.tensor([0.9, 0.7, 0.2]).view(3, 1, 1).expand(3, h, w)
    plate = alpha * fore + (1 - alpha) * back
    return plate, alpha, fore, back


def test_colour_model_restores_strands_a_guided_matte_left_faint_and_hazy():
    plate, alpha, _, _ = _stripes()
    faint = (0.5 * alpha + 0.05).unsqueeze(0)  # strands at half their opacity, a haze over the background
    coeffs = fit_colour_model(plate, faint, step=2)
    out = apply_colour_model(coeffs, plate, faint, (0, 96, 0, 96))
    zone = (slice(8, 88), slice(40, 56))
    err_before = (faint[0][zone] - alpha[zone]).abs().mean()
    err_after = (out[0][zone] - alpha[zone]).abs().mean()
    assert err_after < 0.3 * err_before, (err_before, err_after)


def test_colour_model_keeps_the_guided_matte_where_there_is_no_clean_background():
    plate, _, _, _ = _stripes()
    sheer = torch.full((1, 96, 96), 0.4)  # a sheer panel everywhere: no pixel is clean background
    out = apply_colour_model(fit_colour_model(plate, sheer, step=2), plate, sheer, (0, 96, 0, 96))
    torch.testing.assert_close(out, sheer)


def test_snap_takes_the_noise_floor_to_0_and_1_and_keeps_the_middle():
    a = torch.tensor([0.0, 0.05, 0.09, 0.12, 0.5, 0.9, 0.95, 1.0])
    out = snap_tails(a.clone(), 0.06)
    torch.testing.assert_close(out, torch.tensor([0.0, 0.0, 0.06, 0.12, 0.5, 0.92, 1.0, 1.0]))


def test_colour_coefficients_blend_where_the_grids_overlap():
    now = ColourCoefficients(torch.zeros(1, 5, 4, 4), 2, (10, 10))
    before = ColourCoefficients(torch.ones(1, 5, 4, 4), 2, (12, 8))
    out = now.blend(before, 0.5).fields[0, 0]
    assert torch.all(out[2:, :2] == 0.5) and torch.all(out[:2] == 0) and torch.all(out[:, 2:] == 0)


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_heldout_scenes_have_exact_alpha_and_follow_their_seed(kind):
    a = make_heldout_scene(kind, 90, 160, 2, seed=3)
    b = make_heldout_scene(kind, 90, 160, 2, seed=3)
    c = make_heldout_scene(kind, 90, 160, 2, seed=4)
    for frame in a:
        assert frame.plate.shape == (90, 160, 3) and frame.alpha.shape == (90, 160)
        assert frame.alpha.min() >= 0 and frame.alpha.max() <= 1 and ((frame.alpha > 0) & (frame.alpha < 1)).any()
        composite = frame.alpha[..., None] * frame.foreground + (1 - frame.alpha[..., None]) * frame.background
        assert np.abs(np.clip(composite, 0, 1) - frame.plate).mean() < 0.03  # the plate is that composite + grain
    np.testing.assert_array_equal(a[1].plate, b[1].plate)
    assert not np.array_equal(a[0].alpha, c[0].alpha)
    assert not np.array_equal(a[0].alpha, a[1].alpha)
