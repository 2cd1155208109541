"""`xmempp process`: propagate keyframe masks through a shot and write mattes."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from xmempp import InferenceConfig
from xmempp.io.frames import open_frames
from xmempp.inference.jobs import JobOutputs, ShotJob, run_job
from xmempp.io.masks import output_palette, read_mask_folder
from xmempp.resources import peak_memory_text
from xmempp.io.writers import WriterOptions, check_output_dir

from .app import app
from .engine_options import build_config, load_network
from .errors import reports_errors
from .progress import frame_progress


class Mode(str, Enum):
    """Memory mechanism."""

    xmempp = "xmempp"
    xmem = "xmem"


@app.command("process")
@reports_errors
def process_command(
    video: Path = typer.Option(..., "--video", "-v", help="Folder of frames or a video file (mp4/mov/mkv/avi)."),
    masks: Path = typer.Option(..., "--masks", "-m", help="Folder of annotation PNGs named after their frames."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (masks/, alpha/, binary/, overlay/)."),
    model: Optional[Path] = typer.Option(None, "--model", help="XMem checkpoint; default: the official XMem.pth "
                                                               "(downloaded on first use)."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="JSON file of InferenceConfig fields."),
    size: Optional[int] = typer.Option(None, "--size", help="Shorter side for processing; -1 = native (default 480)."),
    mem_every: Optional[int] = typer.Option(None, "--mem-every", help="Write temporary memory every N frames."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Memory elements kept per query pixel."),
    mode: Mode = typer.Option(Mode.xmempp, "--mode", help="xmempp: every annotation in permanent memory; "
                                                          "xmem: the original mechanism."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    alpha: bool = typer.Option(False, "--alpha", help="Write soft mattes alpha/<id>/<stem>.png."),
    alpha_bits: int = typer.Option(8, "--alpha-bits", help="Bits per matte pixel: 8 or 16."),
    binary: bool = typer.Option(False, "--binary", help="Write 0/255 mattes binary/<id>/<stem>.png."),
    overlay: bool = typer.Option(False, "--overlay", help="Write preview JPEGs overlay/<stem>.jpg."),
    preview: Optional[Path] = typer.Option(None, "--preview", help="Write an overlay preview video (e.g. out.mp4)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results already in the output folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the network (slow start; "
                                                                "for long shots on GPU)."),
) -> None:
    """Propagate the masks in MASKS through every frame of VIDEO and write the results to OUT."""
    console = Console(stderr=True, quiet=quiet)
    if alpha_bits not in (8, 16):
        raise typer.BadParameter("must be 8 or 16", param_hint="--alpha-bits")
    options = WriterOptions(alpha=alpha, alpha_bits=alpha_bits, binary=binary, overlay=overlay, preview=preview)
    run_process(video, masks, out, model, device, build_config(config_file, size, mem_every, top_k), mode.value,
                options, overwrite, console, compile_model)


def run_process(video: Path, masks: Path, out: Path, model: Optional[Path], device: str, config: InferenceConfig,
                mode: str, options: WriterOptions, overwrite: bool, console: Console, compile_model: bool = False) -> None:
    """Check inputs and outputs, load the network, propagate and write every frame's results.

    Arguments:
        video, masks, out: frames (folder or video), annotation folder, output folder.
        model, device: checkpoint (None = official XMem.pth) and device name.
        config, mode: inference settings and memory mechanism ("xmempp" or "xmem").
        options: which results to write; overwrite: allow replacing earlier results.
        console: where progress and the summary go (a quiet console prints nothing).
        compile_model: wrap the network in `torch.compile`.
    """
    frames = open_frames(video)
    references = read_mask_folder(masks, frames.names, frames.size, by_index=frames.is_video)
    check_output_dir(out, overwrite=overwrite, preview=options.preview)
    network = load_network(model, device, console, compile_model)
    job = ShotJob(frames, {i: m.ids for i, m in references.items()}, config, mode,
                  outputs=JobOutputs(out, options, output_palette(references), overwrite))
    with frame_progress(console, console.quiet) as progress:
        task = progress.add_task("propagating", total=len(frames))
        report = run_job(network, job, progress=lambda done, _total: progress.update(task, completed=done))
    console.print(f"[green]done[/green]: {report.frames} frames in {report.seconds:.1f} s "
                  f"({report.fps:.2f} FPS), peak memory {peak_memory_text(network)}; results in {out}")
