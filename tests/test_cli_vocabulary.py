"""One vocabulary across commands: every option name has one meaning, declared once in `MEANINGS`.

The test walks every command of the `xmempp` application (typer's click command tree) and fails when an
option name is not declared, when one of its uses is of another kind than declared (a flag, a number, a
range, a path, a choice), when its help text does not say the declared meaning, or when a short flag
stands for different long names in two commands. A batch shot list's columns are `xmempp process`'s
options under the same names (`refine_band` is `--refine-band`). Usage errors are one red line.
"""

from __future__ import annotations

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from cli.app import app
from xmempp.batch.shotlist import PLATE_SETTINGS, REFINE_SETTINGS, WRITER_SETTINGS
from xmempp.inference.config import InferenceConfig

#: name -> (kind, words its help must contain (lower case), or None, what it means)
MEANINGS: dict[str, tuple[str, str | None, str]] = {
    "--video": ("path", "frames", "the shot's frames: a folder, a frame pattern or a video file"),
    "--images": ("path", "frames", "the shot's frames as a folder or a pattern"),
    "--masks": ("path", "masks", "the masks folder: keyframe roto (process), soft mattes to refine (refine)"),
    "--out": ("path", "folder", "the output folder"),
    "--model": ("path", "checkpoint", "the XMem checkpoint"),
    "--config": ("path", "inferenceconfig", "a JSON file of inference settings"),
    "--size": ("int", "shorter side", "the shorter side in pixels frames are processed or kept at"),
    "--mem-every": ("int", "default", "temporary memory interval"),
    "--top-k": ("int", "default", "memory elements per query pixel"),
    "--mode": ("choice", "permanent memory", "memory mechanism"),
    "--device": ("text", "cpu", "the device(s) to run on"),
    "--alpha": ("flag", "soft mattes", "write soft mattes"),
    "--alpha-bits": ("int", None, "bits per matte pixel"),
    "--matte-format": ("choice", None, "soft matte file format"),
    "--exr-layers": ("flag", "layers", "write layered EXRs"),
    "--cryptomatte": ("flag", "cryptomatte", "write a Cryptomatte layer"),
    "--names": ("text", "names", "object names id=name"),
    "--compression": ("text", None, "EXR/TIFF compression"),
    "--binary": ("flag", None, "write 0/255 mattes"),
    "--overlay": ("flag", None, "write overlay previews"),
    "--overlay-opacity": ("float", None, "overlay colour weight"),
    "--jpeg-quality": ("int", None, "overlay JPEG quality"),
    "--preview": ("path", None, "a preview video"),
    "--overwrite": ("flag", "replace", "replace xmempp's earlier results"),
    "--quiet": ("flag", "no progress", "no progress output"),
    "--compile": ("flag", "torch.compile", "torch.compile the network"),
    "--cuda-graphs": ("flag", "cuda graphs", "CUDA graph replay"),
    "--frames": ("text", "range", "a frame range FIRST-LAST"),
    "--count": ("int", "number of frames", "a number of frames"),
    "--colorspace": ("text", "colour space", "the plates' OCIO colour space"),
    "--display": ("text", "display", "OCIO display"),
    "--view": ("text", "view", "OCIO view"),
    "--layer": ("text", "layer", "EXR layer or part of the plates"),
    "--start-frame": ("int", "first frame", "number of a video's first frame"),
    "--mask-threshold": ("float", None, "soft roto threshold"),
    "--mask-channel": ("text", "channel", "EXR channel of the roto"),
    "--review": ("flag", "review", "also time the review"),
    "--from-review": ("path", "review", "a review's qc.json to prefer its flagged frames"),
    "--qc": ("flag", "review", "review the results (qc.json, qc.html)"),
    "--keyframes": ("path", "keyframe", "the artist's keyframe masks (trusted)"),
    "--resume": ("flag", "checkpoint", "continue from a checkpoint"),
    "--checkpoint-every": ("text", "memory writes", "checkpoint interval: N writes, Ns, Nm or off"),
    "--force": ("flag", None, "go on despite a check (memory estimate, existing download)"),
    "--force-unlock": ("flag", None, "take over a stale output lock"),
    "--log-format": ("choice", None, "progress/log line format"),
    "--workers": ("int", None, "local workers"),
    "--ray": ("text", "ray", "Ray cluster"),
    "--cpus-per-shot": ("int", None, "CPUs per Ray task"),
    "--report": ("path", "report", "JSON report file"),
    "--dry-run": ("flag", None, "check without running"),
    "--openjd": ("path", None, "OpenJD template"),
    "--chunk-size": ("int", None, "frames per farm chunk"),
    "--balance": ("float", "weight", "candidates: weight of the target mask"),
    "--predicted": ("path", None, "results of an earlier run"),
    "--min-mask-percent": ("float", None, "least target coverage"),
    "--json": ("flag", "json", "print JSON"),
    "--name": ("name", "name", "the name of what the command creates or fetches (a workspace, a weights file)"),
    "--into": ("path", "holds the workspaces", "the folder that holds workspaces"),
    "--workspace": ("path", "existing workspace", "an existing workspace"),
    "--screenshot": ("path", None, "GUI screenshot file"),
    "--annotated": ("text", None, "annotated frames not to score"),
    "--include-annotated": ("flag", None, "score annotated frames"),
    "--include-ends": ("flag", None, "score the first and last frames"),
    "--objects": ("int", None, "number of objects"),
    "--warmup": ("int", None, "frames not timed"),
    "--random-weights": ("flag", None, "random weights"),
    "--threads": ("int", None, "CPU threads"),
    "--width": ("int", None, "synthetic clip width"),
    "--timeline": ("int", None, "timeline interval"),
    "--flops": ("flag", None, "count FLOPs"),
    "--autocast": ("flag", None, "mixed precision"),
    "--peak-runs": ("int", None, "peak convolution runs"),
    "--peak-between": ("flag", None, "peak convolution between frames"),
    "--host": ("text", None, "listen address"),
    "--port": ("int", None, "TCP port"),
    "--token": ("text", None, "bearer token"),
    "--token-file": ("path", "named tokens", "a file of named tokens with per-client limits"),
    "--protect-docs": ("flag", "token", "the API docs need a token too"),
    "--conv": ("choice", "3x3", "how the 3x3 convolutions run on the CPU: auto, direct or winograd"),
    "--media-root": ("path", None, "allowed media folder"),
    "--state-dir": ("path", None, "service state folder"),
    "--max-body-mb": ("float", None, "request size limit"),
    "--max-frames": ("int", None, "frames per session limit"),
    "--max-sessions": ("int", None, "session limit"),
    "--session-ttl": ("float", None, "idle session timeout"),
    "--dir": ("path", None, "download folder"),
    "--url": ("text", None, "download mirror"),
    "--version": ("flag", None, "print the version"),
    "--precision": ("choice", "number format", "the network's number format"),
    "--refine": ("choice", "refine", "edge refinement against the plate"),
    "--refine-band": ("float", "uncertain zone", "refinement band width"),
    "--refine-feather": ("float", "fade", "refinement feather"),
    "--refine-detail": ("float", "eps", "guided filter eps"),
    "--refine-temporal": ("float", "over frames", "temporal smoothing of the refinement"),
    "--foreground": ("flag", "foreground", "write decontaminated foreground colour (process, batch: implies --alpha)"),
    "--premultiplied": ("flag", "premultiplied", "RGBA EXR colour premultiplied or straight (--straight)"),
    "--matting": ("flag", "ground-truth alpha", "eval: score mattes against ground-truth alpha"),
    "--score-matting": ("flag", "matting refiner", "refine-bench: also score the matting refiner"),
    "--band": ("int", "band", "eval: edge band dilation"),
    "--seeds": ("int", "scenes", "refine-bench: scenes per kind"),
    "--kinds": ("text", "scene kinds", "refine-bench: scene kinds"),
    "--height": ("int", "height", "plate height of generated scenes"),
    "--backgrounds": ("path", "backgrounds", "folder of real frames for backgrounds"),
    "--scene-set": ("text", "scene generator", "refine-bench: which generator of composites"),
    "--timing": ("flag", "time", "time the refiner"),
    "--max-frame-pixels": ("int", None, "service: largest frame accepted"),
    "--max-polls-per-client": ("int", None, "service: concurrent long polls per client"),
}


