"""Plates and colour, without the network: patterns, EXR/DPX/16-bit readers, OCIO, roto pairing, EXR mattes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from platehelpers import OpenEXR, cineon_codes, srgb_to_linear, write_exr, write_multipart_exr, write_oiio
from xmempp.cli.remedies import cli_message
from xmempp.errors import ConfigError, InputError, OutputError
from xmempp.io import colour
from xmempp.io.colour import ColourOptions, converter_for
from xmempp.io.manifest import MANIFEST_NAME
from xmempp.io.masks import read_mask_folder
from xmempp.io.sequences import FrameInfo, find_sequence, parse_frame_range
from xmempp.io.sources import open_frames
from xmempp.io.writers import ResultWriter, WriterOptions

H, W = 24, 32
RNG = np.random.default_rng(7)
IMAGE = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


def touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return folder


@pytest.mark.parametrize("token", ["%04d", "####", "@@@@"])
def test_patterns_find_the_sequence(tmp_path, token):
    touch(tmp_path, *(f"plate.{n}.exr" for n in range(1001, 1006)), "plate.999.exr", "other.1001.exr")
    seq = find_sequence(tmp_path / f"plate.{token}.exr")
    assert seq.numbers == (1001, 1002, 1003, 1004, 1005) and seq.padding == 4  # 999 has 3 digits: not in it
    assert seq.pattern.endswith("plate.%04d.exr") and seq.name_of(1001, head="matte.") == "matte.1001.exr"
    assert find_sequence(tmp_path / f"plate.{token}.exr", parse_frame_range("1002-1003")).numbers == (1002, 1003)


def test_sequence_errors_name_the_problem(tmp_path):
    touch(tmp_path, "plate.1001.exr", "plate.1002.exr", "plate.1005.exr")
    with pytest.raises(InputError, match=r"gap: frame\(s\) 1003-1004 missing"):
        find_sequence(tmp_path / "plate.####.exr")
    with pytest.raises(InputError, match=r"lacks frames 1003-1004 of the requested 1001-1005"):
        find_sequence(tmp_path / "plate.####.exr", (1001, 1005))
    with pytest.raises(InputError, match=r"no frames in 2001-2002"):
        find_sequence(tmp_path / "plate.####.exr", (2001, 2002))
    with pytest.raises(InputError, match="matches no files"):
        find_sequence(tmp_path / "plate_v2.####.exr")
    touch(tmp_path, "bg.1001.exr")
    with pytest.raises(InputError, match=r"2 different sequences .*plate\.%04d\.exr.*give the one you want"):
        find_sequence(tmp_path)
    for bad in ("10-1", "abc", "1001-"):
        with pytest.raises(InputError, match="frame range"):
            parse_frame_range(bad)


def test_linearised_srgb_exr_comes_back_exactly(tmp_path):
    for n in (1001, 1002):
        write_exr(tmp_path / f"half.{n}.exr", srgb_to_linear(IMAGE))
        write_exr(tmp_path / f"float.{n}.exr", srgb_to_linear(IMAGE), np.float32, alpha=np.full((H, W), 0.5))
    for name in ("half", "float"):
        frames = open_frames(tmp_path / f"{name}.%04d.exr")
        assert frames.names == [f"{name}.1001", f"{name}.1002"] and frames.frame_numbers == [1001, 1002]
        assert frames.size == (H, W) and frames.converter.source == colour.LINEAR
        np.testing.assert_array_equal(frames[1], IMAGE)


def test_exr_layers_and_parts(tmp_path):
    write_multipart_exr(tmp_path / "mp.1001.exr", srgb_to_linear(IMAGE))
    with pytest.raises(InputError, match=r"no colour channels \(R, G, B\) in its first part \(channels: Z\)") as no_rgb:
        open_frames(tmp_path / "mp.####.exr")
    assert "use --layer (one of depth, beauty)" in cli_message(no_rgb.value)
    np.testing.assert_array_equal(open_frames(tmp_path / "mp.####.exr", layer="beauty")[0], IMAGE)
    with pytest.raises(InputError, match="no colour channels in layer 'spec'"):
        open_frames(tmp_path / "mp.####.exr", layer="spec")
    lin = srgb_to_linear(IMAGE)
    channels = {f"diffuse.{c}": np.ascontiguousarray(lin[..., i], np.float16) for i, c in enumerate("RGB")}
    channels["Z"] = np.zeros((H, W), np.float32)
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, channels).write(str(tmp_path / "aov.1001.exr"))
    np.testing.assert_array_equal(open_frames(tmp_path / "aov.%04d.exr", layer="diffuse")[0], IMAGE)


def test_dpx_cineon_and_16_bit_sequences(tmp_path):
    codes = np.clip(np.rint(cineon_codes(srgb_to_linear(IMAGE))), 0, 1023).astype(np.uint16)
    for n in (1, 2):
        write_oiio(tmp_path / f"scan.{n:04d}.dpx", (codes << 6) | (codes >> 4), "uint16", bits=10)
        cv2.imwrite(str(tmp_path / f"p16.{n:04d}.png"), cv2.cvtColor(IMAGE.astype(np.uint16) * 257, cv2.COLOR_RGB2BGR))
        write_oiio(tmp_path / f"t16.{n:04d}.tif", IMAGE.astype(np.uint16) * 257, "uint16")
    dpx = open_frames(tmp_path / "scan.%04d.dpx")
    assert dpx.converter.source == colour.CINEON
    assert np.abs(dpx[0].astype(int) - IMAGE).max() <= 1  # 10-bit log codes: within 8-bit quantisation
    for pattern in ("p16.####.png", "t16.####.tif"):
        np.testing.assert_array_equal(open_frames(tmp_path / pattern)[1], IMAGE)


def test_folder_of_exr_is_a_sequence_and_bad_folders_are_named(tmp_path):
    for n in (1001, 1002, 1004):
        write_exr(tmp_path / f"plate.{n}.exr", srgb_to_linear(IMAGE))
    with pytest.raises(InputError, match=r"gap: frame\(s\) 1003 missing"):
        open_frames(tmp_path)
    assert len(open_frames(tmp_path, frames=(1001, 1002))) == 2
    write_exr(tmp_path / "plate.1003.exr", srgb_to_linear(IMAGE[:20]))
    with pytest.raises(InputError, match=r"plate\.1003\.exr is 32x20 but the first frame plate\.1001\.exr is 32x24"):
        open_frames(tmp_path)
    with pytest.raises(InputError, match="single image"):
        open_frames(tmp_path / "plate.1001.exr")
    nocolour = tmp_path / "z"
    nocolour.mkdir()
    OpenEXR.File({}, {"Z": np.zeros((H, W), np.float32)}).write(str(nocolour / "depth.1001.exr"))
    with pytest.raises(InputError, match=r"depth\.1001\.exr has no colour channels.*re-render it"):
        open_frames(nocolour)


def test_colour_spaces_views_and_ocio_env(tmp_path, monkeypatch):
    write_exr(tmp_path / "plate.1001.exr", srgb_to_linear(IMAGE) * 4.0)  # over-exposed by two stops
    plain = open_frames(tmp_path / "plate.####.exr")[0]
    assert plain.max() == 255 and (plain == 255).mean() > 0.3  # clipped, not tone-mapped
    aces = open_frames(tmp_path / "plate.####.exr", colour=ColourOptions(view="ACES 2.0 - SDR 100 nits (Rec.709)"))
    assert (aces[0] == 255).mean() < (plain == 255).mean()  # the view rolls highlights off
    as_acescg = open_frames(tmp_path / "plate.####.exr", colour=ColourOptions("ACEScg"))[0]
    assert not np.array_equal(as_acescg, plain)
    with pytest.raises(ConfigError, match="unknown colour space 'Linear P3'.*Linear P3-D65") as unknown:
        open_frames(tmp_path / "plate.####.exr", colour=ColourOptions("Linear P3"))
    assert unknown.value.remedy.setting == "colorspace"
    with pytest.raises(ConfigError, match="unknown view 'Filmic'"):
        converter_for("linear", ColourOptions(view="Filmic"))
    monkeypatch.setenv("OCIO", "ocio://cg-config-latest")  # $OCIO wins: its scene_linear role is ACEScg
    assert converter_for("linear").source == "ACEScg"
    monkeypatch.setenv("OCIO", str(tmp_path / "missing.ocio"))
    with pytest.raises(ConfigError, match=r"cannot load the OCIO config .*missing\.ocio"):
        converter_for("linear")


def test_4k_decode_uses_the_half_table(tmp_path):
    """A 4K half frame converts through the 65536-entry table, exactly like OCIO on every pixel."""
    conv = converter_for("linear")
    half = (RNG.random((2160, 64, 3)) * 1.5).astype(np.float16)
    fast = conv.to_display(half)
    exact = half.astype(np.float32)
    conv._apply(np.ascontiguousarray(exact))
    conv_exact = colour._quantise(exact)
    np.testing.assert_array_equal(fast, conv_exact)


def test_roto_pairs_with_plates_by_frame_number(tmp_path):
    names = [f"sh010_plate_v001.{n}" for n in range(1001, 1011)]
    ids = np.zeros((8, 8), np.uint8)
    ids[2:6, 2:6] = 1
    for stem in ("sh010_roto_v002.1003", "sh010_roto_v002.1007"):
        Image.fromarray(ids).save(tmp_path / f"{stem}.png")
    masks = read_mask_folder(tmp_path, names, (8, 8), frame_numbers=range(1001, 1011))
    assert sorted(masks) == [2, 6]
    Image.fromarray(ids).save(tmp_path / "sh010_roto_v002.1020.png")
    notices: list[str] = []
    assert sorted(read_mask_folder(tmp_path, names, (8, 8), frame_numbers=range(1001, 1011), notices=notices)) == [2, 6]
    assert notices == ["1 roto file(s) for frames outside 1001..1010 not used (frames 1020)"]
    (tmp_path / "sh010_roto_v002.1020.png").unlink()
    Image.fromarray(ids).save(tmp_path / "roto.1007.png")
    with pytest.raises(InputError, match="two masks for frame sh010_plate_v001.1007"):
        read_mask_folder(tmp_path, names, (8, 8), frame_numbers=range(1001, 1011))
    (tmp_path / "roto.1007.png").unlink()
    Image.fromarray(ids).save(tmp_path / "sh010_plate_v001.1005.png")  # one stem matches: pairing is by stem
    with pytest.raises(InputError, match=r"sh010_roto_v002\.1003\.png matches no frame"):
        read_mask_folder(tmp_path, names, (8, 8), frame_numbers=range(1001, 1011))


def test_soft_keyframes_from_a_compositor(tmp_path):
    """Two flat colours with feathered edges (as rendered out of Nuke): two objects, split at the threshold."""
    big = np.zeros((200, 200, 3), np.float32)
    cv2.rectangle(big, (20, 20), (120, 180), (1, 0, 0), -1)
    cv2.rectangle(big, (100, 40), (180, 160), (0, 0.5, 1), -1)
    small = cv2.resize(big, (50, 50), interpolation=cv2.INTER_AREA)
    Image.fromarray(np.rint(small * 255).astype(np.uint8)).save(tmp_path / "f.1001.png")
    alpha = cv2.GaussianBlur((small[..., 0] > 0.5).astype(np.float32), (7, 7), 2)
    rgba = np.dstack([np.full((50, 50, 3), 255, np.uint8), np.rint(alpha * 255).astype(np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "f.1002.png")
    cv2.imwrite(str(tmp_path / "f.1003.png"), np.rint(alpha * 65535).astype(np.uint16))
    masks = read_mask_folder(tmp_path, ["f.1001", "f.1002", "f.1003"], (50, 50))
    first = masks[0].ids
    assert len(masks[0].object_ids) == 2
    red, blue = first[30, 10], first[25, 40]
    np.testing.assert_array_equal(first == red, small[..., 0] >= 0.5)
    np.testing.assert_array_equal(first == blue, small[..., 2] >= 0.5)
    np.testing.assert_array_equal(masks[1].ids > 0, np.rint(alpha * 255) >= 127.5)  # not alpha > 0
    np.testing.assert_array_equal(masks[2].ids > 0, np.rint(alpha * 65535) >= 32767.5)
    loose = read_mask_folder(tmp_path, ["f.1001", "f.1002", "f.1003"], (50, 50), threshold=0.1)
    assert (loose[1].ids > 0).sum() > (masks[1].ids > 0).sum()


def test_exr_mattes_keep_numbers_windows_and_channel_names(tmp_path):
    probs = np.zeros((3, H, W), np.float32)
    probs[0], probs[1, :, :10], probs[2, 10:, 10:] = 0.2, 0.75, 0.6
    info = FrameInfo(1001, 4, (8, 4, W, H), (0, 0, 64, 48))
    options = WriterOptions(alpha=True, matte_format="exr", exr_layers=True, compression="piz", fsync=False)
    with ResultWriter(tmp_path, None, [3, 7], options) as writer:
        writer.submit("plate.1001", None, probs, info)
    layered = OpenEXR.File(str(tmp_path / "layers" / "matte.1001.exr"), separate_channels=True)
    header, channels = layered.header(), layered.channels()
    assert sorted(channels) == ["obj3.A", "obj7.A"]
    assert channels["obj3.A"].pixels.dtype == np.float16
    np.testing.assert_allclose(channels["obj3.A"].pixels, probs[1], atol=1e-3)
    assert [list(v) for v in header["dataWindow"]] == [[8, 4], [8 + W - 1, 4 + H - 1]]
    assert [list(v) for v in header["displayWindow"]] == [[0, 0], [63, 47]]
    assert header["compression"] == OpenEXR.PIZ_COMPRESSION
    single = OpenEXR.File(str(tmp_path / "alpha" / "7" / "plate.1001.exr"), separate_channels=True)
    assert list(single.channels()) == ["A"]
    np.testing.assert_allclose(single.channels()["A"].pixels, probs[2], atol=1e-3)
    tiff = WriterOptions(masks=False, alpha=True, alpha_bits=16, matte_format="tiff", fsync=False)
    with ResultWriter(tmp_path / "t", None, [3, 7], tiff) as writer:
        writer.submit("plate.1001", None, probs, info)
    matte = cv2.imread(str(tmp_path / "t" / "alpha" / "3" / "plate.1001.tif"), cv2.IMREAD_UNCHANGED)
    assert matte.dtype == np.uint16 and matte[0, 0] == round(0.75 * 65535)
    assert "layers/matte.1001.exr" in (tmp_path / MANIFEST_NAME).read_text().splitlines()
    with pytest.raises(ValueError, match="compression 'dwaa' does not apply to tiff"):
        WriterOptions(matte_format="tiff", compression="dwaa")


def test_written_exr_is_atomic_on_failure(tmp_path):
    (tmp_path / "layers").mkdir()
    (tmp_path / "layers" / "matte.1001.exr").write_bytes(b"someone else's")
    probs = np.full((2, H, W), 0.5, np.float32)
    with pytest.raises(OutputError, match="not written by xmempp"):
        with ResultWriter(tmp_path, None, [1], WriterOptions(masks=False, exr_layers=True, fsync=False)) as writer:
            writer.submit("plate.1001", None, probs, FrameInfo(1001, 4))
    assert (tmp_path / "layers" / "matte.1001.exr").read_bytes() == b"someone else's"
