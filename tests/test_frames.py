"""Frame sources: folders of images and streamed videos, natural order, bad frames, prefetch."""

from __future__ import annotations

import threading
import time
import warnings

import cv2
import numpy as np
import pytest
from PIL import Image

from iohelpers import colour_frame, shared_data, write_video
from xmempp.errors import InputError
from xmempp.io.frames import FolderFrames, prefetch
from xmempp.io.images import natural_key
from xmempp.io.sources import open_frames
from xmempp.io.video_frames import VideoFrames


def test_natural_order_keeps_vfx_numbering(tmp_path):
    stems = [f"shot_a_{n}" for n in (1003, 999, 1001, 1000, 1002)]
    for s in stems:
        Image.fromarray(colour_frame(0)).save(tmp_path / f"{s}.png")
    frames = open_frames(tmp_path)
    assert frames.names == ["shot_a_999", "shot_a_1000", "shot_a_1001", "shot_a_1002", "shot_a_1003"]
    assert sorted(["a_10", "a_2", "a_1"], key=natural_key) == ["a_1", "a_2", "a_10"]
    assert sorted(["a1", "a", "1a", "A2", "a01"], key=natural_key) == ["1a", "a", "a01", "a1", "A2"]


def test_folder_formats_are_read_as_rgb8(tmp_path):
    rgb = colour_frame(3)
    Image.fromarray(rgb).save(tmp_path / "f_0001.png")
    Image.fromarray(rgb).save(tmp_path / "f_0002.jpg", quality=95)
    cv2.imwrite(str(tmp_path / "f_0003.png"), (rgb[..., ::-1].astype(np.uint16) * 257))  # 16-bit RGB PNG
    cv2.imwrite(str(tmp_path / "f_0004.tif"), rgb[..., ::-1])
    cv2.imwrite(str(tmp_path / "f_0005.png"), rgb[..., 0].astype(np.uint16) * 257)  # 16-bit grayscale
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])).save(tmp_path / "f_0006.png")
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "._f_0001.png").write_bytes(b"junk")
    frames = open_frames(tmp_path)
    assert isinstance(frames, FolderFrames) and not frames.is_video
    assert frames.names == [f"f_000{i}" for i in range(1, 7)]
    assert frames.size == (48, 64) and len(frames) == 6
    for frame in frames:
        assert frame.dtype == np.uint8 and frame.shape == (48, 64, 3)
    np.testing.assert_array_equal(frames[0], rgb)
    assert np.abs(frames[1].astype(int) - rgb).mean() < 3
    np.testing.assert_array_equal(frames[2], rgb)
    np.testing.assert_array_equal(frames[3], rgb)
    np.testing.assert_array_equal(frames[4], np.repeat(rgb[..., :1], 3, axis=2))
    np.testing.assert_array_equal(frames[-1], rgb)


def test_missing_path_names_it(tmp_path):
    with pytest.raises(InputError, match="video or frame folder not found: .*nope.mp4"):
        open_frames(tmp_path / "nope.mp4")


def test_empty_folder_and_folder_without_frames(tmp_path):
    with pytest.raises(InputError, match="no frames found"):
        open_frames(tmp_path)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(InputError, match=r"no frames found.*\.txt"):
        open_frames(tmp_path)


def test_single_image_is_refused(tmp_path):
    Image.fromarray(colour_frame(0)).save(tmp_path / "one.png")
    with pytest.raises(InputError, match="single image"):
        open_frames(tmp_path / "one.png")


def test_corrupt_frame_names_the_file(tmp_path):
    for i in range(3):
        Image.fromarray(colour_frame(i)).save(tmp_path / f"f_{i}.jpg")
    (tmp_path / "f_1.jpg").write_bytes(b"this is not a jpeg at all")
    with pytest.raises(InputError, match=r"f_1\.jpg"):  # every header is read up front
        open_frames(tmp_path)


