"""`xmempp bench`: frames per second, milliseconds per stage and peak memory."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from xmempp.evaluation.benchmark import flatness_summary, review_ms_per_frame, run_benchmark
from xmempp.io.frames import FrameRange
from xmempp.io.masks import read_mask_folder
from xmempp.io.sources import open_frames
from xmempp.io.synthetic import MovingDiscs
from xmempp.model.precision import Precision
from xmempp.model.winograd import ConvAlgorithm

from .engine_options import (
    CompileOption,
    ConfigOption,
    ConvOption,
    CudaGraphsOption,
    DeviceOption,
    ModelOption,
    PrecisionOption,
    SizeOption,
    ThreadsOption,
    build_config,
    load_network,
    set_threads,
)
from .progress import frame_progress

_STAGES = ("decode", "key_encoder", "memory_read", "decoder", "value_encoder", "upsample", "write")


def _boxes_mask(height: int, width: int, objects: int) -> np.ndarray:
    """A reference with `objects` side-by-side boxes, for clips benchmarked without masks."""
    mask = np.zeros((height, width), np.uint8)
    step = width // (objects + 1)
    for k in range(objects):
        mask[height // 4 : 3 * height // 4, step * k + step // 4 : step * (k + 1)] = k + 1
    return mask


def bench_command(
    clip: Annotated[
        Path | None, typer.Option("--video", "-v", help="Folder of frames or a video; default: a synthetic clip.")
    ] = None,
    masks: Annotated[Path | None, typer.Option("--masks", "-m", help="Masks of the clip (frame 0's is used).")] = None,
    size: SizeOption = None,
    objects: Annotated[
        int, typer.Option("--objects", min=1, help="Objects to track (synthetic clip or clip without masks).")
    ] = 1,
    frames: Annotated[
        int, typer.Option("--count", min=1, help="Number of frames to process (after the reference).")
    ] = 20,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Frames not counted at the start.")] = 2,
    device: DeviceOption = "auto",
    model: ModelOption = None,
    random_weights: Annotated[
        bool,
        typer.Option("--random-weights", help="Skip the weights: time a randomly initialised network (speed only)."),
    ] = False,
    threads: ThreadsOption = None,
    precision: PrecisionOption = Precision.auto,
    conv: ConvOption = ConvAlgorithm.auto,
    config_file: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    compile_model: CompileOption = False,
    cuda_graphs: CudaGraphsOption = False,
    width: Annotated[int | None, typer.Option("--width", help="Width of the synthetic clip (default 16:9).")] = None,
    timeline: Annotated[
        int,
        typer.Option(
            "--timeline",
            min=0,
            help="Every N frames record time, RSS and memory sizes, and report flatness after the "
            "long-term cap (long clips).",
        ),
    ] = 0,
    count_flops: Annotated[
        bool,
        typer.Option(
            "--flops/--no-flops",
            help="Count every stage's FLOPs in a second, untimed pass (for GFLOP/s and % of peak).",
        ),
    ] = True,
    peak_runs: Annotated[
        int,
        typer.Option(
            "--peak-runs", min=1, help="Runs of the peak convolution before and after the frames (the best counts)."
        ),
    ] = 3,
    peak_between: Annotated[
        bool,
        typer.Option(
            "--peak-between/--no-peak-between",
            help="Also run the peak convolution between frames (untimed), to compare "
            "the frames with its rate over the same period.",
        ),
    ] = True,
    review: Annotated[
        bool,
        typer.Option(
            "--review/--no-review",
            help="Also time the review of the same frames (`xmempp qc`), per frame and as a "
            "share of the network's frame time.",
        ),
    ] = True,
) -> None:
    """Measure propagation speed (FPS, ms per stage) and peak memory on this machine."""
    console = Console(stderr=True)
    set_threads(threads)
    config = build_config(config_file, size=size)
    total = frames + warmup + 1
    source: Sequence[np.ndarray]
    if clip is None:
        height = config.size if config.size > 0 else 480
        discs = MovingDiscs(total, height, width or int(round(height * 16 / 9)), objects=objects)
        # made before timing: drawing the discs is no part of the engine (the "decode" stage then reads memory)
        source, reference = [discs[i] for i in range(total)], discs.mask(0)
    else:
        clip_frames = open_frames(clip)
        if masks is not None:
            found = read_mask_folder(masks, clip_frames.names, clip_frames.size, by_index=clip_frames.is_video)
            if 0 not in found:
                raise typer.BadParameter("the mask folder has no mask for the first frame", param_hint="--masks")
            reference = found[0].ids
        else:
            reference = _boxes_mask(*clip_frames.size, objects)
        total = min(total, len(clip_frames))
        source = FrameRange(clip_frames, 0, total)
    # compiled inside run_benchmark, after the (eager) FLOP count
    network = load_network(model, device, console, random_weights=random_weights, precision=precision, conv=conv)
    with frame_progress(console, quiet=as_json, transient=True) as progress:
        task = progress.add_task("benchmarking", total=total * (2 if count_flops else 1))
        result = run_benchmark(
            network,
            source,
            reference,
            config,
            warmup,
            on_frame=lambda: progress.advance(task),
            sample_every=timeline,
            count_flops=count_flops,
            compile=compile_model,
            cuda_graphs=cuda_graphs,
            peak_repeats=peak_runs,
            peak_between=peak_between,
        )
    if review:
        masks_for_review = [discs.mask(i) for i in range(total)] if clip is None else [reference] * total
        result.review_ms = review_ms_per_frame([source[i] for i in range(total)], masks_for_review)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    table = Table(
        title=f"xmempp bench: {result.hardware}, {result.device} in {result.precision} "
        f"(convolutions: {result.conv}), "
        f"{result.frame_size[1]}x"
        f"{result.frame_size[0]} at size {result.processing_size}, {result.objects} object(s)"
    )
    for column in ("stage", "ms / frame", "GFLOP / frame", "effective GFLOP/s", "of direct peak"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name in _STAGES:
        if name in result.stages:
            table.add_row(name.replace("_", " "), f"{result.stages[name]:.1f}", *_rate_cells(result, name))
    table.add_row("[bold]total", f"[bold]{result.ms_per_frame:.1f}", *_rate_cells(result, "frame"))
    Console().print(table)
    gpu = f", GPU peak {result.peak_gpu_gib:.2f} GiB" if result.peak_gpu_gib is not None else ""
    Console().print(f"{result.fps:.2f} FPS over {result.frames} frames; peak RSS {result.peak_rss_gib:.2f} GiB{gpu}")
    low, high = result.peak_range
    Console().print(
        f"peak: {result.peak_kernel} reaches {high:.0f} GFLOP/s here (best of the runs in this "
        f"benchmark; lowest {low:.0f})"
    )
    if "frame" in result.fraction_of_peak:
        beside = (
            ""
            if result.fraction_of_peak_between is None
            else (
                f"; {result.fraction_of_peak_between:.2f} of the peak convolution's rate between frames "
                f"({result.peak_between_gflops:.0f} GFLOP/s, its FLOPs over its time, as for the frames)"
            )
        )
        Console().print(
            f"whole frame at {result.fraction_of_peak['frame']:.2f} of that peak on average, "
            f"{result.best_frame_fraction:.2f} for the fastest frame{beside} (FLOPs: convolutions "
            "as direct convolutions, Winograd's fewer multiplications not counted, and matrix "
            "products, counted by torch.utils.flop_counter)"
        )
    if result.review_ms is not None:
        Console().print(
            f"review: {result.review_ms:.1f} ms a frame (both passes), "
            f"{result.review_ms / result.ms_per_frame:.3f} of the network's frame time"
        )
    if timeline:
        Console().print(flatness_summary(result, config))


def _rate_cells(result, name: str) -> tuple[str, str, str]:
    """GFLOP per frame, GFLOP/s and fraction of peak of one stage (blank where nothing was counted)."""
    if name not in result.gflop_per_frame:
        return "", "", ""
    return (f"{result.gflop_per_frame[name]:.1f}", f"{result.gflops[name]:.0f}", f"{result.fraction_of_peak[name]:.2f}")
