"""`xmempp process` with production roto: EXR roto by channel on an overscan plate, per-object folders with names
into Cryptomatte and EXR layers, roto outside the frames, `--overwrite` removing the earlier run's other files."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli.app import app
from iohelpers import shared_data
from platehelpers import OpenEXR, srgb_to_linear, write_exr
from xmempp.io.manifest import MANIFEST_NAME

cryptomatte_api = pytest.importorskip("cryptomatte_api")
runner = CliRunner()
H, W = 48, 64
NUMBERS = range(1001, 1004)


@pytest.fixture(scope="module")
def chair(tmp_path_factory):
    jpegs = shared_data("chair", "JPEGImages")
    mask = np.array(Image.open(shared_data("chair", "Annotations", "frame_000000.png")))
    root = tmp_path_factory.mktemp("chair")
    frames = [
        cv2.resize(
            np.array(Image.open(jpegs / f"frame_{i:06d}.jpg").convert("RGB")), (W, H), interpolation=cv2.INTER_AREA
        )
        for i in range(len(NUMBERS))
    ]
    (root / "plates").mkdir()
    for n, rgb in zip(NUMBERS, frames):
        Image.fromarray(rgb).save(root / "plates" / f"chair.{n}.png")
    return root, frames, cv2.resize(mask, (W, H), interpolation=cv2.INTER_NEAREST) > 0


def process(*args):
    result = runner.invoke(app, ["process", *map(str, args)], catch_exceptions=False)
    return result, " ".join(result.output.split())


def test_exr_roto_on_the_display_window_of_an_overscan_plate(chair, checkpoint_path, tmp_path):
    _root, frames, chair_mask = chair
    plates, roto = tmp_path / "plates", tmp_path / "roto"
    plates.mkdir(), roto.mkdir()
    for n, rgb in zip(NUMBERS, frames):  # overscan: the data window 8 px larger than the display on every side
        big = cv2.copyMakeBorder(rgb, 8, 8, 8, 8, cv2.BORDER_REFLECT)
        write_exr(plates / f"p.{n}.exr", srgb_to_linear(big), origin=(-8, -8), display=(W, H))
    display_roto = chair_mask.astype(np.float16)  # roto drawn on the display window (64x48)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    zeros = np.zeros_like(display_roto)
    OpenEXR.File(header, {"R": zeros, "G": zeros, "B": zeros, "chair.mask": display_roto}).write(
        str(roto / "roto.1001.exr")
    )
    result, _text = process(
        "-v",
        plates / "p.####.exr",
        "-m",
        roto,
        "-o",
        tmp_path / "out",
        "--model",
        checkpoint_path,
        "--size",
        -1,
        "--mask-channel",
        "chair.mask",
        "--names",
        "255=chair",
        "--cryptomatte",
        "--exr-layers",
    )
    assert result.exit_code == 0, result.output
    first = np.array(Image.open(tmp_path / "out" / "masks" / "p.1001.png"))
    assert first.shape == (H + 16, W + 16)  # on the data window
    np.testing.assert_array_equal(first[8:-8, 8:-8] > 0, chair_mask)
    assert not first[:8].any() and not first[:, :8].any()  # outside the display window: background
    (crypto,) = cryptomatte_api.Cryptomatte.load(str(tmp_path / "out" / "cryptomatte" / "cryptomatte.1002.exr"))
    coverage = crypto.masks()["chair"]
    index = np.array(Image.open(tmp_path / "out" / "masks" / "p.1002.png")) > 0
    assert coverage.shape == (H + 16, W + 16) and np.mean((coverage > 0.5) == index) > 0.99
    layers = OpenEXR.File(str(tmp_path / "out" / "layers" / "matte.1002.exr"), separate_channels=True)
    assert list(layers.channels()) == ["chair.A"]


def test_object_folders_half_res_roto_outside_frames_and_overwrite(chair, checkpoint_path, tmp_path):
    root, _frames, chair_mask = chair
    roto = tmp_path / "roto"
    left, right = chair_mask.copy(), chair_mask.copy()
    middle = int(np.median(np.nonzero(chair_mask)[1]))  # split the chair into two objects
    left[:, middle:], right[:, :middle] = False, False
    for name, part in (("seat", left), ("back_2", right)):
        (roto / name).mkdir(parents=True)
        half = cv2.resize(part.astype(np.float32), (W // 2, H // 2), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(roto / name / "chair.1001.png"), np.rint(half * 65535).astype(np.uint16))
        cv2.imwrite(str(roto / name / "chair.1090.png"), np.rint(half * 65535).astype(np.uint16))  # past the plate
    out = tmp_path / "out"
    result, text = process(
        "-v",
        root / "plates",
        "-m",
        roto,
        "-o",
        out,
        "--model",
        checkpoint_path,
        "--size",
        -1,
        "--cryptomatte",
        "--binary",
    )
    assert result.exit_code == 0, result.output
    assert "scaled to the plate's 64x48" in text
    assert "roto file(s) for frames outside 1001..1003 not used (frames 1090)" in text
    first = np.array(Image.open(out / "masks" / "chair.1001.png"))
    assert set(np.unique(first)) == {0, 1, 2}  # seat: first free id 1, back_2: id 2
    (crypto,) = cryptomatte_api.Cryptomatte.load(str(out / "cryptomatte" / "cryptomatte.1001.exr"))
    assert sorted(crypto.masks()) == ["back_2", "seat"]  # folder names are the object names
    (out / "keep.txt").write_text("not ours")
    result, text = process(
        "-v", root / "plates", "-m", roto, "-o", out, "--model", checkpoint_path, "--size", -1, "--overwrite"
    )  # a whole-shot run: a chunk (--frames) never removes other chunks' files
    assert result.exit_code == 0, result.output
    assert re.search(r"removed \d+ file\(s\) of the earlier run that this run did not write", text), text
    assert not (out / "binary").exists() and not (out / "cryptomatte").exists()
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"chair.{n}.png" for n in (1001, 1002, 1003)]
    assert (out / "keep.txt").exists()
    listed = (out / MANIFEST_NAME).read_text().split()
    assert sorted(listed) == [f"masks/chair.{n}.png" for n in (1001, 1002, 1003)]
