"""`xmempp bench`: frames per second, milliseconds per stage and peak memory."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import typer
from rich.console import Console
from rich.table import Table

from xmempp.evaluation.benchmark import flatness_summary, run_benchmark
from xmempp.io.frames import open_frames
from xmempp.io.masks import read_mask_folder
from xmempp.model.loading import load_model
from xmempp.model.network import XMemNetwork
from xmempp.io.synthetic import MovingDiscs

from .app import app
from .engine_options import build_config, load_network
from .errors import reports_errors
from .progress import frame_progress

_STAGES = ("decode", "key_encoder", "memory_read", "decoder", "value_encoder", "upsample", "write")


def _boxes_mask(height: int, width: int, objects: int) -> np.ndarray:
    """A reference with `objects` side-by-side boxes, for clips benchmarked without masks."""
    mask = np.zeros((height, width), np.uint8)
    step = width // (objects + 1)
    for k in range(objects):
        mask[height // 4: 3 * height // 4, step * k + step // 4: step * (k + 1)] = k + 1
    return mask


@app.command("bench")
@reports_errors
def bench_command(
    clip: Optional[Path] = typer.Option(None, "--video", "-v", help="Folder of frames or a video; default: a "
                                                                    "synthetic clip."),
    masks: Optional[Path] = typer.Option(None, "--masks", "-m", help="Masks of the clip (frame 0's is used)."),
    size: int = typer.Option(480, "--size", help="Processing size (shorter side); -1 = native."),
    objects: int = typer.Option(1, "--objects", help="Objects to track (synthetic clip or clip without masks)."),
    frames: int = typer.Option(20, "--frames", help="Frames to process (after the reference)."),
    warmup: int = typer.Option(2, "--warmup", help="Frames not counted at the start."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    model: Optional[Path] = typer.Option(None, "--model", help="XMem checkpoint (default: official XMem.pth)."),
    random_weights: bool = typer.Option(False, "--random-weights", help="Skip the weights: time a randomly "
                                                                        "initialised network (speed only)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="JSON file of InferenceConfig fields."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the network first."),
    width: Optional[int] = typer.Option(None, "--width", help="Width of the synthetic clip (default 16:9)."),
    timeline: int = typer.Option(0, "--timeline", help="Every N frames record time, RSS and memory sizes, and "
                                                       "report flatness after the long-term cap (long clips)."),
    count_flops: bool = typer.Option(True, "--flops/--no-flops", help="Count every stage's FLOPs in a second, "
                                                                      "untimed pass (for GFLOP/s and % of peak)."),
    autocast: bool = typer.Option(True, "--autocast/--no-autocast", help="Mixed precision on GPU (CPU: fp32)."),
    peak_runs: int = typer.Option(3, "--peak-runs", min=1, help="Runs of the peak convolution before and after "
                                                                "the frames (the best counts)."),
) -> None:
    """Measure propagation speed (FPS, ms per stage) and peak memory on this machine."""
    console = Console(stderr=True)
    if threads:
        torch.set_num_threads(threads)
    config = build_config(config_file, size=size)
    total = frames + warmup + 1
    if clip is None:
        height = size if size > 0 else 480
        discs = MovingDiscs(total, height, width or int(round(height * 16 / 9)), objects=objects)
        # made before timing: drawing the discs is no part of the engine (the "decode" stage then reads memory)
        source, reference = [discs[i] for i in range(total)], discs.mask(0)
    else:
        source = open_frames(clip)
        if masks is not None:
            found = read_mask_folder(masks, source.names, source.size, by_index=source.is_video)
            if 0 not in found:
                raise typer.BadParameter("the mask folder has no mask for the first frame", param_hint="--masks")
            reference = found[0].ids
        else:
            reference = _boxes_mask(*source.size, objects)
        total = min(total, len(source))
    if random_weights:
        network = load_model(XMemNetwork().state_dict(), device=device)
    else:
        network = load_network(model, device, console)
    with frame_progress(console, quiet=as_json, transient=True) as progress:
        task = progress.add_task("benchmarking", total=total * (2 if count_flops else 1))
        result = run_benchmark(network, _Prefix(source, total), reference, config, warmup,
                               on_frame=lambda: progress.advance(task), sample_every=timeline,
                               count_flops=count_flops, compile=compile_model, autocast=autocast,
                               peak_repeats=peak_runs)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    table = Table(title=f"xmempp bench: {result.hardware}, {result.device}, {result.frame_size[1]}x"
                        f"{result.frame_size[0]} at size {result.processing_size}, {result.objects} object(s)")
    for column in ("stage", "ms / frame", "GFLOP / frame", "GFLOP/s", "of peak"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name in _STAGES:
        if name in result.stages:
            table.add_row(name.replace("_", " "), f"{result.stages[name]:.1f}", *_rate_cells(result, name))
    table.add_row("[bold]total", f"[bold]{result.ms_per_frame:.1f}", *_rate_cells(result, "frame"))
    Console().print(table)
    gpu = f", GPU peak {result.peak_gpu_gib:.2f} GiB" if result.peak_gpu_gib is not None else ""
    Console().print(f"{result.fps:.2f} FPS over {result.frames} frames; peak RSS {result.peak_rss_gib:.2f} GiB{gpu}")
    Console().print(f"peak: {result.peak_kernel} reaches {result.peak_gflops:.0f} GFLOP/s here (best of the runs "
                    "before and after the frames)")
    if "frame" in result.fraction_of_peak:
        Console().print(f"whole frame at {result.fraction_of_peak['frame']:.2f} of that peak on average, "
                        f"{result.best_frame_fraction:.2f} for the fastest frame (FLOPs: convolutions and "
                        "matrix products, counted by torch.utils.flop_counter)")
    if timeline:
        Console().print(flatness_summary(result, config))


def _rate_cells(result, name: str) -> tuple[str, str, str]:
    """GFLOP per frame, GFLOP/s and fraction of peak of one stage (blank where nothing was counted)."""
    if name not in result.gflop_per_frame:
        return "", "", ""
    return (f"{result.gflop_per_frame[name]:.1f}", f"{result.gflops[name]:.0f}",
            f"{result.fraction_of_peak[name]:.2f}")


class _Prefix:
    """The first `length` frames of a sequence."""

    def __init__(self, frames, length: int) -> None:
        self.frames, self.length = frames, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < self.length:
            raise IndexError(index)
        return self.frames[index]
