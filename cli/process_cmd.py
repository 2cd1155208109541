"""`xmempp process`: propagate keyframe masks through a shot and write mattes.

`process_command` only turns flags into a `ProcessRun`; `run_process` does the work (also for
`xmempp demo`). A new option is one `Annotated` parameter, one `ProcessRun` field and its use in
`run_process`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from xmempp import InferenceConfig
from xmempp.errors import ConfigError
from xmempp.inference.checkpoint import CheckpointPolicy, checkpoint_path
from xmempp.inference.guards import written_range
from xmempp.inference.jobs import run_job
from xmempp.inference.shot_folders import open_shot_job
from xmempp.interrupts import stop_on_signals
from xmempp.io.frames import close_frames
from xmempp.io.manifest import remove_stale
from xmempp.io.matte_files import EXR_COMPRESSIONS, TIFF_COMPRESSIONS
from xmempp.io.writers import WriterOptions
from xmempp.model.precision import Precision
from xmempp.model.winograd import ConvAlgorithm
from xmempp.refine import RefineSettings
from xmempp.resources import peak_memory_text
from xmempp.review.shot import review_results

from .engine_options import (
    CompileOption,
    ConfigOption,
    ConvOption,
    CudaGraphsOption,
    DeviceOption,
    ForceUnlockOption,
    Mode,
    ModelOption,
    ModeOption,
    PrecisionOption,
    QuietOption,
    SizeOption,
    ThreadsOption,
    build_config,
    load_network,
    set_threads,
)
from .errors import print_error, user_errors
from .logs import LogFormat, LogFormatOption, RunLog
from .plate_options import (
    ColorspaceOption,
    DisplayOption,
    FramesOption,
    LayerOption,
    MaskChannelOption,
    MaskThresholdOption,
    PlateOptions,
    StartFrameOption,
    ViewOption,
    parse_names,
)
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


class MatteFormat(str, Enum):
    """File format of the soft mattes."""

    png = "png"
    tiff = "tiff"
    exr = "exr"


@dataclass
class ProcessRun:
    """Everything one `xmempp process` run needs.

    Attributes:
        video, masks, out: frames (folder or video), annotation folder, output folder.
        config, mode: inference settings and memory mechanism ("xmempp" or "xmem").
        options: which results to write.
        model, device: checkpoint (None = official XMem.pth) and device name.
        precision: the network's number format ("auto", "fp32", "bf16", "fp16").
        conv: how the 3x3 convolutions run on the CPU ("auto", "direct", "winograd").
        threads: torch's CPU threads (None: torch's default).
        overwrite: allow replacing results xmempp wrote earlier.
        compile: wrap the network in `torch.compile`.
        cuda_graphs: on CUDA, replay the network's per-frame calls as CUDA graphs.
        plates: frame range, colour, layer, start frame and mask threshold.
        checkpoint: when to save checkpoints; resume: continue from the checkpoint.
        force: run even when the memory estimate exceeds what the machine has (with a warning).
        force_unlock: take over the output folder's lock from another run.
        refine: refinement of the mattes against the plate (`xmempp.refine`; off by default).
        qc: review the results when the run completes (OUT/qc.json, OUT/qc.html).
    """

    video: Path
    masks: Path
    out: Path
    config: InferenceConfig = field(default_factory=InferenceConfig)
    mode: str = "xmempp"
    options: WriterOptions = field(default_factory=WriterOptions)
    model: Path | None = None
    device: str = "auto"
    precision: Precision = Precision.auto
    conv: ConvAlgorithm = ConvAlgorithm.auto
    threads: int | None = None
    overwrite: bool = False
    compile: bool = False
    cuda_graphs: bool = False
    plates: PlateOptions = field(default_factory=PlateOptions)
    refine: RefineSettings = field(default_factory=RefineSettings)
    checkpoint: CheckpointPolicy = field(default_factory=lambda: CheckpointPolicy(None, 60.0))
    resume: bool = False
    force: bool = False
    force_unlock: bool = False
    qc: bool = False


def parse_checkpoint_every(text: str) -> CheckpointPolicy:
    """`--checkpoint-every`: "N" memory writes, "Ns" / "Nm" seconds / minutes, or "off".

    Arguments:
        text: the option's value.
    Returns:
        The policy ("off": checkpoints only at the start and when stopped by a signal). Raises
        `ConfigError` for anything else.
    """
    value = text.strip().lower()
    if value == "off":
        return CheckpointPolicy(every_writes=None, every_seconds=None)
    scale = {"s": 1.0, "m": 60.0}.get(value[-1:])
    try:
        if scale is None:
            return CheckpointPolicy(every_writes=int(value))
        return CheckpointPolicy(every_writes=None, every_seconds=float(value[:-1]) * scale)
    except ValueError:
        raise ConfigError(
            f"--checkpoint-every takes a number of memory writes (e.g. 1), seconds (30s), "
            f"minutes (5m) or off, not {text!r}"
        ) from None


def process_command(
    video: Annotated[
        Path,
        typer.Option(
            "--video",
            "-v",
            help="Folder of frames, a frame pattern (plate.%04d.exr, "
            "plate.####.exr) or a video file (mp4/mov/mkv/avi).",
        ),
    ],
    masks: Annotated[
        Path,
        typer.Option(
            "--masks", "-m", help="Folder of keyframe masks named after their frames (or ending in their frame number)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (masks/, alpha/, binary/, overlay/).")],
    model: ModelOption = None,
    config_file: ConfigOption = None,
    size: SizeOption = None,
    mem_every: Annotated[
        int | None,
        typer.Option(
            "--mem-every",
            help=f"Write temporary memory every N frames (default {InferenceConfig().mem_every}, or the "
            f"--config file's).",
        ),
    ] = None,
    top_k: Annotated[
        int | None,
        typer.Option(
            "--top-k",
            help=f"Memory elements kept per query pixel (default {InferenceConfig().top_k}, or the --config file's).",
        ),
    ] = None,
    mode: ModeOption = Mode.XMEMPP,
    device: DeviceOption = "auto",
    precision: PrecisionOption = Precision.auto,
    conv: ConvOption = ConvAlgorithm.auto,
    threads: ThreadsOption = None,
    alpha: Annotated[bool, typer.Option("--alpha", help="Write soft mattes alpha/<id>/<stem>.<ext>.")] = False,
    alpha_bits: Annotated[int, typer.Option("--alpha-bits", help="Bits per PNG/TIFF matte pixel: 8 or 16.")] = 8,
    matte_format: Annotated[
        MatteFormat,
        typer.Option(
            "--matte-format", help="Soft matte files: png, tiff (8/16-bit) or exr (half float); implies --alpha."
        ),
    ] = MatteFormat.png,
    exr_layers: Annotated[
        bool,
        typer.Option(
            "--exr-layers",
            help="Write layers/matte.<frame>.exr: one EXR per frame, a channel <name>.A per object "
            "(obj<id>.A when unnamed).",
        ),
    ] = False,
    cryptomatte: Annotated[
        bool,
        typer.Option(
            "--cryptomatte",
            help="Write cryptomatte/cryptomatte.<frame>.exr: the objects as a Cryptomatte layer "
            "(CryptoObject) for Nuke, Silhouette, Fusion.",
        ),
    ] = False,
    names: Annotated[
        str | None,
        typer.Option(
            "--names",
            help="Object names, e.g. 1=hair,2=jacket (EXR layers, Cryptomatte); default: the roto's "
            "object folder names, else object<id>.",
        ),
    ] = None,
    compression: Annotated[
        str | None,
        typer.Option(
            "--compression",
            help=f"EXR ({', '.join(EXR_COMPRESSIONS)}; default zip) or TIFF "
            f"({', '.join(TIFF_COMPRESSIONS)}; default lzw) compression.",
        ),
    ] = None,
    binary: Annotated[bool, typer.Option("--binary", help="Write 0/255 mattes binary/<id>/<stem>.png.")] = False,
    overlay: Annotated[bool, typer.Option("--overlay", help="Write preview JPEGs overlay/<stem>.jpg.")] = False,
    overlay_opacity: Annotated[
        float, typer.Option("--overlay-opacity", min=0.0, max=1.0, help="Weight of the object colours in overlays.")
    ] = 0.5,
    jpeg_quality: Annotated[
        int, typer.Option("--jpeg-quality", min=1, max=100, help="JPEG quality of the overlays.")
    ] = 90,
    preview: Annotated[
        Path | None, typer.Option("--preview", help="Write an overlay preview video (e.g. out.mp4).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace results already in the output folder.")
    ] = False,
    quiet: QuietOption = False,
    compile_model: CompileOption = False,
    cuda_graphs: CudaGraphsOption = False,
    frames: FramesOption = None,
    colorspace: ColorspaceOption = None,
    display: DisplayOption = None,
    view: ViewOption = None,
    layer: LayerOption = None,
    start_frame: StartFrameOption = None,
    mask_threshold: MaskThresholdOption = 0.5,
    mask_channel: MaskChannelOption = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted run from its checkpoint in OUT (same inputs and settings); "
            "without one, start from the beginning.",
        ),
    ] = False,
    checkpoint_every: Annotated[
        str,
        typer.Option(
            "--checkpoint-every",
            help="Save a checkpoint in OUT/.xmempp after N memory writes (e.g. 1), every "
            "N seconds (30s) or minutes (5m); off: only when stopped by SIGTERM/SIGINT.",
        ),
    ] = "60s",
    force: Annotated[
        bool, typer.Option("--force", help="Run even when the memory estimate exceeds what the machine has (warns).")
    ] = False,
    force_unlock: ForceUnlockOption = False,
    log_format: LogFormatOption = LogFormat.text,
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
            help="Review the results when the run completes: OUT/qc.json (a score, a flag and reasons per "
            "frame and object) and the OUT/qc.html contact sheet; see `xmempp qc`.",
        ),
    ] = False,
) -> None:
    """Propagate the masks in MASKS through every frame of VIDEO and write the results to OUT."""
    if alpha_bits not in (8, 16):
        raise typer.BadParameter("must be 8 or 16", param_hint="--alpha-bits")
    options = WriterOptions(
        alpha=alpha or matte_format != MatteFormat.png or foreground,
        alpha_bits=alpha_bits,
        binary=binary,
        overlay=overlay,
        preview=preview,
        matte_format=matte_format.value,
        overlay_opacity=overlay_opacity,
        jpeg_quality=jpeg_quality,
        exr_layers=exr_layers,
        compression=compression,
        cryptomatte=cryptomatte,
        object_names=parse_names(names),
        foreground=foreground,
        premultiplied=premultiplied,
    )
    run = ProcessRun(
        video,
        masks,
        out,
        config=build_config(config_file, size, mem_every, top_k),
        mode=mode.value,
        options=options,
        model=model,
        device=device,
        precision=precision,
        conv=conv,
        threads=threads,
        overwrite=overwrite,
        compile=compile_model,
        cuda_graphs=cuda_graphs,
        plates=PlateOptions(frames, colorspace, display, view, layer, start_frame, mask_threshold, mask_channel),
        checkpoint=parse_checkpoint_every(checkpoint_every),
        resume=resume,
        force=force,
        force_unlock=force_unlock,
        refine=refine_settings(refine, refine_band, refine_feather, refine_detail, refine_temporal),
        qc=qc,
    )
    run_process(run, RunLog(log_format, quiet))


def run_process(run: ProcessRun, log: RunLog) -> None:
    """Check inputs and outputs, load the network, propagate and write every frame's results.

    Arguments:
        run: what to process and how.
        log: where progress, warnings and the summary go (`--log-format`, `--quiet`).
    Returns:
        None; raises the `XMemppError` of the first bad input, output or setting.
    """
    with log.activate(), user_errors():  # errors reported while the log is active (JSON records with --log-format json)
        _run_process(run, log)


def _run_process(run: ProcessRun, log: RunLog) -> None:
    notices: list[str] = []
    job = open_shot_job(
        run.video,
        run.masks,
        run.out,
        run.config,
        run.mode,
        run.options,
        run.overwrite,
        run.plates,
        run.resume,
        notices,
        refine=run.refine,
        force_unlock=run.force_unlock,
    )
    for notice in notices:
        log.warning(notice)
    total = job.plan().total
    started = time.time()
    cancel = threading.Event()
    try:
        set_threads(run.threads)
        network = load_network(
            run.model,
            run.device,
            log.console,
            run.compile,
            cuda_graphs=run.cuda_graphs,
            precision=run.precision,
            conv=run.conv,
        )
        log.start(
            f"propagating {total} frames of {run.video} into {run.out}",
            video=run.video,
            masks=run.masks,
            out=run.out,
            frames=total,
            chunk=run.plates.frames,
        )
        chunk = written_range(job)
        saved_in = checkpoint_path(run.out, chunk)
        with stop_on_signals(cancel) as stop, log.progress("propagating", total) as progress:
            report = run_job(
                network,
                job,
                progress=progress,
                cancel=cancel,
                checkpoint=run.checkpoint,
                resume=run.resume,
                force_memory=run.force,
                on_checkpoint=lambda done, all_frames: log.checkpoint(done, all_frames, saved_in),
            )
    finally:
        close_frames(job.frames)
    done = report.resumed_from + report.frames
    if stop.signal is not None and not report.completed:
        print_error(
            f"stopped by {stop.name} after {done} of {total} frames; files written are "
            f"complete and a checkpoint is in {saved_in.parent}; run the same command "
            f"with --resume to continue"
        )
        raise typer.Exit(stop.exit_code)
    if run.overwrite and not run.resume and report.completed and chunk is None:  # a chunk shares the folder
        removed = remove_stale(run.out, started)
        if removed:
            listed = ", ".join(removed[:3]) + (f" and {len(removed) - 3} more" if len(removed) > 3 else "")
            log.warning(f"removed {len(removed)} file(s) of the earlier run that this run did not write ({listed})")
    resumed = f" (resumed after frame {report.resumed_from})" if report.resumed_from else ""
    peak = peak_memory_text(network)
    log.summary(
        f"[green]done[/green]: {report.frames} frames{resumed} in {report.seconds:.1f} s "
        f"({report.fps:.2f} FPS), peak memory {peak}; results in {escape(str(run.out))}",
        frames=report.frames,
        resumed_from=report.resumed_from,
        seconds=round(report.seconds, 3),
        fps=round(report.fps, 3),
        peak_memory=peak,
        out=run.out,
    )
    if run.qc and report.completed:
        _review(run, log, total)


def _review(run: ProcessRun, log: RunLog, total: int) -> None:
    """`--qc`: review the masks just written, with the roto as keyframes."""
    started = time.time()
    with log.progress("reviewing", total) as progress:
        _, data = review_results(run.video, run.masks, run.out, run.plates, progress=progress)
    summary = data["summary"]
    log.summary(
        f"review: {summary['flagged_frames']} of {summary['frames']} frames flagged in "
        f"{len(summary['spans'])} spans ({time.time() - started:.1f} s); {escape(str(run.out / 'qc.html'))}",
        flagged_frames=summary["flagged_frames"],
        frames=summary["frames"],
        spans=len(summary["spans"]),
        qc=run.out / "qc.json",
    )
