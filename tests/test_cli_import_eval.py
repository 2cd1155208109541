"""`xmempp import` and `xmempp eval` through typer's runner: results, and one red line per bad input."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from iohelpers import colour_frame, shared_data, square_mask, write_palette_png, write_video
from xmempp.cli.app import app
from xmempp.io.masks import davis_palette, read_mask


@pytest.fixture
def runner():
    return CliRunner()


def assert_one_line_error(result, *fragments):
    assert result.exit_code in (2, 3, 4, 5), result.output  # a reported error's cause (cli/exit_codes.py)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def small_shot(tmp_path, n=4):
    frames = tmp_path / "plates"
    masks = tmp_path / "roto"
    frames.mkdir()
    masks.mkdir()
    for i in range(n):
        Image.fromarray(colour_frame(i)).save(frames / f"shot_a_{1001 + i}.png")
    write_palette_png(masks / "shot_a_1002.png", square_mask(48, 64, {3: (0, 0, 9, 9)}), davis_palette())
    return frames, masks


def test_import_images_with_masks(runner, tmp_path):
    frames, masks = small_shot(tmp_path)
    result = runner.invoke(
        app,
        [
            "import",
            "--name",
            "shot_a",
            "--images",
            str(frames),
            "--masks",
            str(masks),
            "--into",
            str(tmp_path / "ws"),
            "--size",
            "24",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Created workspace" in result.stdout and "1 object, references at frames 1002" in result.stdout
    info = json.loads((tmp_path / "ws" / "shot_a" / "info.json").read_text())
    assert info["references"] == [1] and info["num_objects"] == 1 and info["object_ids"] == [3]
    assert info["size"] == [24, 32]
    assert read_mask(tmp_path / "ws" / "shot_a" / "masks" / "shot_a_1002.png").ids.max() == 1


def test_import_default_workspace_root(runner, tmp_path, monkeypatch):
    frames, _ = small_shot(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["import", "--name", "p", "--images", str(frames), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "workspace" / "p" / "info.json").exists()


def test_import_video_with_masks_by_frame_number(runner, tmp_path):
    video = write_video(tmp_path / "clip.mp4", [colour_frame(i) for i in range(10)])
    masks = tmp_path / "masks"
    masks.mkdir()
    write_palette_png(masks / "frame_000007.png", square_mask(48, 64, {1: (0, 0, 9, 9)}), davis_palette())
    result = runner.invoke(
        app, ["import", "--name", "clip", "--video", str(video), "--masks", str(masks), "--into", str(tmp_path / "ws")]
    )
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "ws" / "clip" / "info.json").read_text())
    assert info["references"] == [7] and len(info["frames"]) == 10


def test_import_real_chair_video_with_dense_masks(runner, tmp_path):
    result = runner.invoke(
        app,
        [
            "import",
            "--name",
            "chair",
            "--video",
            str(shared_data("chair", "chair.mp4")),
            "--masks",
            str(shared_data("chair", "Annotations")),
            "--size",
            "120",
            "--into",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "chair" / "info.json").read_text())
    assert info["references"] == list(range(60)) and info["size"] == [120, 180]


def test_import_missing_video(runner, tmp_path):
    result = runner.invoke(
        app, ["import", "--name", "x", "--video", str(tmp_path / "missing.mp4"), "--into", str(tmp_path / "ws")]
    )
    assert_one_line_error(result, "video or frame folder not found", "missing.mp4")
    assert not (tmp_path / "ws").exists()


def test_import_needs_exactly_one_source(runner, tmp_path):
    frames, _ = small_shot(tmp_path)
    result = runner.invoke(app, ["import", "--name", "x"])
    assert_one_line_error(result, "--images", "--video")
    result = runner.invoke(app, ["import", "--name", "x", "--images", str(frames), "--video", "v.mp4"])
    assert_one_line_error(result, "exactly one")


def test_import_corrupt_frame(runner, tmp_path):
    frames, _ = small_shot(tmp_path)
    data = (frames / "shot_a_1003.png").read_bytes()
    (frames / "shot_a_1003.png").write_bytes(data[: len(data) // 3])
    result = runner.invoke(app, ["import", "--name", "x", "--images", str(frames), "--into", str(tmp_path / "ws")])
    assert_one_line_error(result, "shot_a_1003.png")
    assert [p.name for p in (tmp_path / "ws").iterdir()] == []


@pytest.mark.parametrize("case", ["empty", "no_frame", "not_image", "size", "ambiguous"])
def test_import_bad_masks(runner, tmp_path, case):
    frames, masks = small_shot(tmp_path)
    if case == "empty":
        (masks / "shot_a_1002.png").unlink()
        expected = ["is empty", str(masks)]
    elif case == "no_frame":
        (masks / "shot_a_1002.png").rename(masks / "shot_b_2002.png")  # no stem matches: paired by number
        expected = ["no roto file is for a frame in 1001..1004", "shot_b_2002.png is for frame 2002"]
    elif case == "not_image":
        (masks / "readme.txt").write_text("notes")
        expected = ["readme.txt", "not an image"]
    elif case == "size":
        write_palette_png(masks / "shot_a_1002.png", square_mask(40, 64, {1: (0, 0, 9, 9)}), davis_palette())
        expected = ["shot_a_1002.png", "64x40", "64x48"]
    else:
        ids = np.zeros((48, 64), np.uint8)
        cv2.circle(ids, (32, 24), 15, 255, -1)
        rgb = np.dstack([ids, ids, ids // 3])
        edge = (cv2.dilate(ids, np.ones((3, 3), np.uint8)) > 0) & (ids == 0)
        rgb[edge] = (20, 240, 200)  # soft edge colours that are no blend of the object and black
        Image.fromarray(rgb).save(masks / "shot_a_1002.png")
        expected = ["shot_a_1002.png", "ambiguous"]
    result = runner.invoke(
        app, ["import", "--name", "x", "--images", str(frames), "--masks", str(masks), "--into", str(tmp_path / "ws")]
    )
    assert_one_line_error(result, *expected)
    assert not (tmp_path / "ws" / "x").exists()


def test_import_refuses_existing_workspace(runner, tmp_path):
    frames, _ = small_shot(tmp_path)
    args = ["import", "--name", "x", "--images", str(frames), "--into", str(tmp_path / "ws")]
    assert runner.invoke(app, args).exit_code == 0
    before = sorted(p.name for p in (tmp_path / "ws" / "x" / "images").iterdir())
    assert_one_line_error(runner.invoke(app, args), "already exists")
    assert sorted(p.name for p in (tmp_path / "ws" / "x" / "images").iterdir()) == before


def test_eval_table_and_json(runner, tmp_path):
    gt = shared_data("chair", "Annotations")
    result = runner.invoke(app, ["eval", str(gt), str(gt)])
    assert result.exit_code == 0, result.output
    assert "J&F" in result.stdout and "1.0000" in result.stdout and "mean" in result.stdout
    result = runner.invoke(app, ["eval", str(gt), str(gt), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["J&F"] == 1.0 and data["frames"] == 58 and data["objects"][0]["id"] == 1
    assert data["excluded"] == {"frame_000000": "first", "frame_000059": "last"}


def test_eval_eroded_is_lower(runner, tmp_path):
    gt = shared_data("chair", "Annotations")
    pred = tmp_path / "pred"
    pred.mkdir()
    for path in sorted(gt.glob("*.png"))[:20]:
        ids = cv2.erode(read_mask(path).ids, np.ones((7, 7), np.uint8))
        write_palette_png(pred / path.name, ids, davis_palette())
    gt_subset = tmp_path / "gt"
    gt_subset.mkdir()
    for path in sorted(gt.glob("*.png"))[:20]:
        (gt_subset / path.name).write_bytes(path.read_bytes())
    result = runner.invoke(app, ["eval", str(pred), str(gt_subset), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert 0.0 < data["J&F"] < 1.0 and data["J"] < 1.0 and data["F"] < 1.0


def test_eval_errors_are_one_line(runner, tmp_path):
    gt = tmp_path / "gt"
    pred = tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    write_palette_png(gt / "f_1.png", square_mask(10, 10, {1: (0, 0, 5, 5)}), davis_palette())
    assert_one_line_error(runner.invoke(app, ["eval", str(pred), str(gt), "--include-ends"]), "no prediction", "f_1")
    assert_one_line_error(
        runner.invoke(app, ["eval", str(pred), str(gt)]), "no ground-truth frame left", "--include-ends"
    )
    assert_one_line_error(runner.invoke(app, ["eval", str(tmp_path / "nope"), str(gt)]), "not found", "nope")
    assert_one_line_error(
        runner.invoke(app, ["eval", str(pred), str(gt), "-m", str(tmp_path / "roto")]),
        "annotation folder not found",
        "roto",
    )


def test_eval_excludes_annotated_frames_unless_asked(runner, tmp_path):
    gt, pred, roto = tmp_path / "gt", tmp_path / "pred", tmp_path / "roto"
    for folder in (gt, pred, roto):
        folder.mkdir()
    good = square_mask(20, 30, {1: (5, 5, 15, 20)})
    for index in range(6):
        write_palette_png(gt / f"shot_{1001 + index}.png", good, davis_palette())
        # the prediction is wrong on frames 1003 and 1004 only
        wrong = index in (2, 3)
        write_palette_png(pred / f"shot_{1001 + index}.png", np.zeros_like(good) if wrong else good, davis_palette())
    write_palette_png(roto / "shot_1003.png", good, davis_palette())

    def scores(*extra):
        result = runner.invoke(app, ["eval", str(pred), str(gt), "--json", *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    davis = scores("-m", str(roto))
    assert davis["frames"] == 3 and davis["J"] == pytest.approx(2 / 3)
    assert davis["excluded"] == {"shot_1001": "first", "shot_1003": "annotated", "shot_1006": "last"}
    both = scores("-m", str(roto), "--annotated", "1004")
    assert both["frames"] == 2 and both["J"] == 1.0
    assert scores("-m", str(roto), "--include-annotated")["frames"] == 4
    every = scores("-m", str(roto), "--include-annotated", "--include-ends")
    assert every["frames"] == 6 and every["excluded"] == {} and every["J"] == pytest.approx(4 / 6)
    table = runner.invoke(app, ["eval", str(pred), str(gt), "-m", str(roto)])
    assert table.exit_code == 0
    assert "not scored (DAVIS protocol): shot_1001 (first), shot_1003 (annotated)" in table.stdout


def test_error_helper_prints_one_escaped_line_and_handles_ctrl_c(capsys):
    import typer

    from xmempp.cli.errors import reports_errors, user_errors
    from xmempp.cli.exit_codes import ExitCode
    from xmempp.errors import OutputError

    with pytest.raises(typer.Exit) as info, user_errors():
        raise OutputError("cannot write [red]/tmp/x[/red]:\nno space")
    assert info.value.exit_code == ExitCode.OUTPUT
    err = capsys.readouterr().err
    assert err == "error: cannot write [red]/tmp/x[/red]: no space\n"

    @reports_errors
    def command(flag: bool = False) -> None:
        """Doc."""
        raise KeyboardInterrupt

    assert command.__doc__ == "Doc." and command.__wrapped__ is not None
    with pytest.raises(typer.Exit) as info:
        command()
    assert info.value.exit_code == ExitCode.INTERRUPTED
    assert capsys.readouterr().err.startswith("error: interrupted")

    with pytest.raises(ZeroDivisionError):  # bugs are not hidden
        with user_errors():
            _ = 1 / 0
