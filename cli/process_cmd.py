"""`xmempp process`: propagate keyframe masks through a shot and write mattes.

`process_command` only turns flags into a `ProcessRun`; `run_process` does the work (also for
`xmempp demo`). A new option is one `Annotated` parameter, one `ProcessRun` field and its use in
`run_process`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from xmempp import InferenceConfig
from xmempp.inference.jobs import run_job
from xmempp.inference.shots import open_shot_job
from xmempp.io.writers import WriterOptions
from xmempp.resources import peak_memory_text

from .engine_options import (CompileOption, ConfigOption, DeviceOption, Mode, ModelOption, ModeOption, QuietOption,
                             SizeOption, build_config, load_network)
from .progress import frame_progress


@dataclass
class ProcessRun:
    """Everything one `xmempp process` run needs.

    Attributes:
        video, masks, out: frames (folder or video), annotation folder, output folder.
        config, mode: inference settings and memory mechanism ("xmempp" or "xmem").
        options: which results to write.
        model, device: checkpoint (None = official XMem.pth) and device name.
        overwrite: allow replacing earlier results.
        compile: wrap the network in `torch.compile`.
    """

    video: Path
    masks: Path
    out: Path
    config: InferenceConfig = field(default_factory=InferenceConfig)
    mode: str = "xmempp"
    options: WriterOptions = field(default_factory=WriterOptions)
    model: Optional[Path] = None
    device: str = "auto"
    overwrite: bool = False
    compile: bool = False


def process_command(
    video: Annotated[Path, typer.Option("--video", "-v", help="Folder of frames or a video file (mp4/mov/mkv/avi).")],
    masks: Annotated[Path, typer.Option("--masks", "-m", help="Folder of annotation PNGs named after their frames.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (masks/, alpha/, binary/, overlay/).")],
    model: ModelOption = None,
    config_file: ConfigOption = None,
    size: SizeOption = None,
    mem_every: Annotated[Optional[int], typer.Option("--mem-every", help="Write temporary memory every N frames.")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", help="Memory elements kept per query pixel.")] = None,
    mode: ModeOption = Mode.xmempp,
    device: DeviceOption = "auto",
    alpha: Annotated[bool, typer.Option("--alpha", help="Write soft mattes alpha/<id>/<stem>.png.")] = False,
    alpha_bits: Annotated[int, typer.Option("--alpha-bits", help="Bits per matte pixel: 8 or 16.")] = 8,
    binary: Annotated[bool, typer.Option("--binary", help="Write 0/255 mattes binary/<id>/<stem>.png.")] = False,
    overlay: Annotated[bool, typer.Option("--overlay", help="Write preview JPEGs overlay/<stem>.jpg.")] = False,
    preview: Annotated[Optional[Path], typer.Option(
        "--preview", help="Write an overlay preview video (e.g. out.mp4).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace results already in the output folder.")] = False,
    quiet: QuietOption = False,
    compile_model: CompileOption = False,
) -> None:
    """Propagate the masks in MASKS through every frame of VIDEO and write the results to OUT."""
    if alpha_bits not in (8, 16):
        raise typer.BadParameter("must be 8 or 16", param_hint="--alpha-bits")
    run = ProcessRun(
        video, masks, out,
        config=build_config(config_file, size, mem_every, top_k),
        mode=mode.value,
        options=WriterOptions(alpha=alpha, alpha_bits=alpha_bits, binary=binary, overlay=overlay, preview=preview),
        model=model, device=device, overwrite=overwrite, compile=compile_model,
    )
    run_process(run, Console(stderr=True, quiet=quiet))


def run_process(run: ProcessRun, console: Console) -> None:
    """Check inputs and outputs, load the network, propagate and write every frame's results.

    Arguments:
        run: what to process and how.
        console: where progress and the summary go (a quiet console prints nothing).
    Returns:
        None; raises the `XMemppError` of the first bad input, output or setting.
    """
    job = open_shot_job(run.video, run.masks, run.out, run.config, run.mode, run.options, run.overwrite)
    try:
        network = load_network(run.model, run.device, console, run.compile)
        with frame_progress(console, console.quiet) as progress:
            task = progress.add_task("propagating", total=len(job.frames))
            report = run_job(network, job, progress=lambda done, _total: progress.update(task, completed=done))
    finally:
        job.frames.close()
    console.print(f"[green]done[/green]: {report.frames} frames in {report.seconds:.1f} s "
                  f"({report.fps:.2f} FPS), peak memory {peak_memory_text(network)}; results in {run.out}")
