"""Atomic writes, the result writer's files, the preview video, and output-folder safety."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from iohelpers import colour_frame
from xmempp.errors import OutputError
from xmempp.io.atomic import TEMP_PREFIX, atomic_open, atomic_write_bytes, atomic_write_image
from xmempp.io.masks import davis_palette, read_mask
from xmempp.io.sources import open_frames
from xmempp.io.writers import ResultWriter, WriterOptions, check_output_dir, overlay_image, probs_to_ids

H, W = 24, 32


def leftovers(folder):
    return [p for p in folder.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def make_probs(t: int) -> np.ndarray:
    """Three channels (background, object A, object B) with known winners and soft values."""
    probs = np.zeros((3, H, W), np.float32)
    probs[0] = 0.6
    probs[1, :, : W // 2] = 0.7 + 0.01 * t
    probs[2, H // 2 :, W // 2 :] = 0.9
    probs[1, 0, 0] = 0.25
    probs /= probs.sum(0, keepdims=True)
    return probs


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "a.bin"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert leftovers(tmp_path) == []


def test_failed_atomic_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "a.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_open(target) as f:
        f.write(b"half of the new con")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_unwritable_destination_is_an_output_error(tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(OutputError, match="blocker"):
        atomic_write_bytes(tmp_path / "blocker" / "x.png", b"data")


def test_atomic_image_round_trip(tmp_path):
    ids = np.arange(W * H, dtype=np.uint8).reshape(H, W) % 4
    atomic_write_image(tmp_path / "m.png", ids, palette=davis_palette())
    with Image.open(tmp_path / "m.png") as image:
        assert image.mode == "P"
        np.testing.assert_array_equal(np.array(image), ids)
    matte = (np.linspace(0, 65535, W * H).reshape(H, W)).astype(np.uint16)
    atomic_write_image(tmp_path / "a.png", matte)
    with Image.open(tmp_path / "a.png") as image:
        np.testing.assert_array_equal(np.array(image), matte)


def test_result_writer_writes_every_output(tmp_path):
    pal = davis_palette()
    pal[3] = (1, 2, 3)
    pal[7] = (250, 20, 200)
    opts = WriterOptions(
        alpha=True, alpha_bits=16, binary=True, overlay=True, preview=tmp_path / "out" / "p.mp4", preview_fps=12
    )
    out = tmp_path / "out"
    with ResultWriter(out, pal, [3, 7], opts) as writer:
        for t, stem in enumerate(["shot_a_1001", "shot_a_1002", "shot_a_1003"]):
            probs = make_probs(t)
            writer.submit(stem, colour_frame(t, H, W), torch.from_numpy(probs) if t == 1 else probs)
    assert writer.written == 3
    probs = make_probs(0)
    expected = probs_to_ids(probs, [3, 7])
    assert set(np.unique(expected)) == {0, 3, 7}
    with Image.open(out / "masks" / "shot_a_1001.png") as image:
        assert image.mode == "P" and image.size == (W, H)
        assert np.array(image.getpalette()).reshape(-1, 3)[7].tolist() == [250, 20, 200]
    mask = read_mask(out / "masks" / "shot_a_1001.png")
    np.testing.assert_array_equal(mask.ids, expected)
    with Image.open(out / "alpha" / "7" / "shot_a_1001.png") as image:
        alpha = np.array(image).astype(np.float64) / 65535
    assert np.abs(alpha - probs[2]).max() <= 1 / 65535
    with Image.open(out / "binary" / "3" / "shot_a_1002.png") as image:
        binary = np.array(image)
    assert set(np.unique(binary)) <= {0, 255}
    np.testing.assert_array_equal(binary == 255, probs_to_ids(make_probs(1), [3, 7]) == 3)
    assert sorted(p.name for p in (out / "overlay").iterdir()) == [
        "shot_a_1001.jpg",
        "shot_a_1002.jpg",
        "shot_a_1003.jpg",
    ]
    video = open_frames(out / "p.mp4")
    assert len(video) == 3 and video.size == (H, W)
    assert leftovers(tmp_path) == []


def test_alpha_8_bit_and_grayscale_masks_without_palette(tmp_path):
    with ResultWriter(tmp_path, None, [255], WriterOptions(alpha=True, alpha_bits=8)) as writer:
        probs = np.stack([np.full((H, W), 0.3, np.float32), np.full((H, W), 0.7, np.float32)])
        probs[1, :4] = 0.1
        writer.submit("f", None, probs)
    with Image.open(tmp_path / "masks" / "f.png") as image:
        assert image.mode == "L"
        ids = np.array(image)
    assert ids[0, 0] == 0 and ids[10, 10] == 255
    with Image.open(tmp_path / "alpha" / "255" / "f.png") as image:
        assert image.mode == "L" and np.array(image)[10, 10] == round(0.7 * 255)


def test_writer_error_is_reraised_by_close(tmp_path):
    (tmp_path / "masks").write_text("a file where the masks folder should be")
    writer = ResultWriter(tmp_path, davis_palette(), [1])
    with pytest.raises(OutputError, match="masks"):
        for t in range(50):
            writer.submit(f"f{t}", None, make_probs(0)[:2])
        writer.close()


def test_leaving_with_an_exception_stops_and_leaves_only_complete_files(tmp_path):
    with (
        pytest.raises(KeyboardInterrupt),
        ResultWriter(
            tmp_path, davis_palette(), [1, 2], WriterOptions(alpha=True, preview=tmp_path / "p.mp4")
        ) as writer,
    ):
        for t in range(20):
            writer.submit(f"f{t:03d}", colour_frame(t, H, W), make_probs(t))
        raise KeyboardInterrupt
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "p.mp4").exists()
    for path in (tmp_path / "masks").glob("*.png"):
        read_mask(path)  # every file that exists is complete


def test_submit_checks_shapes(tmp_path):
    with ResultWriter(tmp_path, None, [1, 2], WriterOptions(overlay=True)) as writer:
        with pytest.raises(ValueError, match="probs"):
            writer.submit("f", colour_frame(0, H, W), make_probs(0)[:2])
        with pytest.raises(ValueError, match="frame"):
            writer.submit("f", colour_frame(0, H + 1, W), make_probs(0))


def test_overlay_blends_objects_only():
    frame = colour_frame(0, H, W)
    ids = np.zeros((H, W), np.uint8)
    ids[:5] = 1
    over = overlay_image(frame, ids, davis_palette(), 0.5)
    np.testing.assert_array_equal(over[5:], frame[5:])
    assert not np.array_equal(over[:5], frame[:5])


def test_check_output_dir_refuses_existing_results(tmp_path):
    out = tmp_path / "out"
    assert check_output_dir(out) == out and out.is_dir()
    (out / "notes.txt").write_text("mine")
    (out / "masks").mkdir()
    check_output_dir(out)  # unrelated files and empty result folders are fine
    (out / "alpha" / "1").mkdir(parents=True)
    (out / "alpha" / "1" / "f.png").write_bytes(b"x")
    with pytest.raises(OutputError, match=r"already holds results \(alpha/\)") as refused:
        check_output_dir(out)
    assert refused.value.remedy is not None and refused.value.remedy.setting == "overwrite"
    with pytest.raises(OutputError, match=r"files xmempp did not write \(alpha/1/f\.png\)"):
        check_output_dir(out, overwrite=True)  # not written by xmempp: --overwrite leaves it alone
    (out / "p.mp4").write_bytes(b"x")
    with pytest.raises(OutputError, match=r"p\.mp4 already exists"):
        check_output_dir(tmp_path / "other", preview=out / "p.mp4")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        check_output_dir(tmp_path / "file")


def test_overwrite_replaces_only_files_xmempp_wrote(tmp_path):
    out = tmp_path / "out"
    with ResultWriter(out, davis_palette(), [1]) as writer:
        writer.submit("f", None, make_probs(0)[:2])
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="already holds results"):
        check_output_dir(out)
    check_output_dir(out, overwrite=True)
    with ResultWriter(out, davis_palette(), [1]) as writer:
        writer.submit("f", None, make_probs(3)[:2])
    assert read_mask(out / "masks" / "f.png").ids.shape == (H, W)
    assert (out / "notes.txt").read_text() == "keep me"
    (out / "masks" / "roto_v002.png").write_bytes(b"the user's roto")
    with pytest.raises(OutputError, match=r"did not write \(masks/roto_v002\.png\)"):
        check_output_dir(out, overwrite=True)
    with pytest.raises(OutputError, match=r"roto_v002\.png exists and was not written by xmempp"):
        with ResultWriter(out, davis_palette(), [1]) as writer:  # the writer refuses too
            writer.submit("roto_v002", None, make_probs(0)[:2])
    assert (out / "masks" / "roto_v002.png").read_bytes() == b"the user's roto"


def test_output_folder_overlapping_an_input_is_refused(tmp_path):
    masks = tmp_path / "shot" / "masks"
    masks.mkdir(parents=True)
    for out, word in ((tmp_path / "shot", "contains"), (masks, "is"), (masks / "out", "is inside")):
        with pytest.raises(OutputError, match=f"{word} the input folder"):
            check_output_dir(out, inputs=[masks])
    assert check_output_dir(tmp_path / "results", inputs=[masks]).is_dir()


def test_backpressure_bounds_the_queue(tmp_path):
    opts = WriterOptions(workers=1, queue_size=2, fsync=False)
    with ResultWriter(tmp_path, davis_palette(), [1], opts) as writer:
        for t in range(30):
            writer.submit(f"f{t:02d}", None, make_probs(t)[:2])
            assert writer._queue.qsize() <= 2
    assert len(os.listdir(tmp_path / "masks")) == 30


def test_written_files_get_normal_permissions(tmp_path):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    umask = os.umask(0o022)
    os.umask(umask)
    atomic_write_bytes(tmp_path / "a.png", b"x")
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o666 & ~umask
