"""What a shot asks of a farm host (issue 36), without a GPU: RAM and GPU memory from the memory estimate, the
shots one GPU holds (a Ray task's fractional num_gpus), OpenJD host requirements, and the retry events of a Ray
batch computed from its workers' events."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from batchhelpers import write_csv, write_shot
from xmempp.batch import BatchDefaults, read_shot_list
from xmempp.batch.cluster import RetryWatch
from xmempp.batch.openjd import host_requirements
from xmempp.batch.preflight import preflight
from xmempp.batch.resources import (
    CUDA_RUNTIME_BYTES,
    MIB,
    PROCESS_BYTES,
    ShotNeeds,
    gpu_request,
    shot_needs,
    shots_per_gpu,
)
from xmempp.batch.runner import BatchReport
from xmempp.batch.worker import ShotEvent, ShotResult, ShotTask, open_shot

GIB = 1 << 30


@pytest.mark.parametrize(
    "need_gib, gpu_gib, shots, num_gpus",
    [
        (3, 16, 2, 0.5),  # two shots fit: half a GPU each
        (7.2, 16, 2, 0.5),  # 2 x 7.2 = 14.4 = 90 % of 16: still two
        (7.3, 16, 1, 1.0),  # just over: a whole GPU
        (12, 16, 1, 1.0),
        (40, 16, 1, 1.0),  # larger than the GPU: a whole one (its own memory check refuses it there)
        (1, 80, 2, 0.5),  # many would fit, but two share a GPU at most
    ],
)
def test_a_task_asks_for_half_a_gpu_when_two_shots_fit_on_one(need_gib, gpu_gib, shots, num_gpus):
    assert shots_per_gpu(int(need_gib * GIB), gpu_gib * GIB) == shots
    assert gpu_request(int(need_gib * GIB), gpu_gib * GIB) == num_gpus


def test_an_unknown_need_or_gpu_asks_for_a_whole_gpu():
    assert gpu_request(None, 16 * GIB) == 1.0
    assert gpu_request(3 * GIB, None) == 1.0
    assert shots_per_gpu(0, 16 * GIB) == 1
    assert gpu_request(3 * GIB, 16 * GIB, limit=4) == 0.25


def test_needs_follow_the_estimate_and_grow_with_the_shot(tmp_path, model):
    rows = []
    for name, frames, objects in (("small", 3, 1), ("large", 12, 3)):
        plate, masks = write_shot(tmp_path / name, frames=frames, seed=2, objects=objects)
        rows.append({"name": name, "plate": plate, "masks": masks, "output": f"out/{name}", "size": -1})
    shots = read_shot_list(write_csv(tmp_path / "shots.csv", rows), BatchDefaults())
    needs = {}
    for shot in shots:
        job = open_shot(shot)
        try:
            needs[shot.name] = shot_needs(model, job)
        finally:
            job.frames.close()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    for need in needs.values():
        assert need.gpu_memory > CUDA_RUNTIME_BYTES + weights
        assert need.cpu_ram > need.gpu_ram > PROCESS_BYTES + weights  # on a GPU, the network's work leaves RAM
        assert need.ram("cuda:1") == need.gpu_ram and need.ram("cpu") == need.ram(None) == need.cpu_ram
    assert needs["large"].gpu_memory > needs["small"].gpu_memory
    assert needs["large"].cpu_ram > needs["small"].cpu_ram
    tasks = [ShotTask(shot, "fp") for shot in shots]
    checks = preflight(tasks, tmp_path / "unused.pth", model=model)  # the batch's check notes the same needs
    assert [c.needs for c in checks] == [needs["small"], needs["large"]]


def test_host_requirements_ask_for_a_gpu_only_on_a_cuda_device():
    needs = ShotNeeds(cpu_ram=3 * GIB + 1, gpu_ram=GIB, gpu_memory=5 * GIB)
    on_cpu = host_requirements(needs, "cpu", cpus=2)["amounts"]
    assert on_cpu == [{"name": "amount.worker.vcpu", "min": 2}, {"name": "amount.worker.memory", "min": 3 * 1024 + 1}]
    assert host_requirements(needs, None)["amounts"][1]["min"] == 3 * 1024 + 1
    on_gpu = {a["name"]: a["min"] for a in host_requirements(needs, "cuda:0")["amounts"]}
    assert on_gpu == {
        "amount.worker.vcpu": 1,
        "amount.worker.memory": GIB // MIB,
        "amount.worker.gpu": 1,
        "amount.worker.gpu.memory": 5 * 1024,
    }


def test_a_shot_starting_on_a_second_worker_is_reported_as_a_retry():
    events: list[ShotEvent] = []
    watch = RetryWatch(events.append)
    for event in [
        ShotEvent("a", "running", 0, 0, 11, "node1"),
        ShotEvent("b", "running", 0, 0, 12, "node1"),
        ShotEvent("a", "running", 5, 20, 11, "node1"),
        ShotEvent("a", "running", 0, 0, 13, "node2"),  # a's worker was lost; Ray started it again
        ShotEvent("a", "running", 20, 20, 13, "node2"),
        ShotEvent("b", "done", 9),
        ShotEvent("a", "running", 0, 0, 14, "node2"),
    ]:  # and once more
        watch(event)
    retries = [e for e in events if e.state == "retry"]
    assert [(e.shot, e.pid, e.host, e.attempt) for e in retries] == [("a", 13, "node2", 2), ("a", 14, "node2", 3)]
    assert events.index(retries[0]) == 3  # before the new worker's first event
    assert len(events) == 9 and watch.retries == {"a": 2}
    report = BatchReport(
        [dataclasses.replace(ShotResult("a", "done", 20), retries=watch.retries["a"]), ShotResult("b", "done", 9)],
        {"a": Path("out/a"), "b": Path("out/b")},
        1.0,
        "ray",
    )
    assert [shot["retries"] for shot in report.to_json()["shots"]] == [2, 0]


class RetryingBackend:
    """Stands in for a Ray cluster whose first worker of each shot is lost: its events pass through `RetryWatch`
    as `RayBackend`'s do, and each shot ends done with its retries counted."""

    def __init__(self, address: str = "auto", cpus_per_shot: int = 1) -> None:
        self.address = address

    def describe(self) -> str:
        return "ray (stand-in)"

    def run(self, tasks, weights, on_event, on_result, stop=None):
        watch = RetryWatch(on_event)
        for task in tasks:
            name = task.shot.name
            for frames, total, pid, host in (
                (0, 0, 101, "node1"),
                (1, 3, 101, "node1"),
                (0, 0, 202, "node2"),
                (3, 3, 202, "node2"),
            ):
                watch(ShotEvent(name, "running", frames, total, pid, host))
            on_result(ShotResult(name, "done", 3, 1.0, retries=watch.retries[name]))


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_the_batch_log_and_report_name_a_ray_retry(tmp_path, checkpoint_path, monkeypatch, log_format):
    import json

    from typer.testing import CliRunner

    from xmempp.cli.app import create_app

    monkeypatch.setattr("xmempp.cli.batch_cmd.RayBackend", RetryingBackend)
    plate, masks = write_shot(tmp_path / "sh010", frames=3)
    shot_list = write_csv(
        tmp_path / "shots.csv", [{"name": "sh010", "plate": plate, "masks": masks, "output": "out/sh010"}]
    )
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        create_app(),
        [
            "batch",
            str(shot_list),
            "--ray",
            "auto",
            "--model",
            str(checkpoint_path),
            "--report",
            str(report),
            "--log-format",
            log_format,
        ],
    )
    assert result.exit_code == 0, result.output
    if log_format == "json":
        lines = [json.loads(line) for line in result.output.splitlines()]
        (retry,) = [line for line in lines if line.get("state") == "retry"]
        assert retry["event"] == "shot" and retry["shot"] == "sh010" and retry["attempt"] == 2
        assert retry["worker"] == "node2:202"
        assert any(line.get("state") == "running" for line in lines)  # the start is logged too
    else:
        assert "retry: sh010: Ray lost its worker and runs it again (attempt 2) on node2:202" in result.output
    assert json.loads(report.read_text())["shots"][0]["retries"] == 1
