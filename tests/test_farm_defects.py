"""Defects found on the farm (issue 36): each test failed before its fix."""

from __future__ import annotations

import time

import numpy as np
import pytest

from xmempp.io.sequences import FrameInfo
from xmempp.io.writers import ResultWriter, WriterOptions

oiio = pytest.importorskip("OpenImageIO")


def _write_every_exr(out, frame, probs):
    options = WriterOptions(
        masks=False,
        alpha=True,
        matte_format="exr",
        exr_layers=True,
        cryptomatte=True,
        foreground=True,
        fsync=False,
        workers=1,
    )
    with ResultWriter(out, None, [1, 2], options) as writer:
        writer.submit("plate.1001", frame, probs, FrameInfo(1001, 4))
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.exr"))}


def test_exr_outputs_are_byte_identical_when_written_again_later(tmp_path):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    probs = np.zeros((3, 12, 16), np.float32)
    probs[1, :, :8], probs[2, :, 8:] = 0.9, 0.6
    probs[0] = 1 - probs[1] - probs[2]
    first = _write_every_exr(tmp_path / "a", frame, probs)
    time.sleep(1.1)  # OpenImageIO's DateTime has one-second steps
    second = _write_every_exr(tmp_path / "b", frame, probs)
    assert {str(p.parts[0]) for p in first} == {"alpha", "layers", "cryptomatte", "rgba"}
    assert first.keys() == second.keys()
    for name, data in first.items():
        assert data == second[name], f"{name} differs by bytes"
        inp = oiio.ImageInput.open(str(tmp_path / "a" / name))
        attribs = {a.name for a in inp.spec().extra_attribs}
        inp.close()
        assert "DateTime" not in attribs


@pytest.mark.parametrize("spelling", [["--log-format", "json"], ["--log-format=json"]])
def test_log_format_json_words_option_and_setting_errors_as_json_lines(tmp_path, spelling):
    import json

    from PIL import Image
    from typer.testing import CliRunner

    from xmempp.cli.app import create_app

    (tmp_path / "frames").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "frames" / "00000.png")
    mask = np.zeros((16, 16), np.uint8)
    mask[4:8, 4:8] = 1
    Image.fromarray(mask).save(tmp_path / "masks" / "00000.png")
    (tmp_path / "latin1.json").write_bytes(b'{"size": 480, "note": "caf\xe9"}')
    process = ["process", "-v", str(tmp_path / "frames"), "-m", str(tmp_path / "masks"), "-o", str(tmp_path / "out")]
    cases = [
        ["--size", "999999"],
        ["--mode", "foo"],
        ["--threads", "-3"],
        ["--checkpoint-every", "bogus"],
        ["--config", str(tmp_path / "latin1.json")],
    ]
    for case in cases:
        result = CliRunner().invoke(create_app(), [*process, *case, *spelling])
        assert result.exit_code != 0, case
        lines = result.stderr.strip().splitlines()
        assert lines, case
        for line in lines:
            record = json.loads(line)  # every line a JSON object, no plain `error:` line
            assert record["event"] in ("error", "warning"), (case, line)
        assert [json.loads(line)["event"] for line in lines].count("error") == 1, (case, lines)
    # an old spelling's deprecation notice is a JSON warning too
    result = CliRunner().invoke(create_app(), ["batch", "--devices", "cpu", str(tmp_path / "missing.csv"), *spelling])
    assert result.exit_code != 0
    events = [json.loads(line)["event"] for line in result.stderr.strip().splitlines()]
    assert events == ["warning", "error"]


def test_candidates_takes_a_frame_range_of_a_video_as_process_does(tmp_path, checkpoint_path):
    import json

    from typer.testing import CliRunner

    from iohelpers import colour_frame, write_palette_png, write_video
    from xmempp.cli.app import create_app
    from xmempp.io.masks import davis_palette

    clip = write_video(tmp_path / "clip.mp4", [colour_frame(i) for i in range(16)])
    masks = tmp_path / "masks"
    masks.mkdir()
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 20:40] = 1
    write_palette_png(masks / "000004.png", mask, davis_palette())
    common = [
        "-v",
        str(clip),
        "-m",
        str(masks),
        "--model",
        str(checkpoint_path),
        "--size",
        "-1",
        "--device",
        "cpu",
        "-q",
        "--frames",
        "4-11",
    ]
    result = CliRunner().invoke(create_app(), ["candidates", *common, "-k", "3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["references"] == [{"frame": 4, "name": "000004", "index": 0}]
    assert len(data["candidates"]) == 3
    assert all(5 <= c["frame"] <= 11 and c["name"] == f"{c['frame']:06d}" for c in data["candidates"])
    # process takes the same range of the same video
    result = CliRunner().invoke(create_app(), ["process", *common, "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.stem for p in (tmp_path / "out" / "masks").glob("*.png")) == [f"{n:06d}" for n in range(4, 12)]
    # a range the video lacks is refused by both in one line, naming what it has
    for command in ("candidates", "process"):
        args = [command, *common[:-1], "10-20", *(["-o", str(tmp_path / "out2")] if command == "process" else [])]
        result = CliRunner().invoke(create_app(), args)
        assert result.exit_code != 0 and "has no frame(s) 16, 17, 18, 19, 20" in result.stderr, result.stderr


def test_truncated_or_damaged_mp4_is_named_in_words_without_ffmpeg_error_numbers(tmp_path, checkpoint_path):
    import random

    from typer.testing import CliRunner

    from iohelpers import colour_frame, write_video
    from test_frames import _encode
    from xmempp.cli.app import create_app
    from xmempp.errors import InputError
    from xmempp.io.sources import open_frames

    whole = write_video(tmp_path / "whole.mp4", [colour_frame(i) for i in range(30)]).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])  # the index (moov) at the end is gone
    with pytest.raises(InputError) as info:
        open_frames(cut)
    message = str(info.value)
    assert "cut.mp4" in message and "damaged or truncated" in message and "invalid data" in message, message
    assert "Errno" not in message and "1094995529" not in message and "\n" not in message
    (tmp_path / "masks").mkdir()
    result = CliRunner().invoke(
        create_app(),
        [
            "process",
            "-v",
            str(cut),
            "-m",
            str(tmp_path / "masks"),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(checkpoint_path),
        ],
    )
    assert result.exit_code != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "Errno" not in result.stderr, result.stderr
    # damaged data inside the stream: the frame where decoding stopped, in words
    _encode(tmp_path / "v.mp4", [40 * i for i in range(40)])
    data = bytearray((tmp_path / "v.mp4").read_bytes())
    start, end = data.find(b"mdat") + 200, data.find(b"moov") - 50
    rng = random.Random(0)
    for _ in range(20):
        data[rng.randrange(start, end)] ^= 0xFF
    (tmp_path / "bad.mp4").write_bytes(bytes(data))
    with pytest.raises(InputError) as info:
        frames = open_frames(tmp_path / "bad.mp4")
        for i in range(len(frames)):
            frames[i]
    message = str(info.value)
    assert "is damaged or truncated (invalid data at frame" in message and "Errno" not in message, message
