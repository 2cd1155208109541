"""Every roto form artists hand over: soft grey mattes with several objects, EXR roto by channel, per-object
folders, proxy-resolution roto, roto on the display window of overscan / cropped EXR plates."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from platehelpers import OpenEXR
from xmempp.errors import InputError
from xmempp.io.masks import read_mask, read_mask_folder

N, SMALL = 400, 100


def two_objects(low: int, high: int = 255, soften: str = "area"):
    """A disc at grey `low` touching a rectangle at `high`, on black, anti-aliased; and the truth per pixel."""
    disc = np.zeros((N, N), np.float32)
    cv2.circle(disc, (130, 200), 90, 1, -1)
    rect = np.zeros((N, N), np.float32)
    cv2.rectangle(rect, (200, 80), (340, 320), 1.0, -1)
    disc *= 1 - rect
    big = disc * low / 255 + rect * high / 255
    small = cv2.resize(big, (SMALL, SMALL), interpolation=cv2.INTER_AREA)  # area-downscale anti-aliasing
    if soften == "blur":
        small = cv2.GaussianBlur(small, (0, 0), 1.2)
    d = cv2.resize(disc, (SMALL, SMALL), interpolation=cv2.INTER_AREA)
    r = cv2.resize(rect, (SMALL, SMALL), interpolation=cv2.INTER_AREA)
    if soften == "blur":
        d, r = cv2.GaussianBlur(d, (0, 0), 1.2), cv2.GaussianBlur(r, (0, 0), 1.2)
    truth = np.where(np.maximum(d, r) < 0.5, 0, np.where(d > r, low, high)).astype(np.uint8)
    return np.rint(small * 255).astype(np.uint8), truth, (d, r)


@pytest.mark.parametrize("soften", ["area", "blur"])
@pytest.mark.parametrize("low", [16, 64, 100, 128, 160, 200, 240])
def test_soft_grey_matte_with_two_objects_keeps_both(tmp_path, low, soften):
    grey, truth, (disc, rect) = two_objects(low, soften=soften)
    Image.fromarray(grey).save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert mask.object_ids == [low, 255]  # neither lost nor merged into 255
    assert np.mean(mask.ids != truth) < 0.005  # edges go to the object whose edge they are
    assert mask.soft is not None
    for oid, coverage in ((255, rect), (low, disc)):  # the artist's edge kept per object
        error = np.abs(mask.matte(oid) - coverage)
        assert error.mean() < 0.004 and np.mean(error > 0.05) < 0.01, (oid, error.mean())


def test_soft_grey_levels_other_than_255_and_16_bit(tmp_path):
    grey, _truth, _ = two_objects(80, 170)
    Image.fromarray(grey).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").object_ids == [80, 170]
    grey16 = (grey.astype(np.uint16) * 257 + (grey > 0) * 3).astype(np.uint16)  # not 8-bit x 257
    cv2.imwrite(str(tmp_path / "m16.png"), grey16)
    assert read_mask(tmp_path / "m16.png").object_ids == [80, 170]


def test_a_single_feathered_matte_stays_one_object(tmp_path):
    ids = np.zeros((120, 120), np.uint8)
    cv2.circle(ids, (60, 60), 35, 255, -1)
    for sigma in (1.0, 3.0, 6.0):
        soft = cv2.GaussianBlur(ids, (0, 0), sigma)
        Image.fromarray(soft).save(tmp_path / "f.png")
        mask = read_mask(tmp_path / "f.png")
        assert mask.object_ids == [255], sigma
        np.testing.assert_array_equal(mask.ids > 0, soft >= 128)


def staircase(band: int) -> np.ndarray:
    grey = np.zeros((120, 200), np.uint8)
    grey[20:100, 20:100] = 255
    grey[20:100, 100 : 100 + band] = 150
    grey[20:100, 100 + band : 190] = 60
    return cv2.resize(grey, (87, 52), interpolation=cv2.INTER_AREA)  # anti-aliased


def test_truly_ambiguous_matte_is_refused_naming_the_levels(tmp_path):
    Image.fromarray(staircase(8)).save(tmp_path / "a.png")  # a flat 3-pixel band between 255 and 60: object or step?
    with pytest.raises(
        InputError,
        match=r"a\.png is ambiguous: the value 150 is a thin band between 60 and 255.*"
        r"values seen: (60|150|255), (60|150|255), (60|150|255)\)",
    ) as err:
        read_mask(tmp_path / "a.png")
    assert "one matte per object" in str(err.value)
    Image.fromarray(staircase(40)).save(tmp_path / "b.png")  # the same values, the middle one wide: three objects
    assert read_mask(tmp_path / "b.png").object_ids == [60, 150, 255]


def write_exr_channels(path, channels: dict, data_origin=(0, 0), display=None):
    h, w = next(iter(channels.values())).shape
    x, y = data_origin
    dw, dh = display or (x + w, y + h)
    header = {
        "compression": OpenEXR.ZIP_COMPRESSION,
        "type": OpenEXR.scanlineimage,
        "dataWindow": (np.array([x, y], np.int32), np.array([x + w - 1, y + h - 1], np.int32)),
        "displayWindow": (np.array([0, 0], np.int32), np.array([dw - 1, dh - 1], np.int32)),
    }
    OpenEXR.File(header, {k: np.ascontiguousarray(v, np.float16) for k, v in channels.items()}).write(str(path))


def test_exr_roto_by_channel(tmp_path):
    matte = np.zeros((40, 60), np.float32)
    matte[10:30, 10:50] = 1.0
    matte[10:30, 50] = 0.5  # an anti-aliased edge
    rgb = np.zeros_like(matte)
    write_exr_channels(tmp_path / "r.1001.exr", {"R": rgb, "G": rgb, "B": rgb, "A": matte, "chair.mask": matte[::-1]})
    alpha = read_mask(tmp_path / "r.1001.exr")  # A by default
    assert alpha.object_ids == [255] and alpha.ids[20, 20] == 255 and alpha.ids[5, 5] == 0
    named = read_mask(tmp_path / "r.1001.exr", channel="chair.mask")
    np.testing.assert_array_equal(named.ids, alpha.ids[::-1])
    with pytest.raises(InputError, match=r"no channel 'hair\.mask' \(channels: .*chair\.mask"):
        read_mask(tmp_path / "r.1001.exr", channel="hair.mask")
    write_exr_channels(tmp_path / "two.exr", {"X": matte, "Y2": matte})
    with pytest.raises(InputError, match="several channels") as err:
        read_mask(tmp_path / "two.exr")
    assert err.value.remedy.setting == "mask_channel"


def test_per_object_folders_of_soft_mattes(tmp_path):
    roto = tmp_path / "roto"
    hair, jacket, prop = np.zeros((3, 30, 40), np.float32)
    hair[2:12, 2:20] = 1.0
    hair[2:12, 20] = 0.4  # a soft edge
    jacket[15:28, 5:35] = 1.0
    prop[0:5, 30:40] = 1.0
    for name, matte in (("hair", hair), ("jacket_7", jacket), ("prop", prop)):
        (roto / name).mkdir(parents=True)
        cv2.imwrite(str(roto / name / "roto.1001.png"), np.rint(matte * 65535).astype(np.uint16))
    write_exr_channels(roto / "prop" / "roto.1003.exr", {"A": prop})
    masks = read_mask_folder(
        roto, ["p.1001", "p.1002", "p.1003"], (30, 40), frame_numbers=[1001, 1002, 1003], notices=(notices := [])
    )
    assert sorted(masks) == [0, 2]
    first = masks[0]
    assert first.names == {1: "hair", 2: "prop", 7: "jacket_7"}  # trailing number, else folder order
    assert first.object_ids == [1, 2, 7]
    assert first.ids[5, 5] == 1 and first.ids[20, 10] == 7 and first.ids[2, 35] == 2
    assert first.matte(1)[5, 20] == pytest.approx(0.4, abs=1e-4)  # soft values kept
    assert masks[2].object_ids == [2]
    assert any("hair has no matte for frame p.1003" in n for n in notices)
    (roto / "stray.png").write_bytes((roto / "hair" / "roto.1001.png").read_bytes())
    with pytest.raises(InputError):  # files beside object folders
        read_mask_folder(roto, ["p.1001"], (30, 40), frame_numbers=[1001])


def test_half_resolution_roto_is_scaled_to_the_plate_with_a_notice(tmp_path):
    full = np.zeros((80, 120), np.uint8)
    cv2.ellipse(full, (60, 40), (40, 25), 0, 0, 360, 255, -1)
    half = cv2.resize(full, (60, 40), interpolation=cv2.INTER_AREA)
    Image.fromarray(half).save(tmp_path / "shot.1001.png")
    notices: list[str] = []
    masks = read_mask_folder(tmp_path, ["shot.1001"], (80, 120), notices=notices)
    assert masks[0].size == (80, 120)
    assert np.mean((masks[0].ids > 0) != (full > 0)) < 0.01
    assert notices == ["shot.1001.png is 60x40: scaled to the plate's 120x80"]
    with pytest.raises(InputError, match="another aspect ratio"):
        read_mask_folder(tmp_path, ["shot.1001"], (80, 100))


@pytest.mark.parametrize("layout", ["overscan", "crop"])
def test_display_window_roto_maps_onto_the_data_window(tmp_path, layout):
    display = (0, 0, 100, 60)
    data = (-10, -6, 120, 72) if layout == "overscan" else (20, 10, 50, 30)
    roto = np.zeros((60, 100), np.uint8)
    roto[20:40, 30:60] = 1
    write_png = Image.fromarray(roto * 255)
    write_png.save(tmp_path / "r.1001.png")
    masks = read_mask_folder(tmp_path, ["p.1001"], (data[3], data[2]), frame_numbers=[1001], windows=[(data, display)])
    ids = masks[0].ids
    assert ids.shape == (data[3], data[2])
    x, y = data[0], data[1]
    expected = np.zeros((data[3], data[2]), bool)
    for py in range(data[3]):
        for px in range(data[2]):
            dx, dy = px + x, py + y  # display coordinates
            expected[py, px] = 0 <= dx < 100 and 0 <= dy < 60 and roto[dy, dx] > 0
    np.testing.assert_array_equal(ids > 0, expected)


def test_exr_roto_with_its_own_data_window_is_placed_on_its_display_window(tmp_path):
    matte = np.ones((10, 20), np.float32)
    write_exr_channels(tmp_path / "r.exr", {"A": matte}, data_origin=(30, 5), display=(64, 32))
    mask = read_mask(tmp_path / "r.exr")
    assert mask.size == (32, 64)
    assert mask.ids[5:15, 30:50].all() and mask.ids.sum() == 255 * 200


@pytest.mark.parametrize("low", [64, 128, 200])
def test_soft_colour_matte_with_a_darker_shade_of_the_same_colour_keeps_both(tmp_path, low):
    grey, truth, _ = two_objects(low)
    Image.fromarray(np.dstack([grey, grey // 2, np.zeros_like(grey)])).save(tmp_path / "c.png")
    mask = read_mask(tmp_path / "c.png")
    assert len(mask.object_ids) == 2
    dark, bright = (mask.ids == i for i in sorted(mask.object_ids, key=lambda i: mask.palette[i][0]))
    assert np.mean(dark != (truth == low)) < 0.005 and np.mean(bright != (truth == 255)) < 0.005
