"""`xmempp batch --log-format json` keeps its stderr JSON-only when the batch is killed (SIGKILL): the
resource tracker that multiprocessing starts for the worker pool outlives the batch, unlinks the pool's
semaphores and must not add a plain `UserWarning: ... leaked semaphore objects` line to the log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from batchhelpers import write_csv, write_shot


@pytest.mark.slow  # two interpreters start torch and a shot runs: tens of seconds on a busy CI machine
def test_killed_batch_leaves_only_json_lines_on_stderr(tmp_path, checkpoint_path):
    plate, masks = write_shot(tmp_path / "sh010", frames=400, seed=1)
    shots = write_csv(
        tmp_path / "shots.csv", [{"name": "sh010", "plate": plate, "masks": masks, "output": "out/sh010", "size": -1}]
    )
    command = [
        sys.executable,
        "-m",
        "xmempp.cli.app",
        "batch",
        str(shots),
        "--model",
        str(checkpoint_path),
        "--device",
        "cpu",
        "--workers",
        "1",
        "--log-format",
        "json",
    ]
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    written = tmp_path / "out" / "sh010" / "masks"
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if written.is_dir() and len(list(written.glob("*.png"))) >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    # EOF on stderr comes once every process holding it (the worker, the resource tracker) has exited
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, ("the shot ended before the test could kill the batch", stderr)
    lines = stderr.splitlines()
    assert lines, "the batch logged nothing before it was killed"
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"a plain line on the JSON log: {line!r}") from None
        assert isinstance(record, dict) and "event" in record, line
