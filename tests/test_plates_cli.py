"""`xmempp process` on production plates end to end: EXR (half/float, RGBA, data windows, multi-part), DPX,
16-bit PNG; linear EXR of the chair clip = its sRGB JPEGs; EXR mattes read back with OpenEXR; bad plates."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli.app import app
from iohelpers import shared_data
from platehelpers import OpenEXR, cineon_codes, srgb_to_linear, write_exr, write_multipart_exr, write_oiio

runner = CliRunner()
H, W = 64, 96
NUMBERS = range(1001, 1005)


@pytest.fixture(scope="module")
def chair(tmp_path_factory):
    """Four chair frames (read in place from ../shared, downsized) as sRGB PNGs, and the first frame's mask."""
    jpegs = shared_data("chair", "JPEGImages")
    mask = np.array(Image.open(shared_data("chair", "Annotations", "frame_000000.png")))
    root = tmp_path_factory.mktemp("chair")
    frames = []
    for i in range(len(NUMBERS)):
        rgb = np.array(Image.open(jpegs / f"frame_{i:06d}.jpg").convert("RGB"))
        frames.append(cv2.resize(rgb, (W, H), interpolation=cv2.INTER_AREA))
    (root / "srgb").mkdir()
    for n, rgb in zip(NUMBERS, frames):
        Image.fromarray(rgb).save(root / "srgb" / f"chair.{n}.png")
    ids = cv2.resize(mask, (W, H), interpolation=cv2.INTER_NEAREST)
    (root / "roto").mkdir()
    Image.fromarray(ids * 255).save(root / "roto" / "sh010_roto_v002.1001.png")  # named after the roto layer
    return root, frames


def invoke(*args):
    return runner.invoke(app, ["process", *map(str, args)], catch_exceptions=False)


def process(plates, roto, out, checkpoint, *extra):
    result = invoke("-v", plates, "-m", roto, "-o", out, "--model", checkpoint, "--size", -1, "-q", *extra)
    assert result.exit_code == 0, result.output
    return out


def masks_of(out):
    return {p.stem: np.array(Image.open(p)) for p in sorted((out / "masks").glob("*.png"))}


@pytest.fixture(scope="module")
def reference(chair, checkpoint_path, tmp_path_factory):
    """Masks of the sRGB PNG frames (the JPEGs' pixels)."""
    root, _ = chair
    return masks_of(process(root / "srgb", root / "roto", tmp_path_factory.mktemp("ref") / "out", checkpoint_path))


def agreement(a: dict, b: dict) -> float:
    assert [k.split(".")[-1] for k in a] == [k.split(".")[-1] for k in b]
    return float(np.mean([np.mean(x == y) for x, y in zip(a.values(), b.values())]))


def test_linear_exr_of_the_chair_gives_the_srgb_masks_and_numbered_exr_mattes(
    chair, reference, checkpoint_path, tmp_path
):
    root, frames = chair
    plates = tmp_path / "plates"
    plates.mkdir()
    for n, rgb in zip(NUMBERS, frames):
        write_exr(plates / f"sh010_plate_v001.{n}.exr", srgb_to_linear(rgb))
    out = process(
        plates / "sh010_plate_v001.####.exr",
        root / "roto",
        tmp_path / "out",
        checkpoint_path,
        "--matte-format",
        "exr",
        "--exr-layers",
        "--overlay",
    )
    ours = masks_of(out)
    assert list(ours) == [f"sh010_plate_v001.{n}" for n in NUMBERS]
    assert agreement(ours, reference) >= 0.999  # the EXR decodes to the JPEGs' pixels (8-bit quantisation)
    for n in NUMBERS:
        layered = OpenEXR.File(str(out / "layers" / f"matte.{n}.exr"), separate_channels=True)
        assert list(layered.channels()) == ["obj255.A"]
        single = OpenEXR.File(str(out / "alpha" / "255" / f"sh010_plate_v001.{n}.exr"), separate_channels=True)
        np.testing.assert_array_equal(single.channels()["A"].pixels, layered.channels()["obj255.A"].pixels)
    overlay = np.array(Image.open(out / "overlay" / "sh010_plate_v001.1002.jpg"))
    background = ours["sh010_plate_v001.1002"] == 0
    assert np.abs(overlay[background].astype(int) - frames[1][background]).mean() < 4  # previews use the sRGB pixels


def _rgba_window(folder, frames):
    for n, rgb in zip(NUMBERS, frames):  # data window inside a larger display window (overscan crop)
        write_exr(folder / f"p.{n}.exr", srgb_to_linear(rgb), alpha=np.ones((H, W)), origin=(16, 8), display=(128, 96))
    return folder / "p.%04d.exr", ()


def _float(folder, frames):
    for n, rgb in zip(NUMBERS, frames):
        write_exr(folder / f"p.{n}.exr", srgb_to_linear(rgb), np.float32)
    return folder / "p.@@@@.exr", ()


