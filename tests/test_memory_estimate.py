"""Memory guard: the estimate grows with what drives memory, refuses what does not fit, and (slow)
stays near the peak RSS measured in a real run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from xmempp import InferenceConfig
from xmempp.cli.remedies import cli_message
from xmempp.errors import ResourceError
from xmempp.inference import memory_estimate
from xmempp.inference.jobs import ShotJob
from xmempp.inference.memory_estimate import available_memory, check_job_memory, estimate_job_memory
from xmempp.io.synthetic import MovingDiscs


def job(height=1080, width=1920, size=-1, length=3, objects=1, **config) -> ShotJob:
    frames = MovingDiscs(length, height, width, objects=objects)
    return ShotJob(frames, {0: frames.mask(0)}, InferenceConfig(size=size, **config))


def test_estimate_grows_with_size_objects_and_memory(model):
    native = estimate_job_memory(model, job())
    assert estimate_job_memory(model, job(size=480)).total < native.total
    assert estimate_job_memory(model, job(objects=3)).total > native.total
    long_shot = estimate_job_memory(model, job(length=200, mem_every=5))
    assert long_shot.memory_elements > native.memory_elements
    assert long_shot.parts["memory read"] > native.parts["memory read"]
    uhd = estimate_job_memory(model, job(2160, 3840))
    assert uhd.parts["memory read"] > 10 * 2**30  # what made `--size -1` on 4K take 18.9 GB for 3 frames
    assert uhd.processing == (2160, 3840)


def test_refused_with_a_size_that_fits_or_warned_with_force(model, monkeypatch):
    monkeypatch.setattr(memory_estimate, "available_memory", lambda: 3 * 2**30)
    uhd = job(2160, 3840)
    with pytest.raises(ResourceError, match=r"3840x2160") as refused:
        check_job_memory(model, uhd)
    smaller, force = refused.value.remedies
    assert (smaller.setting, force.setting, force.value) == ("size", "force", None)
    offered = smaller.value
    fits = {s: estimate_job_memory(model, job(2160, 3840, size=s)).shortfall() is None for s in (1440, 1080, 720)}
    assert fits[offered] and not any(fits[s] for s in fits if s > offered)  # the largest size that fits
    assert f"--size {offered}" in cli_message(refused.value) and "--force" in cli_message(refused.value)
    warning = check_job_memory(model, uhd, force=True)
    assert warning is not None and "3.0 GiB is available" in str(warning) and warning.remedy.setting == "size"
    assert check_job_memory(model, job(480, 854, size=480)) is None


def test_available_memory_is_positive():
    assert available_memory() > 0


@pytest.mark.slow
def test_estimate_is_near_the_measured_peak(checkpoint_path):
    """Run a 720p native job in a fresh process and compare its peak RSS increase with the estimate."""
    script = textwrap.dedent(f"""
        import json, resource, tempfile, pathlib, torch
        torch.set_num_threads(2)
        from xmempp import load_model, InferenceConfig
        from xmempp.io.synthetic import MovingDiscs
        from xmempp.inference.jobs import ShotJob, JobOutputs, run_job
        from xmempp.inference.memory_estimate import estimate_job_memory
        from xmempp.resources import peak_rss_bytes
        model = load_model({str(checkpoint_path)!r}, device="cpu")
        frames = MovingDiscs(3, 720, 1280, objects=2)
        job = ShotJob(frames, {{0: frames.mask(0)}}, InferenceConfig(size=-1),
                      outputs=JobOutputs(pathlib.Path(tempfile.mkdtemp()) / "o"))
        estimate = estimate_job_memory(model, job).total
        base = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
        run_job(model, job)
        peak = peak_rss_bytes()  # not ru_maxrss: it starts at this pytest process's peak
        print(json.dumps({{"estimate": estimate, "measured": peak - base}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=1800, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert 0.6 * figures["measured"] <= figures["estimate"] <= 2.0 * figures["measured"], figures


def test_the_cpu_estimate_counts_the_packed_weight_copies(model):
    weights = sum(m.weight.numel() * 4 for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert estimate_job_memory(model, job(480, 854)).parts["packed weights"] == weights
    assert estimate_job_memory(model, job(480, 854, objects=2)).parts["packed weights"] == 2 * weights
