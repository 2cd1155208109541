"""The same batch as Ray tasks on a local Ray instance: a failing shot fails alone, a worker killed
mid-shot is retried by Ray, resumes from its checkpoint and completes with the output of an
uninterrupted run."""

from __future__ import annotations

import os
import signal

import cv2
import numpy as np
import pytest

from batchhelpers import read_masks, write_csv, write_shot
from xmempp.batch import LocalBackend, RayBackend, plan_slots, read_shot_list, run_batch
from xmempp.inference.checkpoint import CheckpointPolicy

pytestmark = pytest.mark.slow

#: The killed shot's worker dies once this many frames are written.
KILL_AT = 10


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")  # here, not at collection: Ray takes a while to import
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def test_ray_batch_survives_a_killed_worker(local_ray, tmp_path, checkpoint_path):
    rows = []
    plate, masks = write_shot(tmp_path / "sh010", frames=8, seed=1)
    rows.append({"name": "sh010", "plate": plate, "masks": masks, "output": "out/sh010", "size": -1})
    plate, masks = write_shot(tmp_path / "sh020", frames=24, seed=2, objects=2)
    for name in ("sh020", "sh020_again"):  # the same shot twice: killed once, and uninterrupted
        rows.append({"name": name, "plate": plate, "masks": masks, "output": f"out/{name}", "size": -1, "mem_every": 3})
    rows.append({"name": "sh030", "plate": tmp_path / "missing", "masks": masks, "output": "out/sh030"})
    shots = read_shot_list(write_csv(tmp_path / "shots.csv", rows))

    killed: list[int] = []
    seen: list = []

    def kill_once(event):
        seen.append(event)
        if event.shot == "sh020" and event.state == "running" and event.frames >= KILL_AT and not killed:
            os.kill(event.pid, signal.SIGKILL)
            killed.append(event.pid)

    every_write = CheckpointPolicy(every_writes=1)
    report = run_batch(shots, checkpoint_path, RayBackend(), kill_once, checkpoint=every_write)
    status = {r.shot: r for r in report.results}
    assert killed, "the shot ran to its end before the test could kill its worker"
    assert status["sh030"].status == "failed" and "not found" in status["sh030"].error
    for name in ("sh010", "sh020", "sh020_again"):
        assert status[name].status == "done", status[name]
    after = [
        e
        for e in seen[seen.index(next(e for e in seen if e.pid == killed[0] and e.frames >= KILL_AT)) + 1 :]
        if e.shot == "sh020" and e.state == "running"
    ]
    assert after and all(e.pid != killed[0] for e in after), "a new worker finished the killed shot"
    # issue 36: each task says "running" as it starts, and the driver reports Ray's retry of the lost worker
    for name in ("sh010", "sh020", "sh020_again"):
        states = [e.state for e in seen if e.shot == name]
        assert states[0] == "queued" and states[1] == "running" and states[-1] == "done", (name, states)
    (retry,) = [e for e in seen if e.state == "retry"]
    assert retry.shot == "sh020" and retry.attempt == 2 and retry.pid not in (0, killed[0])
    assert seen.index(retry) < seen.index(after[0])
    assert status["sh020"].retries == 1 and status["sh010"].retries == status["sh020_again"].retries == 0
    assert {s["name"]: s["retries"] for s in report.to_json()["shots"]}["sh020"] == 1
    # the kill lands a few frames after the progress event that asked for it, so only bound it by the shot
    assert 0 < status["sh020"].resumed_from < 24, "the retry resumed from a checkpoint, not from the start"
    assert status["sh020"].resumed_from + status["sh020"].frames == 24
    assert status["sh020_again"].resumed_from == 0
    retried, uninterrupted = read_masks(tmp_path / "out/sh020"), read_masks(tmp_path / "out/sh020_again")
    assert len(retried) == 24 and retried.keys() == uninterrupted.keys()
    for name in retried:
        np.testing.assert_array_equal(retried[name], uninterrupted[name], err_msg=name)

    rerun = run_batch(shots, checkpoint_path, RayBackend(), checkpoint=every_write)
    assert [r.status for r in rerun.results] == ["skipped", "skipped", "skipped", "failed"]


def test_ray_tasks_take_the_rows_refine_settings_and_foreground(local_ray, tmp_path, checkpoint_path):
    """A refined row with foreground colour writes on Ray what it writes on a local worker (one thread each)."""
    pytest.importorskip("pymatting")
    pytest.importorskip("OpenImageIO")
    plate, masks = write_shot(tmp_path / "sh010", frames=4, seed=1)
    row = {
        "plate": plate,
        "masks": masks,
        "size": -1,
        "refine": "guided",
        "refine_band": "3",
        "foreground": "true",
        "alpha_bits": "16",
    }
    shots = read_shot_list(
        write_csv(
            tmp_path / "shots.csv",
            [
                {"name": "ray", "output": "out/ray", **row},
                {"name": "plain", "output": "out/plain", **row, "refine": "off", "foreground": "false"},
            ],
        )
    )
    local = read_shot_list(write_csv(tmp_path / "local.csv", [{"name": "local", "output": "out/local", **row}]))
    report = run_batch(shots, checkpoint_path, RayBackend(cpus_per_shot=1))
    assert [r.status for r in report.results] == ["done", "done"], report.results
    assert run_batch(local, checkpoint_path, LocalBackend(plan_slots("cpu", 1, 1, cores=1))).results[0].status == "done"
    ray_out, local_out, plain = tmp_path / "out/ray", tmp_path / "out/local", tmp_path / "out/plain"
    for folder in ("alpha", "foreground"):
        names = sorted(p.name for p in (ray_out / folder / "1").iterdir())
        assert names == [f"sh010_{1001 + i}.png" for i in range(4)]
        for name in names:
            np.testing.assert_array_equal(
                cv2.imread(str(ray_out / folder / "1" / name), cv2.IMREAD_UNCHANGED),
                cv2.imread(str(local_out / folder / "1" / name), cv2.IMREAD_UNCHANGED),
            )
    assert not (plain / "foreground").exists()
    last = "alpha/1/sh010_1004.png"
    assert not np.array_equal(
        cv2.imread(str(ray_out / last), cv2.IMREAD_UNCHANGED), cv2.imread(str(plain / last), cv2.IMREAD_UNCHANGED)
    ), "the task refined the matte"
