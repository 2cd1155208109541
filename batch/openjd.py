"""A shot list as an Open Job Description job template (jobtemplate-2023-09), for AWS Deadline Cloud and
other OpenJD schedulers.

One step per shot; without chunks a step has one task, with `chunk_size` one task per range of
frames (`--frames FIRST-LAST`: every keyframe of the shot is in permanent memory, only the range is
written, so the tasks of a shot run on any hosts at once). Each task runs the `xmempp process`
command line a farm would run by hand: the shot's settings as flags (its inference settings in an
embedded JSON file given to `--config`), `--resume` so a retried task continues from its checkpoint,
and `--log-format json` for the farm's log, and `--device` when the batch names one. The template is written
as JSON, which is YAML too.

With the network at hand (its widths and weights' size), each step also carries `hostRequirements` from the
shot's memory estimate (`resources.shot_needs`): the CPUs a task uses, its RAM, and on a CUDA device one GPU
with the GPU memory it needs, so the scheduler places it only on hosts that hold it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xmempp.errors import ConfigError, InputError, XMemppError
from xmempp.inference.shot_folders import open_shot_job
from xmempp.io.atomic import atomic_write_text
from xmempp.io.frames import close_frames
from xmempp.io.writers import WriterOptions
from xmempp.model.network import XMemNetwork
from xmempp.refine.settings import RefineSettings

from .resources import ShotNeeds, is_gpu_device, mib, shot_needs
from .shotlist import REFINE_SETTINGS, ShotSpec

__all__ = ["host_requirements", "job_template", "process_args", "write_template"]

#: The job parameter naming the xmempp executable on the worker hosts.
COMMAND_PARAMETER = "Xmempp"
_WRITER_DEFAULTS = WriterOptions()
_REFINE_DEFAULTS = RefineSettings()


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def process_args(
    shot: ShotSpec,
    model: Path | None = None,
    checkpoint_every: str | None = None,
    frames: str | None = None,
    config_file: str = "",
    device: str | None = None,
) -> list[str]:
    """The arguments of `xmempp process` that run `shot` with every one of its settings.

    Arguments:
        shot: the shot.
        model: the weights file (None: the default on the host).
        checkpoint_every: `--checkpoint-every` value, or None for the default.
        frames: the frame range of this task (default: the shot's own range, if any).
        config_file: path (or template reference) of a JSON file with the shot's inference settings.
        device: `--device` of the task (None: the host's default, auto).
    Returns:
        The argument list, beginning with "process".
    """
    args = ["process", "-v", str(shot.plate), "-m", str(shot.masks), "-o", str(shot.output), "--mode", shot.mode]
    if config_file:
        args += ["--config", config_file]
    if model is not None:
        args += ["--model", str(model)]
    if shot.precision != "auto":
        args += ["--precision", shot.precision]
    writer = shot.writer
    for name in ("alpha", "binary", "overlay", "exr_layers", "cryptomatte", "foreground"):
        if getattr(writer, name):
            args.append(_flag(name))
    if writer.foreground and not writer.premultiplied:
        args.append("--straight")
    for name in ("alpha_bits", "matte_format", "compression", "preview", "overlay_opacity", "jpeg_quality"):
        value = getattr(writer, name)
        if value is not None and value != getattr(_WRITER_DEFAULTS, name):
            args += [_flag(name), str(value)]
    for column, name in REFINE_SETTINGS.items():
        value = getattr(shot.refine, name)
        if value is not None and value != getattr(_REFINE_DEFAULTS, name):
            args += [_flag(column), str(value)]
    plates = dataclasses.replace(shot.plates, frames=frames or shot.plates.frames)
    for field in dataclasses.fields(plates):
        value = getattr(plates, field.name)
        if value is not None and value != field.default:
            args += [_flag(field.name), str(value)]
    if shot.overwrite:
        args.append("--overwrite")
    if shot.force_unlock:
        args.append("--force-unlock")
    if checkpoint_every is not None:
        args += ["--checkpoint-every", checkpoint_every]
    if device is not None:
        args += ["--device", device]
    return args + ["--resume", "--log-format", "json"]


def _chunks(shot: ShotSpec, chunk_size: int) -> list[str]:
    """The shot's frames as "FIRST-LAST" ranges of `chunk_size` frames."""
    source = dataclasses.replace(shot.plates, frames=None).open_frames(shot.plate)
    try:
        start, count = shot.plates.chunk_of(source)
        numbers = list(source.frame_numbers or range(len(source)))
    finally:
        source.close()
    numbers = numbers[start or 0 : (start or 0) + count] if count else numbers
    starts = range(0, len(numbers), chunk_size)
    return [f"{numbers[i]}-{numbers[min(i + chunk_size, len(numbers)) - 1]}" for i in starts]


def _step_name(shot: ShotSpec, taken: set[str]) -> str:
    name = re.sub(r"[\x00-\x1f]", "_", shot.name)[:64] or "shot"
    base, n = name, 2
    while name in taken:
        name = f"{base[:60]}-{n}"
        n += 1
    taken.add(name)
    return name


def host_requirements(needs: ShotNeeds, device: str | None, cpus: int = 1) -> dict[str, Any]:
    """An OpenJD step's `hostRequirements` for a shot: `cpus` vCPUs, its RAM, and on a CUDA `device` one GPU with
    its GPU memory (memory amounts in MiB, as OpenJD counts them)."""
    amounts: list[dict[str, Any]] = [
        {"name": "amount.worker.vcpu", "min": cpus},
        {"name": "amount.worker.memory", "min": mib(needs.ram(device))},
    ]
    if is_gpu_device(device):
        amounts += [
            {"name": "amount.worker.gpu", "min": 1},
            {"name": "amount.worker.gpu.memory", "min": mib(needs.gpu_memory)},
        ]
    return {"amounts": amounts}


def _needs(shot: ShotSpec, network: XMemNetwork) -> ShotNeeds:
    """A shot's memory needs (its frames and masks are read; its output folder is not touched)."""
    job = open_shot_job(
        shot.plate,
        shot.masks,
        shot.output,
        shot.config,
        shot.mode,
        shot.writer,
        overwrite=True,
        plates=shot.plates,
        resume=True,
        refine=shot.refine,
    )
    try:
        return shot_needs(network, job)
    finally:
        close_frames(job.frames)


def _step(
    shot: ShotSpec,
    taken: set[str],
    model: Path | None,
    chunk_size: int | None,
    checkpoint_every: str | None,
    device: str | None = None,
    network: XMemNetwork | None = None,
    cpus: int = 1,
) -> dict[str, Any]:
    """The template step of one shot (its frames are read for chunks and for its host requirements)."""
    config = json.dumps(dataclasses.asdict(shot.config), sort_keys=True)
    embedded = [{"name": "Config", "type": "TEXT", "filename": "config.json", "data": config}]
    step: dict[str, Any] = {}
    frames = None
    if chunk_size is not None:
        if shot.writer.preview:
            raise ConfigError(
                "it writes a preview video, which covers a whole shot; it cannot be split into chunks "
                "(set no preview for it, or no chunk size)"
            )
        step["parameterSpace"] = {
            "taskParameterDefinitions": [{"name": "Frames", "type": "STRING", "range": _chunks(shot, chunk_size)}]
        }
        frames = "{{Task.Param.Frames}}"
    args = process_args(shot, model, checkpoint_every, frames, "{{Task.File.Config}}", device)
    step["script"] = {
        "embeddedFiles": embedded,
        "actions": {"onRun": {"command": f"{{{{Param.{COMMAND_PARAMETER}}}}}", "args": args}},
    }
    if network is not None:
        step["hostRequirements"] = host_requirements(_needs(shot, network), device, cpus)
    return {"name": _step_name(shot, taken), **step}


def job_template(
    shots: Sequence[ShotSpec],
    name: str,
    model: Path | None = None,
    chunk_size: int | None = None,
    checkpoint_every: str | None = None,
    device: str | None = None,
    network: XMemNetwork | None = None,
    cpus: int = 1,
) -> dict[str, Any]:
    """The job template of a batch.

    Arguments:
        shots: the shots (from `read_shot_list`).
        name: the job's name.
        model: the weights file on the hosts (None: their default).
        chunk_size: frames per task, or None for one task per shot.
        checkpoint_every: `--checkpoint-every` of every task.
        device: `--device` of every task ("cpu", "cuda", "cuda:N"; None: the host's default).
        network: the network (on the CPU) whose widths and weights size the steps' `hostRequirements`; None: no
            host requirements.
        cpus: vCPUs each task asks for.
    Returns:
        The template as JSON-ready data. Raises `ConfigError` for a chunked shot that writes a preview
        video (a preview belongs to a whole shot), and `InputError` for unreadable frames; each names
        the shot's row, and every broken row is named in one error.
    """
    steps: list[dict[str, Any]] = []
    taken: set[str] = set()
    problems: list[tuple[str, XMemppError]] = []
    for shot in shots:
        try:
            steps.append(_step(shot, taken, model, chunk_size, checkpoint_every, device, network, cpus))
        except XMemppError as exc:  # every broken row, each named by its line, in one error
            where = f"{shot.where} (shot {shot.name!r})" if shot.where else f"shot {shot.name!r}"
            problems.append((where, exc))
    if len(problems) == 1:
        where, error = problems[0]
        raise type(error)(f"{where}: {error.message}", remedies=error.remedies)
    if problems:
        raise InputError(
            f"{len(problems)} shots cannot be written as tasks: "
            + "; ".join(f"{where}: {exc}" for where, exc in problems)
        )
    return {
        "specificationVersion": "jobtemplate-2023-09",
        "name": name[:128] or "xmempp batch",
        "parameterDefinitions": [
            {
                "name": COMMAND_PARAMETER,
                "type": "STRING",
                "default": "xmempp",
                "description": "The xmempp executable on the worker hosts.",
            }
        ],
        "steps": steps,
    }


def write_template(
    path: Path,
    shots: Sequence[ShotSpec],
    shot_list: Path,
    model: Path | None = None,
    chunk_size: int | None = None,
    checkpoint_every: str | None = None,
    device: str | None = None,
    network: XMemNetwork | None = None,
    cpus: int = 1,
) -> None:
    """Write the job template of a batch to `path` (atomically).

    Arguments:
        path: the template file (.yaml or .json; the content is JSON, valid as both).
        shots: the shots.
        shot_list: the shot list file (names the job).
        model, chunk_size, checkpoint_every, device, network, cpus: as for `job_template`.
    Returns:
        None. Raises `OutputError` when the file cannot be written.
    """
    template = job_template(
        shots, f"xmempp {Path(shot_list).stem}", model, chunk_size, checkpoint_every, device, network, cpus
    )
    atomic_write_text(Path(path), json.dumps(template, indent=2) + "\n")
