"""Frames larger than the processing size are resized as the reference XMem++ does (no antialiasing)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

from golden import golden_json, load_npz
from iohelpers import write_palette_png
from xmempp import ConfigError, InferenceConfig
from xmempp.inference.jobs import ShotJob, iter_job
from xmempp.inference.preprocess import Geometry, image_to_tensor
from xmempp.io.masks import davis_palette

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def reference_tensor(image: np.ndarray, size: int) -> torch.Tensor:
    """The reference pipeline, written out: ToTensor, Normalize, then torchvision 0.13's Resize(size)
    on the tensor (shorter side = size, longer = int(size * long / short), bilinear, no antialias)."""
    x = torch.from_numpy(image).permute(2, 0, 1).float().div(255).unsqueeze(0)
    x = (x - MEAN) / STD
    h, w = image.shape[:2]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    out_size = (new_long, new_short) if w <= h else (new_short, new_long)
    return F.interpolate(x, size=out_size, mode="bilinear", align_corners=False)


@pytest.mark.parametrize(
    "shape,size", [((135, 240), 96), ((240, 135), 96), ((1080 // 5, 1920 // 5), 100), ((97, 97), 64)]
)
def test_downscale_equals_reference_pipeline(shape, size):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    geometry = Geometry.for_frame(*shape, size)
    ours = geometry.unpad(image_to_tensor(image, geometry, torch.device("cpu")))
    expected = reference_tensor(image, size)
    assert ours.shape == expected.shape
    assert torch.equal(ours.contiguous(), expected)


def test_antialias_is_an_option_that_departs_from_the_reference():
    image = np.random.default_rng(1).integers(0, 256, (135, 240, 3), dtype=np.uint8)
    geometry = Geometry.for_frame(135, 240, 96)
    smooth = geometry.unpad(image_to_tensor(image, geometry, torch.device("cpu"), antialias=True))
    assert not torch.allclose(smooth, reference_tensor(image, 96), atol=1e-3)
    native = Geometry.for_frame(96, 171, 96)  # not downscaled: antialias changes nothing
    small = image[:96, :171].copy()
    assert torch.equal(
        image_to_tensor(small, native, torch.device("cpu"), antialias=True),
        image_to_tensor(small, native, torch.device("cpu")),
    )
    assert InferenceConfig().antialias is False
    with pytest.raises(ConfigError, match="antialias"):
        InferenceConfig(antialias="yes")


def upscaled_caps(factor: int = 2):
    """The golden caps clip with every pixel repeated factor x factor: a plate larger than the
    processing size whose reference downscale (bilinear, no antialias) gives back the golden frames."""
    clip = load_npz("video_caps")
    frames = clip["frames"].repeat(factor, axis=1).repeat(factor, axis=2)
    masks = {int(f): clip["masks"][i].repeat(factor, 0).repeat(factor, 1) for i, f in enumerate(clip["annotated"])}
    return clip, frames, masks


def agreement_with_golden(expected: np.ndarray, ours: torch.Tensor, source: tuple[int, int]) -> tuple[float, float]:
    """(max |dp|, decisive argmax agreement) against the golden probabilities brought to the source
    resolution as the reference does (bilinear, align_corners=False)."""
    ref = F.interpolate(torch.from_numpy(expected).unsqueeze(0), size=source, mode="bilinear", align_corners=False)[
        0
    ].numpy()
    top2 = np.sort(ref, axis=0)[-2:]
    decisive = (top2[1] - top2[0]) >= 0.01
    error = float(np.abs(ours.numpy() - ref).max())
    agreement = float((ours.numpy().argmax(0) == ref.argmax(0))[decisive].mean()) if decisive.any() else 1.0
    return error, agreement


def test_downscaled_plate_matches_golden(golden_model):
    """First 12 frames of the 2x caps plate at --size 96 reproduce the golden run within its tolerances."""
    clip, frames, masks = upscaled_caps()
    config = InferenceConfig.from_mapping({**golden_json()["video_caps"]["config"], "size": 96})
    job = ShotJob(list(frames), masks, config, "xmempp", direction="forward", count=12)
    expected = clip["probs_xmempp"].astype(np.float32)
    for result in iter_job(golden_model, job):
        if result.index in masks:  # a reference frame returns the user's mask at its own resolution
            assert np.array_equal(result.probs.argmax(0).numpy(), masks[result.index])
            continue
        error, agreement = agreement_with_golden(expected[result.index], result.probs, frames.shape[1:3])
        assert error <= 5e-3 and agreement >= 0.999, (result.index, error, agreement)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["xmempp", "xmem"])
def test_process_on_downscaled_plate_matches_golden(golden_model, golden_checkpoint_path, tmp_path, mode):
    """`xmempp process` on the whole 2x caps plate with --size 96 agrees with the golden fixture."""
    from cli.app import app

    clip, frames, masks = upscaled_caps()
    (tmp_path / "frames").mkdir()
    (tmp_path / "masks").mkdir()
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / "frames" / f"f_{t:04d}.png")
    for t, mask in masks.items():
        write_palette_png(tmp_path / "masks" / f"f_{t:04d}.png", mask, davis_palette())
    config = tmp_path / "config.json"
    config.write_text(json.dumps(golden_json()["video_caps"]["config"]))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "process",
            "-v",
            str(tmp_path / "frames"),
            "-m",
            str(tmp_path / "masks"),
            "-o",
            str(out),
            "--model",
            str(golden_checkpoint_path),
            "--config",
            str(config),
            "--size",
            "96",
            "--mode",
            mode,
            "--alpha",
            "--alpha-bits",
            "16",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    expected = clip[f"probs_{mode}"].astype(np.float32)
    for t in range(len(frames)):
        if t in masks:
            continue
        alphas = []
        for object_id in (1, 2):
            path = out / "alpha" / str(object_id) / f"f_{t:04d}.png"
            alphas.append(np.asarray(Image.open(path), dtype=np.float32) / 65535)
        objects = np.stack(alphas)
        ours = torch.from_numpy(np.concatenate([1 - objects.sum(0, keepdims=True), objects]))
        error, agreement = agreement_with_golden(expected[t], ours, frames.shape[1:3])
        assert error <= 5e-3 + 2e-5 and agreement >= 0.999, (t, error, agreement)
