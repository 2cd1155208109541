"""`xmempp batch`: run every shot of a shot list, on local workers or on a Ray cluster.

The shot list is read and checked first; then the shots run (`xmempp.batch`) while a live table
shows each one's state, frames, FPS and ETA; at the end a summary is printed, the JSON report is
written (`--report`), and the exit status is 6 when any shot failed (see `cli/exit_codes.py`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group, JustifyMethod
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from xmempp.batch import (
    DEFAULT_CHECKPOINTS,
    BatchDefaults,
    BatchReport,
    LocalBackend,
    RayBackend,
    ShotEvent,
    plan_batch,
    plan_slots,
    read_shot_list,
    run_batch,
    write_report,
)
from xmempp.batch.openjd import write_template
from xmempp.batch.preflight import preflight
from xmempp.batch.resources import estimate_network
from xmempp.inference.shot_folders import PlateOptions
from xmempp.interrupts import stop_on_signals
from xmempp.io.writers import WriterOptions
from xmempp.model.precision import Precision
from xmempp.model.weights import resolve_weights
from xmempp.refine import RefineSettings
from xmempp.review.report import write_qc_index

from .engine_options import (
    ConfigOption,
    ForceUnlockOption,
    Mode,
    ModelOption,
    ModeOption,
    PrecisionOption,
    QuietOption,
    SizeOption,
    build_config,
)
from .errors import print_error, user_errors
from .exit_codes import ExitCode
from .logs import LogFormat, LogFormatOption, RunLog
from .plate_options import (
    ColorspaceOption,
    DisplayOption,
    FramesOption,
    LayerOption,
    MaskThresholdOption,
    StartFrameOption,
    ViewOption,
)
from .process_cmd import MatteFormat, parse_checkpoint_every
from .progress import download_progress
from .refine_options import (
    BandOption,
    DetailOption,
    FeatherOption,
    ForegroundOption,
    PremultipliedOption,
    RefineMode,
    RefineOption,
    TemporalOption,
    refine_settings,
)

#: Shots listed one per row in the live table; longer batches show only the unfinished ones.
TABLE_ROWS = 30

_STYLES = {"queued": "dim", "running": "cyan", "skipped": "blue", "done": "green", "stopped": "yellow", "failed": "red"}


def batch_command(
    shots: Annotated[
        Path,
        typer.Argument(
            help="Shot list: CSV or JSON with name, plate, masks, output and optional per-shot settings.",
            show_default=False,
        ),
    ],
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            help="Shots run at once on this machine (default: one per GPU; on the CPU one per 4 cores).",
        ),
    ] = None,
    device: Annotated[
        list[str] | None,
        typer.Option(
            "--device",
            help="Device of the local workers, repeatable: --device cuda:0 --device cuda:1, or cpu "
            "(default: every GPU, else cpu); with --openjd, the device of every task (cuda: the "
            "template asks for a GPU with the memory a shot needs).",
        ),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray", help="Run the shots as tasks on a Ray cluster: auto (this machine's cluster) or its address."
        ),
    ] = None,
    cpus_per_shot: Annotated[
        int,
        typer.Option(
            "--cpus-per-shot", help="CPUs each Ray task reserves (its torch threads), and each --openjd task asks for."
        ),
    ] = 1,
    report_path: Annotated[Path | None, typer.Option("--report", help="Write the report to this JSON file.")] = None,
    checkpoint_every: Annotated[
        str,
        typer.Option(
            "--checkpoint-every",
            help="A shot's checkpoints (an interrupted shot resumes from its last one): after N "
            "memory writes (e.g. 1), every N seconds (30s) or minutes (5m), or off (only "
            "when stopped).",
        ),
    ] = f"{DEFAULT_CHECKPOINTS.every_seconds:g}s",
    model: ModelOption = None,
    config_file: ConfigOption = None,
    size: SizeOption = None,
    mode: ModeOption = Mode.XMEMPP,
    alpha: Annotated[bool, typer.Option("--alpha", help="Write soft mattes (shots may set alpha).")] = False,
    binary: Annotated[bool, typer.Option("--binary", help="Write 0/255 mattes (shots may set binary).")] = False,
    overlay: Annotated[bool, typer.Option("--overlay", help="Write preview JPEGs (shots may set overlay).")] = False,
    matte_format: Annotated[
        MatteFormat,
        typer.Option(
            "--matte-format", help="Soft matte files: png, tiff or exr; implies --alpha (shots may set matte_format)."
        ),
    ] = MatteFormat.png,
    exr_layers: Annotated[bool, typer.Option("--exr-layers", help="Write layers/matte.<frame>.exr.")] = False,
    compression: Annotated[str | None, typer.Option("--compression", help="EXR or TIFF compression.")] = None,
    frames: FramesOption = None,
    colorspace: ColorspaceOption = None,
    display: DisplayOption = None,
    view: ViewOption = None,
    layer: LayerOption = None,
    start_frame: StartFrameOption = None,
    mask_threshold: MaskThresholdOption = 0.5,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace results that are not from an earlier run of this batch.")
    ] = False,
    force_unlock: ForceUnlockOption = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check every shot (inputs, output folder, memory estimate) and show what would run; run nothing.",
        ),
    ] = False,
    openjd: Annotated[
        Path | None,
        typer.Option(
            "--openjd",
            help="Write an Open Job Description template (one task per shot, or per chunk with "
            "--chunk-size) to this file instead of running.",
        ),
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            "--chunk-size", min=1, help="With --openjd: frames per task (chunks use every keyframe of their shot)."
        ),
    ] = None,
    quiet: QuietOption = False,
    log_format: LogFormatOption = LogFormat.text,
    precision: PrecisionOption = Precision.auto,
    refine: RefineOption = RefineMode.off,
    refine_band: BandOption = None,
    refine_feather: FeatherOption = None,
    refine_detail: DetailOption = RefineSettings().eps,
    refine_temporal: TemporalOption = 0.0,
    foreground: ForegroundOption = False,
    premultiplied: PremultipliedOption = True,
    qc: Annotated[
        bool,
        typer.Option(
            "--qc",
            help="Review each shot's results when it completes (OUT/qc.json and OUT/qc.html, as `process "
            "--qc`); a shot list's `qc` column overrides it.",
        ),
    ] = False,
) -> None:
    """Run every shot of SHOTS; finished shots are skipped, interrupted ones resume.

    Settings in the shot list override the options given here. SIGTERM or SIGINT stops every shot
    after its current frame with a checkpoint, writes the report and exits 143 or 130.
    """
    devices = ",".join(device) if device else None
    log = RunLog(log_format, quiet)
    with log.activate(), user_errors():
        _batch(
            shots,
            workers,
            devices,
            ray,
            cpus_per_shot,
            report_path,
            checkpoint_every,
            model,
            dry_run,
            openjd,
            chunk_size,
            log,
            BatchDefaults(
                build_config(config_file, size),
                mode.value,
                WriterOptions(
                    alpha=alpha or matte_format != MatteFormat.png or foreground,
                    binary=binary,
                    overlay=overlay,
                    matte_format=matte_format.value,
                    exr_layers=exr_layers,
                    compression=compression,
                    foreground=foreground,
                    premultiplied=premultiplied,
                ),
                overwrite,
                precision.value,
                PlateOptions(frames, colorspace, display, view, layer, start_frame, mask_threshold),
                force_unlock,
                refine_settings(refine, refine_band, refine_feather, refine_detail, refine_temporal),
                qc,
            ),
        )


def _batch(
    shots: Path,
    workers: int | None,
    devices: str | None,
    ray: str | None,
    cpus_per_shot: int,
    report_path: Path | None,
    checkpoint_every: str,
    model: Path | None,
    dry_run: bool,
    openjd: Path | None,
    chunk_size: int | None,
    log: RunLog,
    defaults: BatchDefaults,
) -> None:
    """`xmempp batch` once its options are parsed."""
    console = log.console
    checkpoint = parse_checkpoint_every(checkpoint_every)
    shot_list = read_shot_list(shots, defaults)
    if openjd is not None:
        if devices is not None and "," in devices:
            raise typer.BadParameter(
                "an --openjd template takes one --device (each task runs on one host's device)", param_hint="--device"
            )
        write_template(
            openjd,
            shot_list,
            shots,
            model=model.resolve() if model else None,
            chunk_size=chunk_size,
            checkpoint_every=checkpoint_every,
            device=devices,
            network=estimate_network(model),
            cpus=cpus_per_shot,
        )
        log.summary(
            f"wrote an Open Job Description template for {len(shot_list)} shot(s) to {escape(str(openjd))}",
            template=openjd,
            shots=len(shot_list),
        )
        return
    if chunk_size is not None:
        raise typer.BadParameter("--chunk-size splits the tasks of an --openjd template", param_hint="--chunk-size")
    if ray is not None:
        if workers is not None or devices is not None:
            raise typer.BadParameter(
                "--workers and --device are for local runs; on Ray, the cluster places the shots (see --cpus-per-shot)",
                param_hint="--ray",
            )
        backend = RayBackend(ray, cpus_per_shot=cpus_per_shot)
    else:
        backend = LocalBackend(plan_slots(devices, workers, len(shot_list)))
    with download_progress(console) as progress:
        weights = resolve_weights(model, progress=progress)
    if dry_run:
        dry_run_report(log, shot_list, weights)
        return
    board = ShotBoard([shot.name for shot in shot_list])
    log.start(
        f"{len(shot_list)} shot(s) from {shots}; {backend.describe()}", shots=len(shot_list), backend=backend.describe()
    )
    stop_event = threading.Event()
    live = (
        Live(board.render(), console=console, refresh_per_second=4, transient=True)
        if not log.json
        else contextlib.nullcontext()
    )
    with stop_on_signals(stop_event) as stop, live:

        def update(event: ShotEvent) -> None:
            if event.state == "retry":  # Ray lost the shot's worker and runs it again: said once, not a table state
                where = f"{event.host}:{event.pid}"
                if log.json:
                    log.emit("shot", shot=event.shot, state="retry", attempt=event.attempt, worker=where)
                else:
                    console.print(
                        f"[bold yellow]retry:[/bold yellow] {escape(event.shot)}: Ray lost its worker and "
                        f"runs it again (attempt {event.attempt}) on {escape(where)}, from its last "
                        "checkpoint"
                    )
                return
            board.update(event)
            if isinstance(live, Live):
                live.update(board.render())
            elif event.state != "running" or board.due(event.shot, log.interval):
                log.emit(
                    "shot" if event.state != "running" else "progress",
                    shot=event.shot,
                    state=event.state,
                    done=event.frames,
                    total=event.total or board.rows[event.shot].total,
                )

        report = run_batch(shot_list, weights, backend, update, checkpoint, stop=stop_event)
    if report_path is not None:
        write_report(report_path, report)
    print_summary(log, board, report, report_path)
    if any(shot.qc for shot in shot_list):
        page = (report_path or shots).with_suffix(".qc.html")
        reviewed = write_qc_index(page, [(shot.name, shot.output) for shot in shot_list], shots.name)
        log.summary(f"review of {reviewed} shot(s): {escape(str(page))}", qc=page, reviewed=reviewed)
    for result in report.failed:
        print_error(f"{result.shot}: {result.error}")
    if stop.signal is not None:
        print_error(
            f"stopped by {stop.name}: {len(report.stopped)} shot(s) stopped with a checkpoint or not started; "
            f"run the same command again to resume them"
        )
        raise typer.Exit(stop.exit_code)
    if report.failed:
        raise typer.Exit(ExitCode.SHOTS_FAILED)


def dry_run_report(log: RunLog, shot_list: list, weights: Path) -> None:
    """Show what a batch would do (skip, run, refuse) per shot; exit 2 when a shot would be refused."""
    tasks, skipped = plan_batch(shot_list, weights)
    checks = {c.shot: c for c in preflight(tasks, weights)}
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("shot", "action", "frames", "why"):
        table.add_column(column)
    rows = []
    for shot in shot_list:
        check = checks.get(shot.name)
        if check is None:
            action, frames, why = "skip", next(r.frames for r in skipped if r.shot == shot.name), "already done"
        else:
            action, frames, why = ("run", check.frames, "") if check.ok else ("refuse", 0, check.error)
        rows.append({"shot": shot.name, "action": action, "frames": frames, "why": why})
        table.add_row(escape(shot.name), action, str(frames), escape(why))
    refused = [r for r in rows if r["action"] == "refuse"]
    if log.json:
        log.emit("summary", dry_run=True, shots=rows)
    else:
        log.console.print(table)
    if refused:
        raise typer.Exit(ExitCode.BAD_INPUT)


@dataclass
class ShotRow:
    """What the live table knows about one shot."""

    state: str = "queued"
    frames: int = 0
    total: int = 0
    worker: str = ""
    started: float | None = None
    first_frames: int = 0
    rate: float | None = None

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
        self._reported: dict[str, float] = {}

    def update(self, event: ShotEvent) -> None:
        """Take in one event."""
        self.rows[event.shot].update(event, time.monotonic())

    def due(self, shot: str, interval: float) -> bool:
        """Whether a progress line of `shot` is due (at most one per `interval` seconds per shot)."""
        now = time.monotonic()
        if now - self._reported.get(shot, -1e9) < interval:
            return False
        self._reported[shot] = now
        return True

    def counts(self) -> str:
        """ "3 done, 1 running, ..." over every shot."""
        states = [row.state for row in self.rows.values()]
        return ", ".join(f"{states.count(s)} {s}" for s in _STYLES if states.count(s))

    def render(self) -> Group:
        """The table (unfinished shots only when there are many) and the counts."""
        table = Table(box=None, header_style="bold", pad_edge=False)
        columns: tuple[tuple[str, JustifyMethod], ...] = (
            ("shot", "left"),
            ("state", "left"),
            ("frames", "right"),
            ("fps", "right"),
            ("eta", "right"),
            ("worker", "left"),
        )
        for column, justify in columns:
            table.add_column(column, justify=justify)
        rows = list(self.rows.items())
        if len(rows) > TABLE_ROWS:
            rows = [(n, r) for n, r in rows if r.state in ("running", "failed")][:TABLE_ROWS]
        for name, row in rows:
            frames = f"{row.frames}/{row.total}" if row.total else (str(row.frames) if row.frames else "")
            fps = f"{row.rate:.2f}" if row.rate and row.state in ("running", "done") else ""
            table.add_row(
                escape(name), Text(row.state, style=_STYLES[row.state]), frames, fps, row.eta(), escape(row.worker)
            )
        return Group(table, Text(self.counts(), style="bold"))


def print_summary(log: RunLog, board: ShotBoard, report: BatchReport, report_path: Path | None) -> None:
    """Print every shot's status, frames, seconds and FPS, then the totals (json: one summary record)."""
    if log.json:
        log.emit("summary", **report.to_json(), report=report_path)
        return
    console = log.console
    table = Table(box=None, header_style="bold", pad_edge=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("shot", "left"),
        ("status", "left"),
        ("frames", "right"),
        ("seconds", "right"),
        ("fps", "right"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for result in report.results:
        table.add_row(
            escape(result.shot),
            Text(result.status, style=_STYLES[result.status]),
            str(result.frames),
            f"{result.seconds:.1f}",
            f"{result.fps:.2f}",
        )
    console.print(table)
    summary = report.to_json()["summary"]
    where = f"; report in {escape(str(report_path))}" if report_path else ""
    console.print(
        f"[bold]{board.counts()}[/bold]: {summary['frames']} frames in {report.seconds:.1f} s "
        f"({summary['fps']:.2f} FPS overall){where}"
    )


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
