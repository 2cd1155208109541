"""Farm-safe `xmempp process`: SIGTERM/SIGINT stop cleanly with a checkpoint, `--resume` gives the
same files as an uninterrupted run (also after SIGKILL at random frames, in real subprocesses),
a changed reference refuses to resume, leftovers are cleaned, errors before the first frame leave
no folder, and the memory guard refuses a run the machine cannot hold."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli.app import app
from iohelpers import write_palette_png
from xmempp.io.masks import davis_palette
from xmempp.io.synthetic import MovingDiscs

runner = CliRunner()
SMALL_MEMORY = {
    "mem_every": 2,
    "max_mid_term_frames": 3,
    "min_mid_term_frames": 1,
    "num_prototypes": 8,
    "max_long_term_elements": 40,
    "size": -1,
}


def make_clip(folder: Path, length: int, references=(0, 12)) -> tuple[Path, Path, list[str]]:
    """Frames as PNGs `shot_<n>.png`, reference masks as palette PNGs, a small-memory config."""
    clip = MovingDiscs(length, 64, 112, objects=2, seed=7)
    stems = [f"shot_{1001 + i}" for i in range(length)]
    (folder / "frames").mkdir(parents=True)
    (folder / "masks").mkdir()
    for i, stem in enumerate(stems):
        Image.fromarray(clip[i]).save(folder / "frames" / f"{stem}.png")
    for i in references:
        write_palette_png(folder / "masks" / f"{stems[i]}.png", clip.mask(i), davis_palette())
    (folder / "config.json").write_text(json.dumps(SMALL_MEMORY))
    return folder / "frames", folder / "masks", stems


def process_args(folder: Path, out: Path, weights: Path, *extra) -> list[str]:
    return [
        "process",
        "-v",
        str(folder / "frames"),
        "-m",
        str(folder / "masks"),
        "-o",
        str(out),
        "--model",
        str(weights),
        "--config",
        str(folder / "config.json"),
        "--alpha",
        "--alpha-bits",
        "16",
        "--binary",
        "-q",
        *map(str, extra),
    ]


def result_files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".xmempp" not in p.relative_to(out).parts
    }


def assert_same_results(out: Path, reference: Path) -> None:
    ours, theirs = result_files(out), result_files(reference)
    assert sorted(ours) == sorted(theirs)
    for name, data in theirs.items():
        if name.startswith("masks/") or ours[name] == data:
            assert ours[name] == data, name  # index masks identical
        else:  # mattes within 1e-6
            a = np.asarray(Image.open(out / name), dtype=np.float64) / 65535
            b = np.asarray(Image.open(reference / name), dtype=np.float64) / 65535
            assert np.abs(a - b).max() <= 1e-6, name
    assert not list(out.rglob(".xmempp-tmp-*"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip"), 12, references=(0, 6))


@pytest.fixture(scope="module")
def uninterrupted(clip, checkpoint_path, tmp_path_factory):
    folder = clip[0].parent
    out = tmp_path_factory.mktemp("reference") / "out"
    result = runner.invoke(app, process_args(folder, out, checkpoint_path, "--checkpoint-every", "off"))
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_resume_matches(signum, clip, uninterrupted, checkpoint_path, tmp_path, monkeypatch):
    folder = clip[0].parent
    from xmempp.inference import session as inference

    original = inference.InferenceSession.step

    def signalled(self, frame, image, end=False):
        if frame == 4:
            os.kill(os.getpid(), signum)  # handled between bytecodes: the frame still finishes
        return original(self, frame, image, end)

    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(inference.InferenceSession, "step", signalled)
        result = runner.invoke(app, process_args(folder, out, checkpoint_path, "--checkpoint-every", "off"))
    assert result.exit_code == 128 + signum, result.output
    line = " ".join(result.output.split())
    assert f"stopped by {signal.Signals(signum).name} after 5 of 12 frames" in line
    assert "--resume" in line and "Traceback" not in line
    assert sorted(p.stem for p in (out / "masks").iterdir()) == clip[2][:5]
    assert (out / ".xmempp" / "checkpoint.pt").is_file()
    resumed = runner.invoke(app, process_args(folder, out, checkpoint_path, "--resume"))
    assert resumed.exit_code == 0, resumed.output
    assert_same_results(out, uninterrupted)


def test_resume_refused_when_a_reference_mask_changed(clip, checkpoint_path, tmp_path):
    _frames_dir, _masks_dir, stems = clip
    folder = tmp_path / "copy"
    make_clip(folder, 12, references=(0, 6))
    out = tmp_path / "out"
    from xmempp.inference import session as inference

    original = inference.InferenceSession.step

    def stop_at_3(self, frame, image, end=False):
        if frame == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, frame, image, end)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inference.InferenceSession, "step", stop_at_3)
        assert runner.invoke(app, process_args(folder, out, checkpoint_path)).exit_code == 143
    mask = np.asarray(Image.open(folder / "masks" / f"{stems[6]}.png")).copy()
    mask[:5, :5] = 2
    write_palette_png(folder / "masks" / f"{stems[6]}.png", mask, davis_palette())
    before = result_files(out)
    result = runner.invoke(app, process_args(folder, out, checkpoint_path, "--resume"))
    assert result.exit_code == 2  # bad input: no retry
    line = " ".join(result.output.split())
    assert "cannot resume" in line and f"reference mask of frame {stems[6]} (edited)" in line, line
    assert result_files(out) == before


def test_leftovers_of_a_killed_run_are_removed(clip, checkpoint_path, tmp_path):
    folder = clip[0].parent
    out = tmp_path / "out"
    previews = tmp_path / "previews"
    (out / "masks").mkdir(parents=True)
    (out / "alpha" / "1").mkdir(parents=True)
    previews.mkdir()
    leftovers = [
        out / "masks" / ".xmempp-tmp-shot_1001.png.x1.tmp",
        out / "alpha" / "1" / ".xmempp-tmp-a.png.y.tmp",
        previews / ".xmempp-tmp-preview.mp4.abc.mp4",
    ]
    other_job = previews / ".xmempp-tmp-other.mp4.def.mp4"  # another shot's preview being written
    for path in (*leftovers, other_job):
        path.write_bytes(b"")
    result = runner.invoke(app, process_args(folder, out, checkpoint_path, "--preview", previews / "preview.mp4"))
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in leftovers)
    assert other_job.exists()
    assert (previews / "preview.mp4").stat().st_size > 0


@pytest.mark.parametrize("problem", ["weights", "device"])
def test_error_before_the_first_frame_leaves_no_folder(problem, clip, checkpoint_path, tmp_path):
    folder = clip[0].parent
    out = tmp_path / "new" / "out"
    weights = checkpoint_path
    extra = []
    if problem == "weights":
        weights = tmp_path / "broken.pth"
        weights.write_bytes(b"not a checkpoint")
    else:
        extra = ["--device", "cuda:7"]
    result = runner.invoke(app, process_args(folder, out, weights, *extra))
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "new").exists()


def test_memory_guard_refuses_before_creating_anything(checkpoint_path, tmp_path, monkeypatch):
    from xmempp.inference import memory_estimate

    height, width = 1080, 1920
    folder = tmp_path / "big"
    (folder / "frames").mkdir(parents=True)
    (folder / "masks").mkdir()
    for i in range(2):
        Image.fromarray(np.full((height, width, 3), 40 * i, np.uint8)).save(folder / "frames" / f"f{i}.png")
    mask = np.zeros((height, width), np.uint8)
    mask[100:400, 200:900] = 1
    write_palette_png(folder / "masks" / "f0.png", mask, davis_palette())
    monkeypatch.setattr(memory_estimate, "available_memory", lambda: 2**29)
    out = tmp_path / "out"
    args = [
        "process",
        "-v",
        folder / "frames",
        "-m",
        folder / "masks",
        "-o",
        out,
        "--model",
        checkpoint_path,
        "--size",
        -1,
        "-q",
    ]
    result = runner.invoke(app, list(map(str, args)))
    assert result.exit_code == 4  # out of memory
    line = " ".join(result.output.split())
    assert "GiB" in line and "1920x1080" in line and "--size" in line and "--force" in line, line
    assert not out.exists()


@pytest.mark.slow
def test_sigkill_at_random_frames_then_resume_matches_uninterrupted(checkpoint_path, tmp_path):
    """Kill a real `xmempp process` (SIGKILL) at random frames several times, resume each time."""
    length = 30
    folder = tmp_path / "clip"
    _, _, _stems = make_clip(folder, length, references=(0, 12))
    command = [sys.executable, "-m", "xmempp.cli.app"]
    reference = tmp_path / "reference"
    subprocess.run(
        [*command, *process_args(folder, reference, checkpoint_path, "--checkpoint-every", "off")],
        check=True,
        timeout=900,
    )
    out = tmp_path / "out"
    args = [*command, *process_args(folder, out, checkpoint_path, "--checkpoint-every", "1", "--resume")]
    rng = random.Random(11)
    kills = sorted(rng.sample(range(2, length - 2), 4))
    for target in kills:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 900
        while proc.poll() is None and time.monotonic() < deadline:
            written = len(list((out / "masks").glob("shot_*.png"))) if (out / "masks").is_dir() else 0
            if written >= target:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL, (target, proc.returncode, proc.stderr.read())
        proc.stderr.close()
    final = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert final.returncode == 0, final.stderr
    assert_same_results(out, reference)
    assert len(list((out / "masks").iterdir())) == length