def test_truncated_frame_names_the_file(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(2):
        for name in (f"f_{i}.jpg", f"g_{i}.png"):
            (tmp_path / name[0]).mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / name[0] / name)
    for name in ("f/f_1.jpg", "g/g_1.png"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"f_1\.jpg.*truncated"):
        open_frames(tmp_path / "f")[1]
    with pytest.raises(InputError, match=r"g_1\.png"):
        open_frames(tmp_path / "g")[1]


def test_frame_of_another_size_is_refused(tmp_path):
    Image.fromarray(colour_frame(0)).save(tmp_path / "f_0.png")
    Image.fromarray(colour_frame(1, 40, 64)).save(tmp_path / "f_1.png")
    with pytest.raises(InputError, match=r"f_1\.png is 64x40 but the first frame f_0\.png is 64x48"):
        open_frames(tmp_path)  # before any frame is decoded


def test_gap_in_a_jpeg_folder_is_refused_before_the_first_frame(tmp_path):
    for n in (1003, 1004, 1006, 1007):
        Image.fromarray(colour_frame(0)).save(tmp_path / f"sh030.{n}.jpg")
    with pytest.raises(InputError, match=r"gap: frame\(s\) 1005 \(sh030\.1005\.jpg\) missing between 1003 and 1007"):
        open_frames(tmp_path)


@pytest.mark.parametrize("link", ["dangling", "loop"])
def test_broken_or_looping_link_is_a_missing_frame(tmp_path, link):
    for n in (1004, 1006):
        Image.fromarray(colour_frame(0)).save(tmp_path / f"sh030.{n}.jpg")
    target = tmp_path / "sh030.1005.jpg" if link == "loop" else tmp_path / "gone.jpg"
    (tmp_path / "sh030.1005.jpg").symlink_to(target)
    with pytest.raises(InputError, match="sh030.1005.jpg is " + ("a link loop" if link == "loop" else "a broken link")):
        open_frames(tmp_path)


def test_two_sequences_in_one_folder_are_refused(tmp_path):
    for head in ("sh010.", "sh020."):
        for n in (1001, 1002):
            Image.fromarray(colour_frame(0)).save(tmp_path / f"{head}{n}.png")
    with pytest.raises(InputError, match=r"holds 2 sequences: sh010\.#### \(2 frames, 1001-1002\), sh020\.####"):
        open_frames(tmp_path)


@pytest.mark.parametrize("bad", ["empty", "tiny"])
def test_zero_byte_or_one_pixel_frame_is_refused_up_front(tmp_path, bad):
    for n in range(3):
        Image.fromarray(colour_frame(0)).save(tmp_path / f"f_{n}.png")
    if bad == "empty":
        (tmp_path / "f_2.png").write_bytes(b"")
    else:
        Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "f_2.png")
    with pytest.raises(InputError, match=r"f_2\.png(: not an image| is 1x1)"):
        open_frames(tmp_path)


def test_duplicate_stems_are_refused(tmp_path):
    Image.fromarray(colour_frame(0)).save(tmp_path / "f_0.png")
    Image.fromarray(colour_frame(0)).save(tmp_path / "f_0.jpg")
    with pytest.raises(InputError, match="share the name"):
        open_frames(tmp_path)


@pytest.mark.parametrize("suffix,codec", [(".mp4", "libx264"), (".mkv", "libx264"), (".avi", "mpeg4")])
def test_video_is_streamed_with_random_access(tmp_path, suffix, codec):
    source = [colour_frame(i) for i in range(40)]
    path = write_video(tmp_path / f"clip{suffix}", source, codec=codec, gop=6)
    frames = open_frames(path)
    assert isinstance(frames, VideoFrames) and frames.is_video
    assert len(frames) == 40 and frames.size == (48, 64) and frames.fps == pytest.approx(25)
    assert frames.names[:2] == ["000000", "000001"] and frames.names[-1] == "000039"
    sequential = list(frames)
    assert len(sequential) == 40
    for i, frame in enumerate(sequential):
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        assert np.abs(frame.astype(int) - source[i]).mean() < 8, i
    opened = []
    real_open = frames._open
    frames._open = lambda: opened.append(1) or real_open()
    for i in [0, 1, 2, 39, 20, 21, 5, 30, 3, 3, 38, -1]:
        np.testing.assert_array_equal(frames[i], sequential[i])
    # going backwards seeks to a key frame already seen instead of decoding from the start each time
    assert len(opened) <= 3
    frames.close()
    np.testing.assert_array_equal(frames[7], sequential[7])


