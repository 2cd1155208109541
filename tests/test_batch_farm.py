"""Farm-grade batches: rows checked before any worker starts (memory, settings), SIGTERM with no
orphans and identical resumes, dry runs, and Open Job Description templates run by openjd-cli."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from typer.testing import CliRunner

from batchhelpers import read_masks, write_csv, write_shot
from xmempp.batch import BatchDefaults, LocalBackend, plan_slots, read_shot_list, run_batch
from xmempp.batch.openjd import job_template
from xmempp.cli.app import create_app
from xmempp.cli.exit_codes import ExitCode
from xmempp.errors import InputError

COMMAND = [sys.executable, "-m", "xmempp.cli.app"]


class RecordingBackend(LocalBackend):
    """Local workers that remember which shots they were given."""

    given: list[str]

    def run(self, tasks, weights, on_event, on_result, stop=None):
        self.given = [t.shot.name for t in tasks]
        super().run(tasks, weights, on_event, on_result, stop)


def test_row_over_the_memory_budget_is_refused_before_a_worker_starts(tmp_path, checkpoint_path):
    rows = []
    for name, size in (("sh010", -1), ("sh020", 16000)):
        plate, masks = write_shot(tmp_path / name, frames=3, seed=1)
        rows.append({"name": name, "plate": plate, "masks": masks, "output": f"out/{name}", "size": size})
    shots = read_shot_list(write_csv(tmp_path / "shots.csv", rows))
    backend = RecordingBackend(plan_slots("cpu", 1, 2))
    report = run_batch(shots, checkpoint_path, backend)
    assert backend.given == ["sh010"], "the refused row never reached a worker"
    refused = report.results[1]
    assert refused.status == "failed" and refused.error.startswith("shots.csv line 3: this run needs about")
    assert "set size to" in refused.error
    assert report.results[0].status == "done" and not (tmp_path / "out" / "sh020").exists()


def test_rows_take_plate_and_matte_settings_and_report_every_bad_row(tmp_path):
    plate, masks = write_shot(tmp_path / "sh010", frames=4)
    good = {
        "name": "a",
        "plate": plate,
        "masks": masks,
        "output": "out/a",
        "frames": "1002-1003",
        "matte_format": "exr",
        "compression": "piz",
        "mask_threshold": "0.3",
        "layer": "beauty",
        "colorspace": "ACEScg",
        "exr_layers": "true",
        "jpeg_quality": "80",
    }
    (shot,) = read_shot_list(write_csv(tmp_path / "good.csv", [good]))
    assert (shot.plates.frames, shot.plates.mask_threshold, shot.plates.layer) == ("1002-1003", 0.3, "beauty")
    assert (shot.writer.matte_format, shot.writer.alpha, shot.writer.compression) == ("exr", True, "piz")
    assert shot.writer.exr_layers and shot.writer.jpeg_quality == 80
    bad = [
        dict(good, name="b", output="out/b", jpeg_quality="500"),
        dict(good, name="c", output="out/c", frames="1003-1001"),
        dict(good, name="d", output="out/d", mask_threshold="2"),
        dict(good, name="e", output="out/e", matte_format="gif"),
    ]
    with pytest.raises(InputError) as info:
        read_shot_list(write_csv(tmp_path / "bad.csv", [good, *bad]))
    message = str(info.value)
    for line, word in (
        (3, "jpeg_quality must be between 1 and 100"),
        (4, "ends before it starts"),
        (5, "mask_threshold must be between 0 and 1"),
        (6, "matte format must be one of"),
    ):
        assert f"bad.csv line {line}" in message and word in message, (line, message)


def test_dry_run_names_what_would_run_and_runs_nothing(tmp_path, checkpoint_path):
    rows = []
    for name, size in (("sh010", -1), ("sh020", 16000)):
        plate, masks = write_shot(tmp_path / name, frames=3, seed=1)
        rows.append({"name": name, "plate": plate, "masks": masks, "output": f"out/{name}", "size": size})
    path = write_csv(tmp_path / "shots.csv", rows)
    result = CliRunner().invoke(
        create_app(), ["batch", str(path), "--model", str(checkpoint_path), "--dry-run", "--log-format", "json"]
    )
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert [(s["shot"], s["action"], s["frames"]) for s in summary["shots"]] == [
        ("sh010", "run", 3),
        ("sh020", "refuse", 0),
    ]
    assert "shots.csv line 3" in summary["shots"][1]["why"]
    assert not (tmp_path / "out").exists()


def _children(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


@pytest.mark.slow
def test_sigterm_to_a_local_batch_leaves_no_process_and_shots_resume_identically(tmp_path, checkpoint_path):
    rows = []
    for index, name in enumerate(("sh010", "sh020")):
        plate, masks = write_shot(tmp_path / name, frames=24, seed=index, objects=2)
        rows.append({"name": name, "plate": plate, "masks": masks, "output": f"out/{name}", "size": -1, "mem_every": 3})
    shot_list = write_csv(tmp_path / "shots.csv", rows)
    reference = run_batch(read_shot_list(shot_list), checkpoint_path, LocalBackend(plan_slots("cpu", 2, 2)))
    assert [r.status for r in reference.results] == ["done", "done"]
    shutil.move(tmp_path / "out", tmp_path / "reference")

    args = [
        *COMMAND,
        "batch",
        str(shot_list),
        "--model",
        str(checkpoint_path),
        "--workers",
        "2",
        "--device",
        "cpu",
        "--checkpoint-every",
        "1",
        "--report",
        str(tmp_path / "report.json"),
    ]
    batch = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    paused: dict[str, int] = {}  # shot -> its worker's pid (from the shot's lock), paused mid-shot
    try:
        while len(paused) < 2:
            assert batch.poll() is None and time.monotonic() < deadline, batch.communicate()
            for name in set(("sh010", "sh020")) - set(paused):
                out, lock = tmp_path / "out" / name, tmp_path / "out" / name / ".xmempp" / "lock.json"
                if out.is_dir() and len(list((out / "masks").glob("*.png"))) >= 3 and lock.exists():
                    pid = json.loads(lock.read_text())["pid"]
                    os.kill(pid, signal.SIGSTOP)  # so this shot cannot finish before the other one has started
                    paused[name] = pid
            time.sleep(0.02)
        workers = _children(batch.pid)
        assert workers, "the batch runs worker processes"
    finally:
        for pid in paused.values():
            os.kill(pid, signal.SIGCONT)
    batch.send_signal(signal.SIGTERM)
    _, stderr = batch.communicate(timeout=300)
    assert batch.returncode == 143, stderr
    assert "stopped by SIGTERM" in " ".join(stderr.split())
    _gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, f"workers left behind: {alive}"
    report = json.loads((tmp_path / "report.json").read_text())
    assert [s["status"] for s in report["shots"]] == ["stopped", "stopped"]
    assert all(0 < s["frames"] < 24 for s in report["shots"])

    rerun = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert [s["status"] for s in report["shots"]] == ["done", "done"]
    assert all(s["resumed_from"] > 0 for s in report["shots"]), "the rerun resumed from the checkpoints"
    for name in ("sh010", "sh020"):
        ours, theirs = read_masks(tmp_path / "out" / name), read_masks(tmp_path / "reference" / name)
        assert ours.keys() == theirs.keys() and len(ours) == 24
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=f"{name}/{key}")


def _openjd() -> list[str]:
    """openjd-cli's command: the console script beside this Python (a virtual environment's), else on PATH."""
    beside = Path(sys.executable).with_name("openjd")
    exe = str(beside) if beside.exists() else shutil.which("openjd")
    if exe is None:
        pytest.skip("openjd-cli is not installed (it comes with the dev extra)")
    return [exe]


@pytest.mark.slow
def test_openjd_template_is_checked_and_runs_one_task_per_chunk(tmp_path, checkpoint_path):
    plate, masks = write_shot(tmp_path / "sh010", frames=6, seed=3)
    rows = [{"name": "sh010", "plate": plate, "masks": masks, "output": "out/sh010", "size": -1, "alpha": "true"}]
    shot_list = write_csv(tmp_path / "shots.csv", rows)
    template = tmp_path / "job.yaml"
    result = CliRunner().invoke(
        create_app(),
        [
            "batch",
            str(shot_list),
            "--openjd",
            str(template),
            "--chunk-size",
            "4",
            "--model",
            str(checkpoint_path),
            "--checkpoint-every",
            "off",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(template.read_text())
    (step,) = data["steps"]
    assert step["parameterSpace"]["taskParameterDefinitions"][0]["range"] == ["1001-1004", "1005-1006"]
    args = step["script"]["actions"]["onRun"]["args"]
    assert args[:2] == ["process", "-v"] and "--resume" in args and "{{Task.Param.Frames}}" in args
    assert args[args.index("--model") + 1] == str(checkpoint_path)
    amounts = {a["name"]: a["min"] for a in step["hostRequirements"]["amounts"]}
    assert amounts["amount.worker.vcpu"] == 1 and amounts["amount.worker.memory"] > 512  # MiB, from the estimate
    assert "amount.worker.gpu" not in amounts and "--device" not in args  # no device named: the host's own
    check = subprocess.run([*_openjd(), "check", str(template)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    xmempp = shutil.which("xmempp", path=str(Path(sys.executable).parent)) or shutil.which("xmempp")
    assert xmempp, "the xmempp console script is installed"
    run = subprocess.run(
        [*_openjd(), "run", str(template), "--step", "sh010", "-p", f"Xmempp={xmempp}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    written = read_masks(tmp_path / "out" / "sh010")
    assert sorted(written) == [f"sh010_{1001 + i}.png" for i in range(6)]
    assert len(list((tmp_path / "out" / "sh010" / "alpha" / "1").iterdir())) == 6


def test_openjd_template_without_chunks_has_one_task_per_shot(tmp_path):
    plate, masks = write_shot(tmp_path / "sh010", frames=3)
    shots = read_shot_list(
        write_csv(
            tmp_path / "shots.csv",
            [
                {
                    "name": "sh010",
                    "plate": plate,
                    "masks": masks,
                    "output": "out/a",
                    "jpeg_quality": 70,
                    "overlay": "yes",
                    "frames": "1002-1003",
                }
            ],
        ),
        BatchDefaults(),
    )
    (step,) = job_template(shots, "x")["steps"]
    args = step["script"]["actions"]["onRun"]["args"]
    assert "parameterSpace" not in step
    assert args[args.index("--frames") + 1] == "1002-1003" and args[args.index("--jpeg-quality") + 1] == "70"
    assert "--overlay" in args and args[args.index("--config") + 1] == "{{Task.File.Config}}"
    assert os.path.basename(step["script"]["embeddedFiles"][0]["filename"]) == "config.json"


def test_openjd_template_for_a_gpu_asks_for_one_with_the_memory_a_shot_needs(tmp_path, checkpoint_path):
    """Issue 36: host requirements from the batch's device and memory estimate, the device passed to each task;
    a larger shot asks for more memory."""
    rows = []
    for name, frames, objects in (("small", 3, 1), ("large", 12, 2)):
        plate, masks = write_shot(tmp_path / name, frames=frames, seed=1, objects=objects)
        rows.append({"name": name, "plate": plate, "masks": masks, "output": f"out/{name}", "size": -1})
    shot_list = write_csv(tmp_path / "shots.csv", rows)
    template = tmp_path / "job.yaml"
    result = CliRunner().invoke(
        create_app(),
        [
            "batch",
            str(shot_list),
            "--openjd",
            str(template),
            "--device",
            "cuda",
            "--cpus-per-shot",
            "4",
            "--model",
            str(checkpoint_path),
        ],
    )
    assert result.exit_code == 0, result.output
    steps = {step["name"]: step for step in json.loads(template.read_text())["steps"]}
    amounts = {name: {a["name"]: a["min"] for a in step["hostRequirements"]["amounts"]} for name, step in steps.items()}
    for name, step in steps.items():
        args = step["script"]["actions"]["onRun"]["args"]
        assert args[args.index("--device") + 1] == "cuda", args
        assert amounts[name]["amount.worker.gpu"] == 1 and amounts[name]["amount.worker.vcpu"] == 4
        assert amounts[name]["amount.worker.gpu.memory"] > 1024  # the CUDA runtime's allowance and more
    assert amounts["large"]["amount.worker.gpu.memory"] > amounts["small"]["amount.worker.gpu.memory"]
    check = subprocess.run([*_openjd(), "check", str(template)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    two = CliRunner().invoke(
        create_app(), ["batch", str(shot_list), "--openjd", str(template), "--device", "cuda:0", "--device", "cuda:1"]
    )
    assert two.exit_code == 2 and "takes one --device" in two.output