def _multipart(folder, frames):
    for n, rgb in zip(NUMBERS, frames):
        write_multipart_exr(folder / f"p.{n}.exr", srgb_to_linear(rgb))
    return folder, ("--layer", "beauty")


def _dpx(folder, frames):
    for n, rgb in zip(NUMBERS, frames):
        codes = np.clip(np.rint(cineon_codes(srgb_to_linear(rgb))), 0, 1023).astype(np.uint16)
        write_oiio(folder / f"scan.{n}.dpx", (codes << 6) | (codes >> 4), "uint16", bits=10)
    return folder / "scan.%04d.dpx", ()


def _png16(folder, frames):
    for n, rgb in zip(NUMBERS, frames):
        cv2.imwrite(str(folder / f"p.{n}.png"), cv2.cvtColor(rgb.astype(np.uint16) * 257, cv2.COLOR_RGB2BGR))
    return folder / "p.%04d.png", ()


@pytest.mark.parametrize(
    "make",
    [
        _rgba_window,
        _dpx,  # the readers of the others have fast unit tests
        pytest.param(_float, marks=pytest.mark.slow),
        pytest.param(_multipart, marks=pytest.mark.slow),
        pytest.param(_png16, marks=pytest.mark.slow),
    ],
    ids=["half-rgba-window", "dpx10-cineon", "float", "multipart-layer", "png16"],
)
def test_plate_formats_end_to_end(chair, reference, checkpoint_path, tmp_path, make):
    root, frames = chair
    (tmp_path / "plates").mkdir()
    plates, extra = make(tmp_path / "plates", frames)
    out = process(
        plates, root / "roto", tmp_path / "out", checkpoint_path, "--exr-layers", "--compression", "dwaa", *extra
    )
    assert agreement(masks_of(out), reference) >= 0.995  # DPX: 10-bit log codes, within 8-bit quantisation
    header = OpenEXR.File(str(out / "layers" / "matte.1004.exr"), header_only=True).header()
    assert header["compression"] == OpenEXR.DWAA_COMPRESSION
    if make is _rgba_window:
        assert [list(v) for v in header["dataWindow"]] == [[16, 8], [16 + W - 1, 8 + H - 1]]
        assert [list(v) for v in header["displayWindow"]] == [[0, 0], [127, 95]]


def test_video_start_frame_numbers_masks_and_outputs(chair, checkpoint_path, tmp_path):
    from iohelpers import write_video

    root, frames = chair
    video = write_video(tmp_path / "plate.mp4", frames)
    out = process(video, root / "roto", tmp_path / "out", checkpoint_path, "--start-frame", 1001, "--exr-layers")
    assert sorted(p.name for p in (out / "layers").iterdir()) == [f"matte.{n}.exr" for n in NUMBERS]
    assert sorted(masks_of(out)) == [str(n) for n in NUMBERS]


def _bad_plates(tmp_path, frames, case):
    folder = tmp_path / "plates"
    folder.mkdir()
    numbers = [1001, 1002, 1004] if case == "gap" else list(NUMBERS)
    for i, n in enumerate(numbers):
        rgb = frames[i % len(frames)]
        if case == "no-colour":
            OpenEXR.File({}, {"Z": np.zeros((H, W), np.float32)}).write(str(folder / f"p.{n}.exr"))
        else:
            write_exr(folder / f"p.{n}.exr", srgb_to_linear(rgb[: H - 8] if case == "sizes" and i == 2 else rgb))
    pattern = folder / ("q.####.exr" if case == "no-match" else "p.####.exr")
    extra = ("--colorspace", "Arri LogC9") if case == "colourspace" else ()
    return pattern, extra


@pytest.mark.parametrize(
    "case, words",
    [
        ("no-colour", ["p.1001.exr has no colour channels", "channels: Z"]),
        ("gap", ["gap", "1003 missing", "--frames"]),
        ("sizes", ["p.1003.exr is 96x56", "same size"]),
        ("no-match", ["q.####.exr", "matches no files"]),
        ("colourspace", ["unknown colour space 'Arri LogC9'", "--colorspace"]),
    ],
)
def test_bad_plates_fail_with_one_line_and_write_nothing(chair, checkpoint_path, tmp_path, case, words):
    root, frames = chair
    pattern, extra = _bad_plates(tmp_path, frames, case)
    out = tmp_path / "out"
    result = invoke("-v", pattern, "-m", root / "roto", "-o", out, "--model", checkpoint_path, "-q", *extra)
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for word in words:
        assert word in lines[0], lines[0]
    assert not out.exists()


def test_output_folder_around_the_roto_is_refused(chair, checkpoint_path, tmp_path):
    root, _ = chair
    result = invoke("-v", root / "srgb", "-m", root / "roto", "-o", root, "--model", checkpoint_path, "-q")
    assert result.exit_code == 3 and "contains the input folder" in " ".join(result.output.split())
    assert not (root / "masks").exists()