def test_video_frame_count_without_header_uses_a_demux_pass(tmp_path):
    av = pytest.importorskip("av")
    path = write_video(tmp_path / "clip.mkv", [colour_frame(i) for i in range(17)])
    with av.open(str(path)) as container:
        assert not container.streams.video[0].frames  # Matroska headers carry no frame count
    assert len(open_frames(path)) == 17


def test_garbage_and_truncated_video_are_refused(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000 + b"definitely not a video")
    with pytest.raises(InputError, match=r"bad\.mp4"):
        open_frames(bad)
    good = write_video(tmp_path / "cut.mp4", [colour_frame(i) for i in range(30)])
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.mp4"):
        frames = open_frames(good)
        list(frames)


def test_prefetch_keeps_order_and_reraises_reader_errors():
    assert list(prefetch(range(50), depth=3)) == list(range(50))

    def failing():
        yield 1
        yield 2
        raise InputError("frame 3 is broken")

    got = []
    with pytest.raises(InputError, match="frame 3 is broken"):
        for item in prefetch(failing()):
            got.append(item)
    assert got == [1, 2]


def test_prefetch_reads_ahead_and_stops_when_left_early():
    produced = []

    def slow():
        for i in range(1000):
            produced.append(i)
            yield i

    gen = prefetch(slow(), depth=4)
    assert next(gen) == 0
    time.sleep(0.2)
    assert 2 <= len(produced) <= 7  # read ahead, but bounded
    gen.close()
    time.sleep(0.1)
    assert len(produced) < 20
    assert not any(t.name == "xmempp-prefetch" and t.is_alive() for t in threading.enumerate())


def test_real_clips_folder_and_video():
    caps = open_frames(shared_data("caps", "JPEGImages"))
    assert len(caps) == 87 and caps.names[0] == "frame_000000" and caps.names[-1] == "frame_000086"
    assert caps[0].shape == caps.size + (3,)
    video = open_frames(shared_data("chair", "chair.mp4"))
    folder = open_frames(shared_data("chair", "JPEGImages"))
    assert len(video) == len(folder) == 60 and video.size == folder.size
    for i in (0, 31, 59, 10):
        assert np.abs(video[i].astype(int) - folder[i]).mean() < 6


def _encode(path, stamps):
    from fractions import Fraction

    import av

    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
    stream.codec_context.time_base = Fraction(1, 1000)
    for i, pts in enumerate(stamps):
        frame = av.VideoFrame.from_ndarray(colour_frame(i, 96, 128), format="rgb24")
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def test_variable_frame_rate_video_is_reported(tmp_path):
    from xmempp.errors import XMemppWarning

    _encode(tmp_path / "cfr.mp4", [40 * i for i in range(12)])
    _encode(tmp_path / "vfr.mp4", [0, 40, 80, 200, 240, 400, 440, 480, 600, 640, 680, 800])
    with warnings.catch_warnings():
        warnings.simplefilter("error", XMemppWarning)
        assert len(open_frames(tmp_path / "cfr.mp4")) == 12
    with pytest.warns(XMemppWarning, match="variable frame rate"):
        assert len(open_frames(tmp_path / "vfr.mp4")) == 12


def test_damaged_video_stops_with_an_error_instead_of_garbage_frames(tmp_path):
    import random

    _encode(tmp_path / "v.mp4", [40 * i for i in range(40)])
    data = bytearray((tmp_path / "v.mp4").read_bytes())
    start, end = data.find(b"mdat") + 200, data.find(b"moov") - 50
    rng = random.Random(0)
    for _ in range(20):
        data[rng.randrange(start, end)] ^= 0xFF
    (tmp_path / "bad.mp4").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"bad\.mp4 is damaged or truncated \(invalid data at frame \d+\)"):
        frames = open_frames(tmp_path / "bad.mp4")
        for i in range(len(frames)):
            frames[i]