#: Uses still on the old vocabulary in a part another change owns: (command, name) -> why. The strict xfail
#: test below fails as soon as one of them is fixed, so the entry is removed then.
#: Uses still to be brought in line: (command, option) -> why (empty: every use follows the table).
PENDING: dict[tuple[str, str], str] = {}


def _kind(param) -> str:
    if param.is_flag:
        return "flag"
    name = getattr(param.type, "name", "")
    if name in ("path", "directory", "file"):
        return "path"
    if name.startswith("int"):  # "integer", "int", "integer range" (click versions differ)
        return "int"
    if name.startswith("float"):
        return "float"
    return {"text": "text", "str": "text", "string": "text", "choice": "choice"}.get(name, name)


def _options():
    """(command path, long name, short names, kind, help) of every option of every command."""
    root = typer.main.get_command(app)
    found = []

    def walk(command, path):
        for param in command.params:
            if getattr(param, "param_type_name", "") != "option":
                continue
            names = list(param.opts) + list(param.secondary_opts)
            longs = [n for n in names if n.startswith("--") and not n.startswith("--no-")]
            shorts = [n for n in names if not n.startswith("--")]
            found.append((path, longs[0], shorts, _kind(param), (param.help or "").lower()))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(root, "xmempp")
    return found


def _problems(pending: bool) -> list[str]:
    problems = []
    shorts: dict[str, tuple[str, str]] = {}
    for command, name, short_names, kind, help_text in _options():
        if ((command, name) in PENDING) != pending:
            continue
        if name not in MEANINGS:
            problems.append(f"{command} {name}: not declared in MEANINGS (say what it means, once)")
            continue
        declared, words, _meaning = MEANINGS[name]
        allowed = {"text", "choice"} if declared == "name" else {declared}
        if kind not in allowed:
            problems.append(f"{command} {name}: a {kind} here, declared as {declared}")
        if words is not None and words not in help_text:
            problems.append(f"{command} {name}: help does not say {words!r}: {help_text!r}")
        for short in short_names:
            other = shorts.setdefault(short, (name, command))
            if other[0] != name:
                problems.append(f"{short} is {name} in {command} but {other[0]} in {other[1]}")
    return problems


