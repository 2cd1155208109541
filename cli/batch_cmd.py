"""`xmempp batch`: run every shot of a shot list, on local workers or on a Ray cluster.

The shot list is read and checked first; then the shots run (`xmempp.batch`) while a live table
shows each one's state, frames, FPS and ETA; at the end a summary is printed, the JSON report is
written (`--report`), and the exit status is 1 when any shot failed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from xmempp.batch import (DEFAULT_CHECKPOINTS, BatchDefaults, BatchReport, LocalBackend, RayBackend, ShotEvent,
                          plan_slots, read_shot_list, run_batch, write_report)
from xmempp.inference.checkpoint import CheckpointPolicy
from xmempp.io.writers import WriterOptions
from xmempp.model.precision import Precision
from xmempp.model.weights import resolve_weights

from .engine_options import (ConfigOption, Mode, ModelOption, ModeOption, PrecisionOption, QuietOption, SizeOption,
                             build_config)
from .errors import EXIT_ERROR, print_error
from .progress import download_progress

#: Shots listed one per row in the live table; longer batches show only the unfinished ones.
TABLE_ROWS = 30

_STYLES = {"queued": "dim", "running": "cyan", "skipped": "blue", "done": "green", "failed": "red"}


def batch_command(
    shots: Annotated[Path, typer.Argument(help="Shot list: CSV or JSON with name, plate, masks, output and optional "
                                               "per-shot settings.", show_default=False)],
    workers: Annotated[Optional[int], typer.Option(
        "--workers", "-w", help="Shots run at once on this machine (default: one per GPU; on the CPU one per 4 "
                                "cores).")] = None,
    device: Annotated[Optional[list[str]], typer.Option(
        "--device", help="Device of the local workers, repeatable: --device cuda:0 --device cuda:1, or cpu "
                         "(default: every GPU, else cpu).")] = None,
    ray: Annotated[Optional[str], typer.Option(
        "--ray", help="Run the shots as tasks on a Ray cluster: auto (this machine's cluster) or its address.")] = None,
    cpus_per_shot: Annotated[int, typer.Option(
        "--cpus-per-shot", help="CPUs each Ray task reserves (its torch threads).")] = 1,
    report_path: Annotated[Optional[Path], typer.Option("--report", help="Write the report to this JSON file.")] = None,
    checkpoint_every: Annotated[float, typer.Option(
        "--checkpoint-every", help="Seconds between a shot's checkpoints (an interrupted shot resumes from its "
                                   "last one).")] = DEFAULT_CHECKPOINTS.every_seconds,
    model: ModelOption = None,
    config_file: ConfigOption = None,
    size: SizeOption = None,
    mode: ModeOption = Mode.XMEMPP,
    alpha: Annotated[bool, typer.Option("--alpha", help="Write soft mattes (shots may set alpha).")] = False,
    binary: Annotated[bool, typer.Option("--binary", help="Write 0/255 mattes (shots may set binary).")] = False,
    overlay: Annotated[bool, typer.Option("--overlay", help="Write preview JPEGs (shots may set overlay).")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace results that are not from an earlier run of this batch.")] = False,
    quiet: QuietOption = False,
    precision: PrecisionOption = Precision.auto,
) -> None:
    """Run every shot of SHOTS; finished shots are skipped, interrupted ones resume.

    Settings in the shot list override the options given here.
    """
    devices = ",".join(device) if device else None
    console = Console(stderr=True, quiet=quiet)
    defaults = BatchDefaults(build_config(config_file, size), mode.value,
                             WriterOptions(alpha=alpha, binary=binary, overlay=overlay), overwrite, precision.value)
    shot_list = read_shot_list(shots, defaults)
    if ray is not None:
        if workers is not None or devices is not None:
            raise typer.BadParameter("--workers and --device are for local runs; on Ray, the cluster places "
                                     "the shots (see --cpus-per-shot)", param_hint="--ray")
        backend = RayBackend(ray, cpus_per_shot=cpus_per_shot)
    else:
        backend = LocalBackend(plan_slots(devices, workers, len(shot_list)))
    with download_progress(console) as progress:
        weights = resolve_weights(model, progress=progress)
    board = ShotBoard([shot.name for shot in shot_list])
    console.print(f"{len(shot_list)} shot(s) from {escape(str(shots))}; {escape(backend.describe())}")
    with Live(board.render(), console=console, refresh_per_second=4, transient=True) as live:
        def update(event: ShotEvent) -> None:
            board.update(event)
            live.update(board.render())

        report = run_batch(shot_list, weights, backend, update, CheckpointPolicy(None, checkpoint_every))
    if report_path is not None:
        write_report(report_path, report)
    print_summary(console, board, report, report_path)
    for result in report.failed:
        print_error(f"{result.shot}: {result.error}")
    if report.failed:
        raise typer.Exit(EXIT_ERROR)


@dataclass
class ShotRow:
    """What the live table knows about one shot."""

    state: str = "queued"
    frames: int = 0
    total: int = 0
    worker: str = ""
    started: Optional[float] = None
    first_frames: int = 0
    rate: Optional[float] = None

    def update(self, event: ShotEvent, now: float) -> None:
        """Take in an event. FPS counts from the first frame a worker reports, so that neither the
        network loading nor the frames of a resumed checkpoint count; a new worker (a retry) restarts it."""
        worker = f"{event.host}:{event.pid}" if event.pid else self.worker
        if event.state == "running" and worker != self.worker:
            self.started, self.worker, self.rate = None, worker, None
        self.state, self.frames = event.state, event.frames
        self.total = event.total or self.total
        if event.state != "running" or not event.frames:
            return
        if self.started is None:
            self.started, self.first_frames = now, event.frames
        elif event.frames > self.first_frames and now > self.started:
            self.rate = (event.frames - self.first_frames) / (now - self.started)

    def eta(self) -> str:
        """Time left at the current rate."""
        if self.state != "running" or not self.rate or not self.total:
            return ""
        return _duration((self.total - self.frames) / self.rate)


class ShotBoard:
    """Per-shot state for the live table, fed by `ShotEvent`s."""

    def __init__(self, names: list[str]) -> None:
        self.rows = {name: ShotRow() for name in names}

    def update(self, event: ShotEvent) -> None:
        """Take in one event."""
        self.rows[event.shot].update(event, time.monotonic())

    def counts(self) -> str:
        """"3 done, 1 running, ..." over every shot."""
        states = [row.state for row in self.rows.values()]
        return ", ".join(f"{states.count(s)} {s}" for s in _STYLES if states.count(s))

    def render(self) -> Group:
        """The table (unfinished shots only when there are many) and the counts."""
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column, justify in (("shot", "left"), ("state", "left"), ("frames", "right"), ("fps", "right"),
                                ("eta", "right"), ("worker", "left")):
            table.add_column(column, justify=justify)
        rows = list(self.rows.items())
        if len(rows) > TABLE_ROWS:
            rows = [(n, r) for n, r in rows if r.state in ("running", "failed")][:TABLE_ROWS]
        for name, row in rows:
            frames = f"{row.frames}/{row.total}" if row.total else (str(row.frames) if row.frames else "")
            fps = f"{row.rate:.2f}" if row.rate and row.state in ("running", "done") else ""
            table.add_row(escape(name), Text(row.state, style=_STYLES[row.state]), frames, fps, row.eta(),
                          escape(row.worker))
        return Group(table, Text(self.counts(), style="bold"))


def print_summary(console: Console, board: ShotBoard, report: BatchReport, report_path: Optional[Path]) -> None:
    """Print every shot's status, frames, seconds and FPS, then the totals."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column, justify in (("shot", "left"), ("status", "left"), ("frames", "right"), ("seconds", "right"),
                            ("fps", "right")):
        table.add_column(column, justify=justify)
    for result in report.results:
        table.add_row(escape(result.shot), Text(result.status, style=_STYLES[result.status]), str(result.frames),
                      f"{result.seconds:.1f}", f"{result.fps:.2f}")
    console.print(table)
    summary = report.to_json()["summary"]
    where = f"; report in {escape(str(report_path))}" if report_path else ""
    console.print(f"[bold]{board.counts()}[/bold]: {summary['frames']} frames in {report.seconds:.1f} s "
                  f"({summary['fps']:.2f} FPS overall){where}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
