"""Batch runs on this machine: shot lists, worker planning, completion markers, and a real batch."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from typer.testing import CliRunner

from batchhelpers import read_masks, write_csv, write_shot
from xmempp.batch import BatchDefaults, LocalBackend, plan_slots, read_shot_list, run_batch
from xmempp.batch.marker import marker_path, read_marker, shot_fingerprint
from xmempp.cli.app import create_app
from xmempp.errors import ConfigError, InputError
from xmempp.inference.checkpoint import CheckpointPolicy
from xmempp.inference.jobs import run_job
from xmempp.inference.shot_folders import open_shot_job
from xmempp.io.writers import WriterOptions


def test_csv_shot_list_with_per_shot_settings(tmp_path):
    path = write_csv(
        tmp_path / "shots.csv",
        [
            {
                "name": "sh010",
                "plate": "plates/sh010",
                "masks": "roto/sh010",
                "output": "out/sh010",
                "size": "240",
                "mode": "xmem",
                "alpha": "yes",
                "alpha_bits": "16",
                "enable_long_term": "false",
                "precision": "BF16",
            },
            {"name": "sh020", "plate": "/abs/sh020.mov", "masks": "roto/sh020", "output": "out/sh020"},
        ],
    )
    defaults = BatchDefaults(writer=WriterOptions(overlay=True), overwrite=True, precision="fp32")
    first, second = read_shot_list(path, defaults)
    assert first.plate == (tmp_path / "plates/sh010").resolve() and first.output == (tmp_path / "out/sh010").resolve()
    assert (first.config.size, first.config.enable_long_term, first.mode) == (240, False, "xmem")
    written = (first.writer.alpha, first.writer.alpha_bits, first.writer.overlay, first.overwrite)
    assert written == (True, 16, True, True)
    assert str(second.plate) == "/abs/sh020.mov"
    assert (second.config.size, second.mode, second.writer.alpha) == (480, "xmempp", False)
    assert first.where == "shots.csv line 2"
    assert (first.precision, second.precision) == ("bf16", "fp32")  # per shot, else the batch default


def test_json_shot_list_takes_native_values(tmp_path):
    path = tmp_path / "shots.json"
    path.write_text(
        json.dumps(
            [{"name": "a", "plate": "p", "masks": "m", "output": "o", "top_k": 20, "binary": True, "preview": "a.mp4"}]
        )
    )
    (shot,) = read_shot_list(path)
    assert (shot.config.top_k, shot.writer.binary, shot.writer.preview) == (20, True, (tmp_path / "a.mp4").resolve())


def test_shot_list_errors_name_every_bad_row(tmp_path):
    path = write_csv(
        tmp_path / "shots.csv",
        [
            {"name": "ok", "plate": "p", "masks": "m", "output": "o1"},
            {"name": "big", "plate": "p", "masks": "m", "output": "o2", "size": "huge"},
            {"name": "ok", "plate": "p", "masks": "m", "output": "o3"},
            {"name": "same_out", "plate": "p", "masks": "m", "output": "o1"},
            {"name": "nomask", "plate": "p", "masks": "", "output": "o5"},
            {"name": "oddmode", "plate": "p", "masks": "m", "output": "o6", "mode": "sam"},
            {"name": "badk", "plate": "p", "masks": "m", "output": "o7", "top_k": "0"},
        ],
    )
    with pytest.raises(InputError) as info:
        read_shot_list(path)
    message = str(info.value)
    for expected in (
        "line 3 (shot 'big'): size must be a whole number",
        "line 4: name 'ok' is already used by shots.csv line 2",
        "line 5: output",
        "line 6 (shot 'nomask'): missing masks",
        "line 7 (shot 'oddmode'): mode must be one of xmempp, xmem",
        "line 8 (shot 'badk'): top_k",
    ):
        assert expected in message, message


def test_shot_list_unknown_column_and_bad_files(tmp_path):
    path = write_csv(tmp_path / "shots.csv", [{"name": "a", "plate": "p", "masks": "m", "output": "o", "szie": "1"}])
    with pytest.raises(InputError, match="line 2 .*unknown setting.*szie"):
        read_shot_list(path)
    with pytest.raises(InputError, match="not found"):
        read_shot_list(tmp_path / "missing.csv")
    (tmp_path / "shots.txt").write_text("name,plate\n")
    with pytest.raises(InputError, match=r"\.csv or \.json"):
        read_shot_list(tmp_path / "shots.txt")
    (tmp_path / "shots.json").write_text('{"name": "a"}')
    with pytest.raises(InputError, match="JSON list"):
        read_shot_list(tmp_path / "shots.json")
    (tmp_path / "empty.csv").write_text("name,plate,masks,output\n")
    with pytest.raises(InputError, match="holds no shots"):
        read_shot_list(tmp_path / "empty.csv")


def test_worker_plan_shares_cores_and_checks_devices():
    slots = plan_slots("cpu", 2, shots=5, cores=16)
    assert [(s.device, s.threads) for s in slots] == [("cpu", 8), ("cpu", 8)]
    assert len(plan_slots("cpu", 8, shots=3, cores=16)) == 3
    assert [s.threads for s in plan_slots("cpu", None, shots=10, cores=16)] == [4] * 4
    assert len(plan_slots("cpu", None, shots=10, cores=2)) == 1
    with pytest.raises(ConfigError, match="unknown device"):
        plan_slots("gpu0", 1, shots=1)
    with pytest.raises(ConfigError, match="at least 1"):
        plan_slots("cpu", 0, shots=1)
    if not __import__("torch").cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            plan_slots("cuda:0,cuda:1", None, shots=2)


def test_fingerprint_follows_inputs_and_settings(tmp_path):
    plate, masks = write_shot(tmp_path / "a", frames=3)
    path = write_csv(tmp_path / "s.csv", [{"name": "a", "plate": plate, "masks": masks, "output": "o"}])
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    (shot,) = read_shot_list(path)
    base = shot_fingerprint(shot, weights)
    assert shot_fingerprint(shot, weights) == base
    assert shot_fingerprint(__import__("dataclasses").replace(shot, overwrite=True), weights) == base
    changed = shot.__class__(**{**shot.__dict__, "config": shot.config.replace(top_k=5)})
    assert shot_fingerprint(changed, weights) != base
    assert shot_fingerprint(__import__("dataclasses").replace(shot, precision="bf16"), weights) != base
    mask_file = next(masks.iterdir())
    mask_file.write_bytes(mask_file.read_bytes() + b"\0")
    assert shot_fingerprint(shot, weights) != base


@pytest.fixture(scope="module")
def small_batch(tmp_path_factory):
    """Three good shots (10 frames, 64x112) and one whose mask does not fit its frames."""
    root = tmp_path_factory.mktemp("batch")
    rows = []
    for index, name in enumerate(("sh010", "sh020", "sh030")):
        plate, masks = write_shot(root / name, frames=10, seed=index)
        rows.append({"name": name, "plate": plate, "masks": masks, "output": f"out/{name}", "size": -1})
    plate, masks = write_shot(root / "sh040", frames=4, seed=9)
    mask = next(masks.iterdir())
    from PIL import Image

    Image.fromarray(np.zeros((10, 10), np.uint8)).save(mask)
    rows.insert(1, {"name": "sh040", "plate": plate, "masks": masks, "output": "out/sh040", "size": -1})
    return root, write_csv(root / "shots.csv", rows)


@pytest.fixture(scope="module")
def first_run(small_batch, checkpoint_path):
    """The small batch run once with 2 local workers: (shots, report, events)."""
    _root, shot_list = small_batch
    shots = read_shot_list(shot_list)
    events = []
    report = run_batch(shots, checkpoint_path, LocalBackend(plan_slots("cpu", 2, len(shots))), events.append)
    return shots, report, events


def test_local_batch_bad_shot_fails_alone(small_batch, first_run, model):
    root, _ = small_batch
    shots, report, events = first_run
    status = {r.shot: r for r in report.results}
    assert [r.shot for r in report.results] == ["sh010", "sh040", "sh020", "sh030"]
    assert status["sh040"].status == "failed" and "sh040_1001" in status["sh040"].error
    assert "resolution" in status["sh040"].error
    for name in ("sh010", "sh020", "sh030"):
        assert (status[name].status, status[name].frames) == ("done", 10)
        assert read_marker(root / "out" / name)["frames"] == 10
    assert len({e.pid for e in events if e.state == "running"}) >= 2, "two worker processes ran the shots"
    assert {e.shot for e in events if e.state == "running" and e.frames == 10} == {"sh010", "sh020", "sh030"}
    assert report.to_json()["summary"]["done"] == 3
    # the batch's results are those of the job API run in this process
    shot = shots[0]
    direct = root / "direct"
    run_job(model, open_shot_job(shot.plate, shot.masks, direct, shot.config, shot.mode))
    ours, theirs = read_masks(root / "out" / "sh010"), read_masks(direct)
    assert ours.keys() == theirs.keys() and len(ours) == 10
    assert np.mean([np.mean(ours[k] == theirs[k]) for k in ours]) >= 0.999


def test_cli_rerun_skips_finished_shots(small_batch, first_run, checkpoint_path, tmp_path):
    root, shot_list = small_batch
    stamp = marker_path(root / "out" / "sh020").stat().st_mtime_ns
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(
        create_app(),
        [
            "batch",
            str(shot_list),
            "--model",
            str(checkpoint_path),
            "--workers",
            "2",
            "--device",
            "cpu",
            "--report",
            str(report_path),
        ],
    )
    assert result.exit_code == 6, result.output
    assert "Traceback" not in result.output
    assert "sh040:" in " ".join(result.output.split()) and "resolution" in result.output
    assert marker_path(root / "out" / "sh020").stat().st_mtime_ns == stamp
    report = json.loads(report_path.read_text())
    assert [s["status"] for s in report["shots"]] == ["skipped", "failed", "skipped", "skipped"]
    assert report["summary"] == {
        "shots": 4,
        "done": 0,
        "skipped": 3,
        "failed": 1,
        "stopped": 0,
        "frames": 0,
        "fps": 0.0,
    }
    assert report["shots"][0]["frames"] == 10 and report["shots"][0]["output"] == str(root / "out" / "sh010")


def test_cli_bad_shot_list_is_one_red_line(tmp_path):
    path = write_csv(tmp_path / "shots.csv", [{"name": "a", "plate": "p", "masks": "m", "output": "o", "mode": "x"}])
    result = CliRunner().invoke(create_app(), ["batch", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "shots.csv line 2 (shot 'a'): mode must be one of" in " ".join(result.output.split())


def test_repeated_output_is_reported_with_the_other_problems_in_one_pass(tmp_path):
    path = write_csv(
        tmp_path / "shots.csv",
        [
            {"name": "a", "plate": "p", "masks": "m", "output": "o1", "size": "huge"},  # broken, and owns o1
            {"name": "b", "plate": "p", "masks": "m", "output": "o1"},  # valid, but o1 again
            {"name": "a", "plate": "p", "masks": "m", "output": "o3", "mode": "sam"},  # broken, and a repeated name
        ],
    )
    with pytest.raises(InputError) as info:
        read_shot_list(path)
    message = str(info.value)
    for expected in (
        "line 2 (shot 'a'): size must be a whole number",
        "line 4 (shot 'a'): mode must be one of",
        f"line 3: output '{(tmp_path / 'o1').resolve()}' is already used by shots.csv line 2",
        "line 4: name 'a' is already used by shots.csv line 2",
    ):
        assert expected in message, message


def test_openjd_template_names_every_broken_row(tmp_path):
    plate, masks = write_shot(tmp_path / "sh010", frames=3)
    path = write_csv(
        tmp_path / "shots.csv",
        [
            {"name": "sh010", "plate": plate, "masks": masks, "output": "out/sh010"},
            {"name": "sh020", "plate": tmp_path / "missing", "masks": masks, "output": "out/sh020"},
            {"name": "sh030", "plate": plate, "masks": masks, "output": "out/sh030", "frames": "1001-1009"},
        ],
    )
    template = tmp_path / "job.json"
    result = CliRunner().invoke(create_app(), ["batch", str(path), "--openjd", str(template), "--chunk-size", "2"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "shots.csv line 3 (shot 'sh020'): video or frame folder not found" in lines[0], lines
    assert "shots.csv line 4 (shot 'sh030')" in lines[0] and "1004" in lines[0], lines
    assert not template.exists()
    # one broken row keeps its own advice in command-line words
    path = write_csv(
        tmp_path / "one.csv",
        [{"name": "sh030", "plate": plate, "masks": masks, "output": "out/sh030", "frames": "1001-1009"}],
    )
    result = CliRunner().invoke(create_app(), ["batch", str(path), "--openjd", str(template), "--chunk-size", "2"])
    assert result.exit_code == 2
    assert "one.csv line 2 (shot 'sh030'):" in result.stderr and "--frames within 1001-1003" in result.stderr


def test_stopped_shot_counts_the_frames_it_wrote_in_the_summary(tmp_path, checkpoint_path):
    import threading

    plate, masks = write_shot(tmp_path / "sh010", frames=80, seed=3)
    shots = read_shot_list(
        write_csv(
            tmp_path / "shots.csv",
            [{"name": "sh010", "plate": plate, "masks": masks, "output": "out/sh010", "size": -1}],
        )
    )
    stop = threading.Event()

    def on_event(event) -> None:
        if event.state == "running" and event.frames >= 5:
            stop.set()

    report = run_batch(shots, checkpoint_path, LocalBackend(plan_slots("cpu", 1, 1)), on_event, stop=stop)
    (result,) = report.results
    written = len(list((tmp_path / "out" / "sh010" / "masks").glob("*.png")))
    assert result.status == "stopped" and 5 <= result.frames < 80
    assert written == result.frames
    summary = report.to_json()["summary"]
    assert summary["stopped"] == 1 and summary["frames"] == written


@pytest.mark.slow
def test_killed_local_worker_fails_its_shot_alone_and_a_rerun_resumes_it(tmp_path, checkpoint_path):
    rows = []
    plate, masks = write_shot(tmp_path / "sh010", frames=6, seed=1)
    rows.append({"name": "sh010", "plate": plate, "masks": masks, "output": "out/sh010", "size": -1})
    plate, masks = write_shot(tmp_path / "sh020", frames=20, seed=2, objects=2)
    for name in ("sh020", "sh020_again"):  # the same shot twice: killed once, and uninterrupted
        rows.append({"name": name, "plate": plate, "masks": masks, "output": f"out/{name}", "size": -1, "mem_every": 3})
    shots = read_shot_list(write_csv(tmp_path / "shots.csv", rows))
    killed: list[int] = []

    def kill_once(event):
        if event.shot == "sh020" and event.state == "running" and event.frames >= 8 and not killed:
            os.kill(event.pid, signal.SIGKILL)
            killed.append(event.pid)

    backend = LocalBackend(plan_slots("cpu", 2, len(shots)))
    every_write = CheckpointPolicy(every_writes=1)
    report = run_batch(shots, checkpoint_path, backend, kill_once, checkpoint=every_write)
    assert killed, "the shot ran to its end before the test could kill its worker"
    assert [r.status for r in report.results] == ["done", "failed", "done"]
    assert "worker process died" in report.results[1].error
    assert read_marker(tmp_path / "out/sh020", "started") is not None
    assert read_marker(tmp_path / "out/sh020") is None

    rerun = run_batch(shots, checkpoint_path, backend, checkpoint=every_write)
    assert [r.status for r in rerun.results] == ["skipped", "done", "skipped"]
    assert 6 <= rerun.results[1].resumed_from < 20, "the rerun resumed from the last checkpoint"
    assert rerun.results[1].resumed_from + rerun.results[1].frames == 20
    finished, uninterrupted = read_masks(tmp_path / "out/sh020"), read_masks(tmp_path / "out/sh020_again")
    assert len(finished) == 20 and finished.keys() == uninterrupted.keys()
    for name in finished:
        np.testing.assert_array_equal(finished[name], uninterrupted[name], err_msg=name)


def test_live_table_rows_follow_events_and_restart_the_clock_on_a_retry():
    from xmempp.batch import ShotEvent
    from xmempp.cli.batch_cmd import ShotRow

    row = ShotRow()
    row.update(ShotEvent("a", "running", 0, 100, 11, "n1"), now=5.0)  # network loading
    row.update(ShotEvent("a", "running", 1, 100, 11, "n1"), now=10.0)
    row.update(ShotEvent("a", "running", 21, 100, 11, "n1"), now=20.0)
    assert (row.frames, row.rate, row.eta()) == (21, 2.0, "0:00:40")
    row.update(ShotEvent("a", "running", 0, 80, 12, "n2"), now=30.0)  # retried on another worker
    assert (row.worker, row.rate, row.total) == ("n2:12", None, 80)
    row.update(ShotEvent("a", "running", 40, 80, 12, "n2"), now=40.0)  # resumed from a checkpoint
    row.update(ShotEvent("a", "running", 60, 80, 12, "n2"), now=45.0)
    assert row.rate == 4.0
    row.update(ShotEvent("a", "done", 80), now=50.0)
    assert (row.state, row.total, row.eta()) == ("done", 80, "")


def test_cli_local_options_are_refused_with_ray(tmp_path):
    path = write_csv(tmp_path / "shots.csv", [{"name": "a", "plate": "p", "masks": "m", "output": "o"}])
    result = CliRunner().invoke(create_app(), ["batch", str(path), "--ray", "auto", "--workers", "2"])
    assert result.exit_code == 2
    assert "--workers and --device are for local runs" in " ".join(result.output.split())


@pytest.mark.slow
def test_a_qc_column_reviews_that_shot_when_it_completes(tmp_path, checkpoint_path):
    plate, masks = write_shot(tmp_path / "sh010", frames=6)
    plate2, masks2 = write_shot(tmp_path / "sh020", frames=6, seed=1)
    shot_list = write_csv(
        tmp_path / "shots.csv",
        [
            {"name": "sh010", "plate": plate, "masks": masks, "output": tmp_path / "out" / "sh010", "qc": "yes"},
            {"name": "sh020", "plate": plate2, "masks": masks2, "output": tmp_path / "out" / "sh020"},
        ],
    )
    assert [s.qc for s in read_shot_list(shot_list)] == [True, False]
    result = CliRunner().invoke(
        create_app(),
        ["batch", str(shot_list), "--model", str(checkpoint_path), "--workers", "1", "--device", "cpu", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "sh010" / "qc.json").read_text())
    assert len(data["frames"]) == 6 and data["frames"][0]["keyframe"]
    assert (tmp_path / "out" / "sh010" / "qc.html").is_file()
    assert not (tmp_path / "out" / "sh020" / "qc.json").exists()
    page = (tmp_path / "shots.qc.html").read_text()  # one page over the batch
    assert 'href="out/sh010/qc.html"' in page and "not reviewed" in page and "<svg" in page
    with pytest.raises(InputError, match="qc must be true or false"):
        read_shot_list(
            write_csv(
                tmp_path / "bad.csv",
                [{"name": "a", "plate": plate, "masks": masks, "output": tmp_path / "o", "qc": "maybe"}],
            )
        )
