"""`xmempp bench` prints real measurements; `xmempp demo` runs end to end; `--version`."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from cli.app import app
from xmempp import __version__

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_bench_reports_stages_and_memory():
    result = runner.invoke(app, ["bench", "--random-weights", "--size", "64", "--frames", "3", "--warmup", "1",
                                 "--objects", "2", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert report["frames"] == 3 and report["objects"] == 2 and report["frame_size"] == [64, 114]
    assert report["fps"] > 0 and report["peak_rss_gib"] > 0
    for stage in ("decode", "key_encoder", "memory_read", "decoder", "write"):
        assert report["stages"][stage] >= 0
    assert report["ms_per_frame"] >= report["stages"]["decoder"]


def test_demo_processes_a_generated_clip(tmp_path, checkpoint_path):
    result = runner.invoke(app, ["demo", "-o", str(tmp_path / "demo"), "--frames", "3", "--model",
                                 str(checkpoint_path), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    masks = sorted((tmp_path / "demo" / "result" / "masks").iterdir())
    assert [p.name for p in masks] == ["demo_1001.png", "demo_1002.png", "demo_1003.png"]
    first = np.array(Image.open(masks[0]))
    assert set(np.unique(first)) == {0, 1, 2}
