"""Renamed options keep working as hidden aliases (cli/deprecated.py): mapped to today's option, one notice
naming the new spelling on stderr, absent from --help; `xmempp --version` prints the version."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import typer.main
from PIL import Image
from typer.testing import CliRunner

from batchhelpers import write_csv
from iohelpers import colour_frame, square_mask, write_palette_png
from xmempp.cli.app import app, create_app
from xmempp.cli.deprecated import OLD_OPTIONS, REMOVED_IN
from xmempp.io.masks import davis_palette

ALIASES = [(command, old, new) for command, table in OLD_OPTIONS.items() for old, new in table.items()]
#: A value today's option accepts, per option taking one ("" for a path: the test's folder).
VALUES = {"--count": "3", "--device": "cpu", "--balance": "0.25", "--into": "", "--masks": ""}


def notice(old: str, new: str) -> str:
    return f"warning: {old} is deprecated, use {new} (it will be removed in {REMOVED_IN})"


def recording_app(calls: list):
    """The application with every command's body replaced by a recorder of its parsed values."""
    recording = create_app()
    for info in recording.registered_commands:

        @functools.wraps(info.callback)
        def record(**params) -> None:
            calls.append(params)

        info.callback = record
    return recording


def required_args(command, folder) -> list[str]:
    """Values for the command's required options and arguments (a folder serves every one of them)."""
    args = []
    for param in command.params:
        if param.required:
            args += [str(folder)] if param.param_type_name == "argument" else [param.opts[0], str(folder)]
    return args


@pytest.mark.parametrize(("command", "old", "new"), ALIASES, ids=[f"{c} {o}" for c, o, _ in ALIASES])
def test_old_spelling_parses_as_the_new_one_with_one_notice(command, old, new, tmp_path):
    calls: list = []
    recording = recording_app(calls)
    base = [command, *required_args(typer.main.get_command(recording).commands[command], tmp_path)]
    new_words = new.split()
    if len(new_words) == 1 and new in VALUES:  # an option with a value: `--old V` and `--old=V`
        value = VALUES[new] or str(tmp_path / "given")
        forms = [[old, value], [f"{old}={value}"]]
        expected = [new, value]
    else:  # a flag, or an old flag that meant a value of today's option
        forms = [[old]]
        expected = new_words
    runner = CliRunner()
    reference = runner.invoke(recording, [*base, *expected, *expected])
    assert reference.exit_code == 0, reference.output
    assert notice(old, new) not in reference.stderr
    for form in forms:
        result = runner.invoke(recording, [*base, *form, *form])  # given twice: still one notice
        assert result.exit_code == 0, result.output
        assert result.stderr.count(notice(old, new)) == 1, result.stderr
        assert calls[-1] == calls[0]  # the values parsed from the new spelling


@pytest.mark.parametrize("command", sorted(OLD_OPTIONS))
def test_aliases_are_hidden_and_map_to_options_of_today(command):
    click_command = typer.main.get_command(app).commands[command]
    names = {name for param in click_command.params for name in (*param.opts, *param.secondary_opts)}
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for old, new in OLD_OPTIONS[command].items():
        assert old not in names, f"{command} {old} is a declared option"
        assert new.split()[0] in names, f"{command} {new} is not an option of today"
        assert not re.search(rf"(?<![\w-]){re.escape(old)}(?![\w-])", result.output), f"{old} in {command} --help"
        assert re.search(rf"(?<![\w-]){re.escape(new.split()[0])}(?![\w-])", result.output)


def test_value_of_another_option_is_not_rewritten():
    calls: list = []
    result = CliRunner().invoke(recording_app(calls), ["import", "--name", "--workspace", "--into", "ws"])
    assert result.exit_code == 0, result.output
    assert calls[-1]["name"] == "--workspace" and "deprecated" not in result.stderr


def test_bench_frames_and_no_autocast_run(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--random-weights",
            "--size",
            "32",
            "--frames",
            "2",
            "--warmup",
            "0",
            "--device",
            "cpu",
            "--json",
            "--no-flops",
            "--peak-runs",
            "1",
            "--no-autocast",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["frames"] == 2 and report["precision"] == "fp32"
    assert notice("--frames", "--count") in result.stderr
    assert notice("--no-autocast", "--precision fp32") in result.stderr


def test_import_workspace_creates_the_workspace_there(tmp_path):
    frames, masks = tmp_path / "plates", tmp_path / "roto"
    frames.mkdir()
    masks.mkdir()
    for i in range(3):
        Image.fromarray(colour_frame(i)).save(frames / f"shot_a_{1001 + i}.png")
    write_palette_png(masks / "shot_a_1001.png", square_mask(48, 64, {1: (0, 0, 9, 9)}), davis_palette())
    result = CliRunner().invoke(
        app,
        [
            "import",
            "--name",
            "shot_a",
            "--images",
            str(frames),
            "--masks",
            str(masks),
            "--workspace",
            str(tmp_path / "ws"),
            "--size",
            "24",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ws" / "shot_a" / "info.json").is_file()
    assert notice("--workspace", "--into") in result.stderr


def test_batch_devices_is_taken_as_device(tmp_path):
    path = write_csv(tmp_path / "shots.csv", [{"name": "a", "plate": "p", "masks": "m", "output": "o"}])
    result = CliRunner().invoke(app, ["batch", str(path), "--ray", "auto", "--devices", "cpu"])
    assert result.exit_code == 2  # refused for what --device means (a local option), not as an unknown option
    assert "--workers and --device are for local runs" in " ".join(result.stderr.split())
    assert notice("--devices", "--device") in result.stderr


def test_console_script_maps_an_old_spelling_and_prints_the_version():
    script = [sys.executable, "-c", "from xmempp.cli.app import main; main()"]
    result = subprocess.run([*script, "demo", "--frames", "0"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2  # --count's own range check: the old spelling reached it
    assert notice("--frames", "--count") in result.stderr and "'--count'" in result.stderr
    assert "No such option" not in result.stderr
    version = subprocess.run([*script, "--version"], capture_output=True, text=True, timeout=300)
    written = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["version"]
    assert version.returncode == 0 and version.stdout.strip() == f"xmempp {written}"