def test_every_option_name_has_one_declared_meaning():
    problems = _problems(pending=False)
    assert not problems, "\n".join(problems)


#: Shot-list columns that are no `xmempp process` option of the same name: column -> how `process` takes it.
COLUMNS_ELSEWHERE = {"object_names": "--names"}


def test_shot_list_columns_are_process_options_of_the_same_name():
    process = {name: kind for command, name, _shorts, kind, _help in _options() if command == "xmempp process"}
    config = {f for f in InferenceConfig.__dataclass_fields__ if f"--{f.replace('_', '-')}" not in process}
    columns = set(WRITER_SETTINGS) | set(PLATE_SETTINGS) | set(REFINE_SETTINGS) | {"mode", "precision", "overwrite"}
    missing = sorted(c for c in columns - config - set(COLUMNS_ELSEWHERE) if f"--{c.replace('_', '-')}" not in process)
    assert not missing, f"shot-list columns with no `process` option of that name: {missing}"
    assert {
        "refine",
        "refine_band",
        "refine_feather",
        "refine_detail",
        "refine_temporal",
        "foreground",
        "premultiplied",
    } <= columns
    assert process["--foreground"] == process["--premultiplied"] == "flag"


def test_the_walk_sees_every_command():
    commands = {command for command, *_ in _options()}
    assert {
        "xmempp process",
        "xmempp candidates",
        "xmempp bench",
        "xmempp import",
        "xmempp gui",
        "xmempp batch",
        "xmempp weights download",
    } <= commands


def test_a_name_used_twice_with_two_meanings_is_caught(monkeypatch):
    """The check itself fails on the old vocabulary: --frames as a count, --alpha as a weight."""
    monkeypatch.setitem(MEANINGS, "--count", ("text", "range", "pretend --count were a range"))
    try:
        test_every_option_name_has_one_declared_meaning()
    except AssertionError as exc:
        assert "--count: a int here, declared as text" in str(exc)
    else:
        raise AssertionError("a name with two meanings went unnoticed")


def test_usage_errors_are_one_red_line():
    runner = CliRunner()
    for args in (
        ["process", "-v", "x"],
        ["process", "--bogus"],
        ["candidates", "-v", "a", "-m", "b", "-k", "0"],
        ["no-such-command"],
    ):
        result = runner.invoke(app, args)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Missing option '--masks'" in runner.invoke(app, ["process", "-v", "x"]).output


def test_names_are_parsed_and_checked():
    from cli.plate_options import parse_names

    assert parse_names("1=hair, 2=jacket") == {1: "hair", 2: "jacket"}
    assert parse_names(None) == {}
    for bad in ("hair", "0=x", "256=x", "1=a.b", "1=", "1=a,2=a"):
        with pytest.raises(typer.BadParameter):
            parse_names(bad)
