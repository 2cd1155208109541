"""Annotation masks: exact palette / grayscale / RGB reading, pairing with frames, bad masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from iohelpers import shared_data, square_mask, write_palette_png
from xmempp.errors import InputError
from xmempp.inference.objects import ObjectOrder
from xmempp.io.masks import (
    MAX_OBJECTS,
    ColorTable,
    LabeledMask,
    davis_palette,
    mask_frame_index,
    output_palette,
    read_mask,
    read_mask_folder,
)

NAMES = [f"shot_a_{n}" for n in range(1001, 1011)]


def test_davis_palette_formula():
    pal = davis_palette()
    assert pal.shape == (256, 3) and pal.dtype == np.uint8
    assert pal[:9].tolist() == [
        [0, 0, 0],
        [128, 0, 0],
        [0, 128, 0],
        [128, 128, 0],
        [0, 0, 128],
        [128, 0, 128],
        [0, 128, 128],
        [128, 128, 128],
        [64, 0, 0],
    ]
    assert pal[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in pal}) == 256


def test_davis_palette_matches_the_example_annotations():
    with Image.open(shared_data("chair", "Annotations", "frame_000000.png")) as image:
        np.testing.assert_array_equal(np.array(image.getpalette()).reshape(-1, 3), davis_palette())


def test_palette_png_indices_are_ids_and_palette_is_kept(tmp_path):
    pal = davis_palette()
    pal[3] = (10, 200, 30)
    ids = square_mask(20, 30, {3: (2, 2, 8, 8), 7: (10, 10, 18, 25)})
    mask = read_mask(write_palette_png(tmp_path / "m.png", ids, pal))
    np.testing.assert_array_equal(mask.ids, ids)
    assert mask.object_ids == [3, 7] and mask.size == (20, 30)
    assert mask.palette[3].tolist() == [10, 200, 30]


def test_grayscale_values_are_ids(tmp_path):
    ids = square_mask(20, 30, {1: (0, 0, 5, 5), 2: (6, 6, 10, 10), 255: (12, 12, 20, 20)})
    Image.fromarray(ids).save(tmp_path / "l.png")
    mask = read_mask(tmp_path / "l.png")
    np.testing.assert_array_equal(mask.ids, ids)
    assert mask.palette is None
    cv2.imwrite(str(tmp_path / "i16.png"), ids.astype(np.uint16))
    np.testing.assert_array_equal(read_mask(tmp_path / "i16.png").ids, ids)
    cv2.imwrite(str(tmp_path / "scaled16.png"), ids.astype(np.uint16) * 257)  # 8-bit ids saved as 16-bit
    np.testing.assert_array_equal(read_mask(tmp_path / "scaled16.png").ids, ids)
    cv2.imwrite(str(tmp_path / "big16.png"), (ids.astype(np.uint16) * 300))
    with pytest.raises(InputError, match=r"big16\.png.*above 255"):
        read_mask(tmp_path / "big16.png")


def test_rgb_colours_map_exactly(tmp_path):
    pal = davis_palette()
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[0:4, 10:14] = (255, 255, 255)  # not a DAVIS colour, first in row-major order
    rgb[5:9, 0:4] = pal[2]  # DAVIS index 2
    rgb[10:14, 0:4] = (1, 2, 3)  # another custom colour
    rgb[15:19, 0:4] = pal[5]  # DAVIS index 5
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    mask = read_mask(tmp_path / "rgb.png")
    assert mask.ids[0, 10] == 6 and mask.ids[5, 0] == 2 and mask.ids[10, 0] == 7 and mask.ids[15, 0] == 5
    assert mask.ids[19, 29] == 0
    assert mask.object_ids == [2, 5, 6, 7]
    # the palette restores the exact colours, so writing ids with it gives the input back
    np.testing.assert_array_equal(mask.palette[mask.ids], rgb)


def test_rgba_transparent_pixels_are_background(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., :3] = (200, 10, 10)  # colour everywhere...
    rgba[2:5, 2:5] = (128, 0, 0, 255)  # ...but only this square is opaque
    Image.fromarray(rgba).save(tmp_path / "a.png")
    mask = read_mask(tmp_path / "a.png")
    assert mask.object_ids == [1] and int(mask.ids.sum()) == 9


def test_anti_aliased_masks_are_binarised_at_the_threshold(tmp_path):
    ids = np.zeros((64, 64), np.uint8)
    cv2.circle(ids, (32, 32), 20, 255, -1)
    soft = cv2.GaussianBlur(ids, (9, 9), 3)
    rgb = np.dstack([soft, soft // 2, np.zeros_like(soft)])
    Image.fromarray(rgb).save(tmp_path / "soft.png")
    mask = read_mask(tmp_path / "soft.png")
    assert mask.object_ids == [1]
    np.testing.assert_array_equal(mask.ids > 0, soft >= 128)
    Image.fromarray(soft).save(tmp_path / "soft_gray.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "soft_gray.png", threshold=0.9).ids > 0, soft >= 0.9 * 255)


def test_edge_noise_that_is_no_blend_is_refused(tmp_path):
    ids = np.zeros((64, 64), np.uint8)
    cv2.circle(ids, (32, 32), 20, 255, -1)
    rgb = np.dstack([ids, ids, np.zeros_like(ids)])
    edge = (cv2.dilate(ids, np.ones((3, 3), np.uint8)) > 0) & (ids == 0)
    rgb[edge] = (10, 200, 250)  # a colour between the object and black that is no mix of them
    rgb[edge & (np.arange(64)[None, :] % 2 == 0)] = (250, 3, 90)
    Image.fromarray(rgb).save(tmp_path / "noisy.png")
    with pytest.raises(InputError, match=r"noisy\.png is ambiguous.*flat colour per object"):
        read_mask(tmp_path / "noisy.png")


def test_jpeg_mask_is_refused(tmp_path):
    Image.fromarray(square_mask(10, 10, {1: (0, 0, 5, 5)}) * 255).save(tmp_path / "m.jpg")
    with pytest.raises(InputError, match=r"m\.jpg.*PNG"):
        read_mask(tmp_path / "m.jpg")


def test_folder_pairs_by_stem_and_checks_size(tmp_path):
    pal = davis_palette()
    write_palette_png(tmp_path / "shot_a_1003.png", square_mask(20, 30, {1: (0, 0, 5, 5)}), pal)
    write_palette_png(tmp_path / "shot_a_1008.png", square_mask(20, 30, {1: (0, 0, 5, 5), 4: (9, 9, 12, 12)}), pal)
    (tmp_path / ".DS_Store").write_bytes(b"x")
    masks = read_mask_folder(tmp_path, NAMES, (20, 30))
    assert list(masks) == [2, 7]
    assert all(isinstance(m, LabeledMask) for m in masks.values())
    with pytest.raises(InputError, match=r"shot_a_1003\.png is 30x20 but its frame is 40x20: another aspect ratio"):
        read_mask_folder(tmp_path, NAMES, (20, 40))


def test_mask_matching_no_frame(tmp_path):
    write_palette_png(tmp_path / "shot_b_1003.png", square_mask(20, 30, {1: (0, 0, 5, 5)}), davis_palette())
    with pytest.raises(InputError, match=r"shot_b_1003\.png matches no frame"):
        read_mask_folder(tmp_path, NAMES, (20, 30))


def test_empty_and_missing_mask_folder(tmp_path):
    with pytest.raises(InputError, match="is empty"):
        read_mask_folder(tmp_path, NAMES)
    (tmp_path / ".hidden.png").write_bytes(b"x")
    with pytest.raises(InputError, match="is empty"):
        read_mask_folder(tmp_path, NAMES)
    with pytest.raises(InputError, match="mask folder not found"):
        read_mask_folder(tmp_path / "nope", NAMES)


def test_non_image_in_mask_folder_is_named(tmp_path):
    write_palette_png(tmp_path / "shot_a_1001.png", square_mask(20, 30, {1: (0, 0, 5, 5)}), davis_palette())
    (tmp_path / "notes.txt").write_text("roto notes")
    with pytest.raises(InputError, match=r"notes\.txt in the mask folder is not an image"):
        read_mask_folder(tmp_path, NAMES)


def test_corrupt_png_in_mask_folder_is_named(tmp_path):
    path = write_palette_png(
        tmp_path / "shot_a_1001.png", np.random.default_rng(0).integers(0, 3, (50, 50), dtype=np.uint8), davis_palette()
    )
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match=r"shot_a_1001\.png"):
        read_mask_folder(tmp_path, NAMES)


def test_video_masks_pair_by_trailing_number(tmp_path):
    names = [f"{i:06d}" for i in range(30)]
    pal = davis_palette()
    for n in ("3", "0012", "frame_000020"):
        write_palette_png(tmp_path / f"{n}.png", square_mask(8, 8, {1: (0, 0, 2, 2)}), pal)
    assert list(read_mask_folder(tmp_path, names, (8, 8), by_index=True)) == [3, 12, 20]
    assert mask_frame_index("frame_000012") == 12 and mask_frame_index("mask") is None
    write_palette_png(tmp_path / "frame_30.png", square_mask(8, 8, {1: (0, 0, 2, 2)}), pal)
    notices: list[str] = []
    assert list(read_mask_folder(tmp_path, names, by_index=True, notices=notices)) == [3, 12, 20]
    assert notices == ["1 roto file(s) for frames outside 0..29 not used (frames 30)"]
    (tmp_path / "frame_30.png").unlink()
    write_palette_png(tmp_path / "12.png", square_mask(8, 8, {1: (0, 0, 2, 2)}), pal)
    with pytest.raises(InputError, match="two masks for frame 000012"):
        read_mask_folder(tmp_path, names, by_index=True)
    (tmp_path / "12.png").unlink()
    write_palette_png(tmp_path / "keyframe.png", square_mask(8, 8, {1: (0, 0, 2, 2)}), pal)
    with pytest.raises(InputError, match=r"keyframe\.png has no frame number"):
        read_mask_folder(tmp_path, names, by_index=True)


def test_rgb_masks_of_a_folder_share_one_numbering(tmp_path):
    a = np.zeros((10, 10, 3), np.uint8)
    a[0:3, 0:3] = (255, 255, 0)  # custom colour only
    b = np.zeros((10, 10, 3), np.uint8)
    b[0:3, 0:3] = (128, 0, 0)  # DAVIS 1
    b[5:8, 5:8] = (255, 255, 0)
    Image.fromarray(a).save(tmp_path / "shot_a_1001.png")
    Image.fromarray(b).save(tmp_path / "shot_a_1002.png")
    masks = read_mask_folder(tmp_path, NAMES)
    assert masks[0].ids[0, 0] == masks[1].ids[5, 5] == 2  # yellow is 2 in both frames
    assert masks[1].ids[0, 0] == 1
    np.testing.assert_array_equal(masks[0].palette, masks[1].palette)


def test_colour_table_runs_out_politely():
    table = ColorTable()
    with pytest.raises(InputError, match="ran past 255"):
        table.add(range(1000, 1300))
    assert MAX_OBJECTS < 255


def test_object_order_follows_first_appearance():
    masks = {
        14: square_mask(8, 8, {9: (0, 0, 2, 2), 2: (4, 4, 6, 6)}),
        0: square_mask(8, 8, {5: (0, 0, 2, 2)}),
        30: square_mask(8, 8, {7: (0, 0, 2, 2), 5: (4, 4, 6, 6)}),
    }
    order = ObjectOrder.from_masks(masks)
    assert order.ids == (5, 2, 9, 7) and len(order) == 4
    small = order.to_channels(masks[14])
    assert set(np.unique(small)) == {0, 2, 3}
    np.testing.assert_array_equal(order.to_ids(small), masks[14])


def test_output_palette_prefers_a_palette_mask():
    gray = LabeledMask(np.zeros((2, 2), np.uint8), None)
    pal = LabeledMask(np.zeros((2, 2), np.uint8), davis_palette())
    assert output_palette({0: gray}) is None
    assert output_palette({0: gray, 5: pal}) is pal.palette


def test_real_caps_annotations():
    from xmempp.io.sources import open_frames

    frames = open_frames(shared_data("caps", "JPEGImages"))
    masks = read_mask_folder(shared_data("caps", "Annotations"), frames.names, frames.size)
    assert sorted(masks) == [0, 14, 33, 43, 66]
    assert masks[0].object_ids == [1] and masks[33].object_ids == [1, 2]
    assert ObjectOrder.from_masks({i: m.ids for i, m in masks.items()}).ids == (1, 2)
