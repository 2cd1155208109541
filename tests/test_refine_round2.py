"""Mattes round 2: busy structured backgrounds in the generator, the colour model's trust where the
background is busy, blur-fusion foreground colour, `refine` reading ahead, and index masks from the
refined mattes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from xmempp.cli.app import app
from xmempp.errors import ConfigError, InputError
from xmempp.evaluation.coarse import DisplacementField, network_matte
from xmempp.evaluation.composites import BUSY_PATTERNS, busy_background, make_busy_scene, make_scene
from xmempp.io.matte_folders import read_soft_matte
from xmempp.refine import Refiner, RefineSettings, estimate_foreground
from xmempp.refine.colour import fit_colour_model
from xmempp.refine.folders import refine_folders


@pytest.mark.parametrize("seed", range(len(BUSY_PATTERNS)))
def test_busy_scenes_have_exact_alpha_and_move_their_background_on_odd_seeds(seed):
    a = make_busy_scene("hair", 90, 160, 2, seed=seed)
    b = make_busy_scene("hair", 90, 160, 2, seed=seed)
    for frame in a:
        composite = frame.alpha[..., None] * frame.foreground + (1 - frame.alpha[..., None]) * frame.background
        assert np.abs(np.clip(composite, 0, 1) - frame.plate).mean() < 0.03
    np.testing.assert_array_equal(a[1].plate, b[1].plate)
    moved = np.abs(a[1].background - a[0].background).mean()
    assert (moved > 0.005) if seed % 2 else (moved == 0), moved
    assert a[0].background.std() > 0.05  # structured, not flat


def test_busy_background_refuses_an_unknown_pattern():
    with pytest.raises(InputError, match="busy pattern"):
        busy_background(np.random.default_rng(0), 32, 32, "plaid", np.full(3, 0.5, np.float32))


def _strands(back: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin bright strands over `back` (3xHxW), their true alpha, and a coarse (blurred) matte."""
    h, w = back.shape[-2:]
    xx = torch.arange(w).expand(h, w)
    alpha = torch.zeros(h, w)
    alpha[:, w // 2 : w // 2 + 24] = ((xx[:, w // 2 : w // 2 + 24] % 4) == 0).float() * 0.8
    alpha[:, w // 2 + 24 :] = 1.0
    fore = torch.tensor([0.9, 0.8, 0.3]).view(3, 1, 1)
    plate = alpha * fore + (1 - alpha) * back
    coarse = torch.nn.functional.avg_pool2d(alpha[None, None], 15, 1, 7, count_include_pad=False)[0, 0]
    return plate, alpha, coarse


def test_colour_model_trusts_a_quiet_background_and_not_one_striped_along_the_strands_contrast():
    h, w = 96, 128
    quiet = torch.full((3, h, w), 0.2) + 0.01 * torch.randn(3, h, w, generator=torch.Generator().manual_seed(0))
    yy = torch.arange(h).view(h, 1).expand(h, w)
    stripes = torch.stack(
        [0.2 + 0.6 * (yy % 6 < 3).float(), 0.2 + 0.5 * (yy % 6 < 3).float(), torch.full((h, w), 0.2)]
    )  # pale stripes in the strands' own direction of colour
    trusts = []
    for back in (quiet, stripes):
        plate, _, coarse = _strands(back)
        model = fit_colour_model(plate, coarse[None], 2, coarse=coarse[None])
        assert model.trust is not None
        trusts.append(float(model.trust[0, 0, :, w // 4 : w // 4 + 12].mean()))  # on the strands (grid of 2 px)
    assert trusts[0] > 0.9 and trusts[1] < 0.3, trusts


def test_blur_fusion_foreground_recovers_the_strand_colour_and_keeps_hard_pixels():
    h, w = 96, 128
    back = torch.stack(
        [0.2 + 0.2 * torch.sin(torch.arange(w) / 5.0).expand(h, w), torch.full((h, w), 0.3), torch.full((h, w), 0.6)]
    )
    plate, alpha, _ = _strands(back)
    fg = estimate_foreground(plate, alpha)
    soft = (alpha > 0.1) & (alpha < 0.99)
    error = (fg - torch.tensor([0.9, 0.8, 0.3]).view(3, 1, 1)).abs()[:, soft].mean()
    naive = (plate - torch.tensor([0.9, 0.8, 0.3]).view(3, 1, 1)).abs()[:, soft].mean()
    assert error < 0.25 * naive, (error, naive)
    hard = (alpha == 0) | (alpha == 1)
    assert torch.equal(fg[:, hard], plate[:, hard])
    with pytest.raises(ConfigError, match="foreground method"):
        estimate_foreground(plate, alpha, method="magic")


def test_refine_folders_reads_ahead_in_order_and_reports_frames_per_second(tmp_path):
    seq = make_scene("hair", 72, 128, 5, seed=4)
    field = DisplacementField(4)
    (tmp_path / "plate").mkdir()
    (tmp_path / "alpha").mkdir()
    coarse = []
    for i, c in enumerate(seq):
        cv2.imwrite(str(tmp_path / f"plate/f_{i}.png"), np.rint(c.plate[..., ::-1] * 255).astype(np.uint8))
        p = np.rint(network_matte(c.alpha, 72, field, i) * 65535).astype(np.uint16)
        cv2.imwrite(str(tmp_path / f"alpha/f_{i}.png"), p)
        coarse.append(p / 65535.0)
    settings = RefineSettings(mode="guided", temporal=0.5)
    report = refine_folders(tmp_path / "plate", tmp_path / "alpha", tmp_path / "out", settings)
    assert report.frames == 5 and report.fps > 0
    refiner = Refiner(settings)  # the same frames one after the other, in order (temporal state carried)
    (oid,) = report.objects
    for i in range(len(seq)):
        plate = cv2.imread(str(tmp_path / f"plate/f_{i}.png"))[..., ::-1]
        p = coarse[i].astype(np.float32)
        expected = np.asarray(refiner(plate, np.stack([1 - p, p])))[1]
        written = read_soft_matte(tmp_path / "out" / "alpha" / str(oid) / f"f_{i}.png")
        np.testing.assert_allclose(written, expected, atol=1 / 65535 + 1e-6)


def test_refined_runs_write_index_masks_that_are_the_argmax_of_the_refined_mattes(tmp_path, checkpoint_path):
    seq = make_scene("hair", 96, 144, 3, seed=2)
    (tmp_path / "frames").mkdir()
    (tmp_path / "masks").mkdir()
    for i, c in enumerate(seq):
        cv2.imwrite(str(tmp_path / f"frames/f_{i:03d}.png"), np.rint(c.plate[..., ::-1] * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "masks/f_000.png"), (seq[0].alpha > 0.5).astype(np.uint8))
    masks = {}
    for name, flags in (("plain", []), ("refined", ["--refine", "guided"])):
        out = tmp_path / name
        result = CliRunner().invoke(
            app,
            [
                str(a)
                for a in (
                    "process",
                    "-v",
                    tmp_path / "frames",
                    "-m",
                    tmp_path / "masks",
                    "-o",
                    out,
                    "--model",
                    checkpoint_path,
                    "--size",
                    48,
                    "--threads",
                    1,
                    "--alpha",
                    "--alpha-bits",
                    16,
                    "-q",
                    *flags,
                )
            ],
        )
        assert result.exit_code == 0, result.output
        masks[name] = [cv2.imread(str(out / f"masks/f_{i:03d}.png"), cv2.IMREAD_UNCHANGED) for i in range(3)]
        if name == "refined":
            for i in range(1, 3):
                alpha = read_soft_matte(out / f"alpha/1/f_{i:03d}.png")
                ids = (alpha > 1 - alpha).astype(np.uint8)  # argmax of background (1 - alpha) and the object
                ties = np.abs(alpha - 0.5) < 2 / 65535
                assert np.array_equal(masks[name][i][~ties], ids[~ties]), f"frame {i}"
    assert any(not np.array_equal(a, b) for a, b in zip(masks["plain"][1:], masks["refined"][1:])), (
        "the refined mattes changed no index mask: the test checks nothing"
    )
