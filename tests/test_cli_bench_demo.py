"""`xmempp bench` prints real measurements; `xmempp demo` runs end to end; `--version`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cli.app import app
from xmempp import __version__

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_bench_reports_stages_and_memory():
    result = runner.invoke(
        app,
        [
            "bench",
            "--random-weights",
            "--size",
            "64",
            "--count",
            "3",
            "--warmup",
            "1",
            "--objects",
            "2",
            "--device",
            "cpu",
            "--json",
            "--peak-runs",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["frames"] == 3 and report["objects"] == 2 and report["frame_size"] == [64, 114]
    assert report["fps"] > 0 and report["peak_rss_gib"] > 0
    for stage in ("decode", "key_encoder", "memory_read", "decoder", "write"):
        assert report["stages"][stage] >= 0
    assert report["ms_per_frame"] >= report["stages"]["decoder"]
    # the machine's own limit, measured in the same run, and the processor named with its extensions
    assert report["peak_gflops"] > 0 and "conv 3x3" in report["peak_kernel"]
    assert all(ext.lower() in report["hardware"].lower() for ext in report["extensions"])
    # FLOPs counted per stage: the key encoder and decoder are convolutions, the whole frame sums the stages
    flops = report["gflop_per_frame"]
    assert flops["key_encoder"] > 0 and flops["decoder"] > 0
    assert abs(flops["frame"] - sum(v for k, v in flops.items() if k != "frame")) < 1e-6
    for stage in ("key_encoder", "decoder", "frame"):
        assert report["fraction_of_peak"][stage] == report["gflops"][stage] / report["peak_gflops"]
    assert report["best_frame_fraction"] > 0
    # the peak also measured between frames: the frames' rate against its rate over those runs
    low, high = report["peak_range"]
    assert 0 < low <= report["peak_between_gflops"] <= high == report["peak_gflops"]
    assert report["fraction_of_peak_between"] == pytest.approx(
        report["fraction_of_peak"]["frame"] * high / report["peak_between_gflops"]
    )
    # its provenance, for a result kept as a file (docs/benchmarks/)
    assert report["threads"] == torch.get_num_threads() and report["xmempp_version"] == __version__
    assert report["torch_version"] == torch.__version__ and report["date"].endswith("+00:00")


@pytest.mark.slow
def test_bench_flops_scale_with_objects_and_size():
    def flops(*args):
        result = runner.invoke(
            app,
            [
                "bench",
                "--random-weights",
                "--count",
                "2",
                "--warmup",
                "0",
                "--device",
                "cpu",
                "--json",
                "--peak-runs",
                "1",
                *args,
            ],
        )
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout[result.stdout.index("{") :])["gflop_per_frame"]

    small, wide, two = flops("--size", "32"), flops("--size", "64"), flops("--size", "32", "--objects", "2")
    # the key encoder runs once per frame: 4x the pixels, ~4x the FLOPs; objects do not change it
    assert 3.5 < wide["key_encoder"] / small["key_encoder"] < 4.5
    assert two["key_encoder"] == small["key_encoder"]
    assert two["decoder"] > small["decoder"]


def test_bench_no_flops_skips_the_count():
    result = runner.invoke(
        app,
        [
            "bench",
            "--random-weights",
            "--size",
            "32",
            "--count",
            "2",
            "--warmup",
            "0",
            "--device",
            "cpu",
            "--json",
            "--no-flops",
            "--peak-runs",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["gflop_per_frame"] == {} and report["best_frame_fraction"] is None and report["peak_gflops"] > 0
    assert report["fraction_of_peak_between"] is None


@pytest.mark.slow
def test_demo_processes_a_generated_clip(tmp_path, checkpoint_path):
    result = runner.invoke(
        app, ["demo", "-o", str(tmp_path / "demo"), "--count", "3", "--model", str(checkpoint_path), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    masks = sorted((tmp_path / "demo" / "result" / "masks").iterdir())
    assert [p.name for p in masks] == ["demo_1001.png", "demo_1002.png", "demo_1003.png"]
    first = np.array(Image.open(masks[0]))
    assert set(np.unique(first)) == {0, 1, 2}
