"""Farm-grade runs: one run per output folder (lock), chunks of a shot, exit codes, JSON logs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.app import app
from test_farm_safe import make_clip, process_args, result_files
from xmempp.cli.errors import user_errors
from xmempp.cli.exit_codes import ExitCode, exit_code_for
from xmempp.cli.remedies import cli_message
from xmempp.io.lock import LockedError, check_unlocked, others_running, take_lock

runner = CliRunner()
COMMAND = [sys.executable, "-m", "xmempp.cli.app"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(folder: Path, name: str, host: str, pid: int, frames=None) -> Path:
    path = folder / ".xmempp" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "started": 1.0e9, "frames": frames}))
    return path


def test_lock_is_exclusive_and_stale_locks_are_taken_over(tmp_path):
    lock = take_lock(tmp_path)
    info = json.loads((tmp_path / ".xmempp" / "lock.json").read_text())
    assert (info["host"], info["pid"]) == (socket.gethostname(), os.getpid()) and info["started"] > 0
    lock.release()
    assert not (tmp_path / ".xmempp" / "lock.json").exists()

    _write_lock(tmp_path, "lock.json", socket.gethostname(), _dead_pid())
    take_lock(tmp_path).release()  # a dead process's lock on this host is taken over

    _write_lock(tmp_path, "lock.json", socket.gethostname(), os.getppid())  # a live process
    with pytest.raises(LockedError, match=f"pid {os.getppid()} on host {socket.gethostname()}"):
        take_lock(tmp_path)
    with pytest.raises(LockedError):
        check_unlocked(tmp_path)

    _write_lock(tmp_path, "lock.json", "render-node-17", 4242)  # another host: cannot be checked from here
    with pytest.raises(LockedError, match="pid 4242 on host render-node-17.*another host") as refused:
        take_lock(tmp_path)
    assert "--force-unlock" in cli_message(refused.value)
    take_lock(tmp_path, force=True).release()


def test_chunk_locks_allow_disjoint_ranges_only(tmp_path):
    first = take_lock(tmp_path, (1001, 1010))
    second = take_lock(tmp_path, (1011, 1020))  # another chunk of the shot: allowed
    with pytest.raises(LockedError, match=r"frames 1011-1020"):
        take_lock(tmp_path, (1015, 1030))
    with pytest.raises(LockedError):
        take_lock(tmp_path)  # the whole shot overlaps every chunk
    assert not (tmp_path / ".xmempp" / "lock.1015-1030.json").exists()
    _write_lock(tmp_path, "lock.2001-2002.json", "render-node-17", 4242, [2001, 2002])
    assert others_running(tmp_path)
    first.release()
    second.release()


def _wait_for(predicate, proc, seconds=120.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
def test_second_run_into_a_busy_folder_is_refused_and_the_first_is_correct(checkpoint_path, tmp_path):
    folder = tmp_path / "clip"
    make_clip(folder, 24, references=(0, 12))
    reference = tmp_path / "reference"
    assert runner.invoke(app, process_args(folder, reference, checkpoint_path)).exit_code == 0
    out = tmp_path / "out"
    first = subprocess.Popen([*COMMAND, *process_args(folder, out, checkpoint_path)], stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (out / "masks").is_dir() and any((out / "masks").iterdir()), first)
    os.kill(first.pid, signal.SIGSTOP)  # paused mid-run, so it cannot finish before the second run starts
    try:
        for extra in ((), ("--overwrite",)):
            second = subprocess.run(
                [*COMMAND, *process_args(folder, out, checkpoint_path, *extra)],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert second.returncode == ExitCode.LOCKED, second.stderr
            line = " ".join(second.stderr.split())
            assert f"in use by another xmempp run: pid {first.pid} on host {socket.gethostname()}" in line, line
            assert "--force-unlock" in line
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert result_files(out) == result_files(reference)
    assert not (out / ".xmempp" / "lock.json").exists()


@pytest.mark.slow
def test_two_chunks_write_every_frame_once_and_use_every_keyframe(checkpoint_path, tmp_path):
    folder = tmp_path / "clip"
    _, _, stems = make_clip(folder, 12, references=(0,))  # the second chunk has no keyframe of its own
    whole = tmp_path / "whole"
    assert runner.invoke(app, process_args(folder, whole, checkpoint_path)).exit_code == 0
    out = tmp_path / "out"
    chunks = [
        subprocess.Popen(
            [*COMMAND, *process_args(folder, out, checkpoint_path, "--frames", frames)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for frames in ("1001-1006", "1007-1012")
    ]
    for proc in chunks:  # both at once, into one folder
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    assert sorted(p.stem for p in (out / "masks").iterdir()) == stems
    written = (out / ".xmempp-written").read_text().split()
    assert len(written) == len(set(written)) and sum(w.startswith("masks/") for w in written) == 12
    ours, theirs = result_files(out), result_files(whole)
    assert sorted(ours) == sorted(theirs)
    for stem in stems[:6]:  # the first chunk sees exactly what the whole shot saw
        assert ours[f"masks/{stem}.png"] == theirs[f"masks/{stem}.png"], stem
    again = runner.invoke(app, process_args(folder, out, checkpoint_path, "--frames", "1007-1012"))
    assert again.exit_code == ExitCode.OUTPUT and "shot_1007" in " ".join(again.output.split())


def test_chunk_outside_the_shot_names_the_frames(checkpoint_path, tmp_path):
    folder = tmp_path / "clip"
    make_clip(folder, 6, references=(0,))
    result = runner.invoke(app, process_args(folder, tmp_path / "out", checkpoint_path, "--frames", "1004-1009"))
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "no frame(s) 1007, 1008, 1009 of the range 1004-1009 (it has 1001-1006)" in " ".join(result.output.split())


@pytest.mark.slow
def test_json_log_lines_on_stderr(checkpoint_path, tmp_path):
    folder = tmp_path / "clip"
    make_clip(folder, 6, references=(0,))
    env = {**os.environ, "XMEMPP_LOG_INTERVAL": "0"}
    args = process_args(folder, tmp_path / "out", checkpoint_path, "--log-format", "json", "--checkpoint-every", "1")
    args.remove("-q")
    done = subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]
    events = [r["event"] for r in records]
    assert events[0] == "start" and events[-1] == "summary" and "checkpoint" in events
    progress = [r for r in records if r["event"] == "progress"]
    assert [r["done"] for r in progress] == list(range(1, 7)) and progress[-1]["total"] == 6
    assert records[-1]["frames"] == 6 and records[-1]["out"] == str(tmp_path / "out")
    refused = subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=300, env=env)
    assert refused.returncode == ExitCode.OUTPUT
    error = json.loads(refused.stderr.splitlines()[-1])
    assert error["event"] == "error" and "already holds results" in error["message"]


def test_text_progress_lines_when_stderr_is_not_a_terminal_and_no_wrapping(checkpoint_path, tmp_path):
    folder = tmp_path / "clip"
    make_clip(folder, 6, references=(0,))
    out = tmp_path / ("a-long-folder-name-" * 5) / "out"
    args = process_args(folder, out, checkpoint_path)
    args.remove("-q")
    done = subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "XMEMPP_LOG_INTERVAL": "0", "COLUMNS": "80"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "propagating: 3/6 frames" in done.stderr and "propagating: 6/6 frames" in done.stderr
    assert any(line.startswith("done: 6 frames") and line.endswith(f"results in {out}") for line in lines), lines


def test_second_sigterm_exits_143():
    from xmempp.interrupts import StopSignal

    with pytest.raises(typer.Exit) as info, user_errors():
        raise StopSignal(15)
    assert info.value.exit_code == 143


def test_disk_full_while_saving_a_checkpoint_is_an_output_error(tmp_path, monkeypatch):
    import torch

    from xmempp.errors import OutputError
    from xmempp.inference.checkpoint import Checkpoint, save_checkpoint

    def full(*_args, **_kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0: No space left")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OutputError, match="disk is probably full") as info:
        save_checkpoint(tmp_path / "c.pt", Checkpoint({}, 0))
    assert exit_code_for(info.value) == ExitCode.OUTPUT
    assert not list(tmp_path.iterdir())


def test_resume_refusals_name_frame_files_and_options():
    from xmempp.inference.checkpoint import fingerprint_changes

    saved = {
        "frames": {"sh010.1003.png": [10, 1], "sh010.1004.png": [10, 1]},
        "references": {"sh010.1014": "a"},
        "outputs": {"alpha": "False", "palette": "p"},
    }
    current = {
        "frames": {"sh010.1003.png": [11, 2], "sh010.1005.png": [10, 1]},
        "references": {"sh010.1014": "b", "sh010.1020": "c"},
        "outputs": {"alpha": "True", "palette": "p"},
    }
    assert fingerprint_changes(saved, current) == [
        "frame file sh010.1003.png (modified)",
        "frame file sh010.1004.png (removed)",
        "frame file sh010.1005.png (added)",
        "reference mask of frame sh010.1014 (edited)",
        "reference mask of frame sh010.1020 (added)",
        "output option alpha (False -> True)",
    ]
