"""`xmempp refine-bench`: matte refiners against bilinear on generated composites, and their speed."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from rich.console import Console
from rich.table import Table

from xmempp.evaluation.benchmark import run_benchmark
from xmempp.evaluation.composites import SCENE_KINDS, load_backgrounds
from xmempp.evaluation.refine_bench import (
    RATIO_METRICS,
    SCENE_SETS,
    TARGETS,
    scaled,
    scene_and_coarse,
    score_scenes,
    time_foreground,
    time_refine,
    worst,
)
from xmempp.inference.config import InferenceConfig
from xmempp.io.synthetic import MovingDiscs
from xmempp.refine import Refiner, RefineSettings

from .engine_options import DeviceOption, ThreadsOption, load_network, set_threads
from .progress import frame_progress
from .refine_options import BandOption, DetailOption, FeatherOption, TemporalOption


def _network_seconds(device: str, console: Console, width: int) -> float:
    """Seconds per frame of the network at size 480 (random weights: the same cost), one object."""
    network = load_network(None, device, console, random_weights=True)
    discs = MovingDiscs(6, 480, width, objects=1)
    frames = [discs[i] for i in range(6)]
    result = run_benchmark(
        network,
        frames,
        discs.mask(0),
        InferenceConfig(size=480),
        warmup=2,
        count_flops=False,
        peak_repeats=1,
        peak_between=False,
    )
    return result.ms_per_frame / 1000.0


def refine_bench_command(
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Scenes per kind (seeds 0..N-1).")] = 4,
    kinds: Annotated[
        str, typer.Option("--kinds", help=f"Comma-separated scene kinds ({', '.join(SCENE_KINDS)}).")
    ] = ",".join(SCENE_KINDS),
    height: Annotated[int, typer.Option("--height", min=64, help="Plate height of the scored scenes.")] = 1080,
    width: Annotated[int, typer.Option("--width", min=64, help="Plate width of the scored scenes.")] = 2048,
    frames: Annotated[int, typer.Option("--count", min=2, help="Number of frames per scene (dtSSD needs two).")] = 3,
    backgrounds: Annotated[
        list[Path] | None,
        typer.Option(
            "--backgrounds",
            help="Folder of real frames to crop backgrounds from; repeat for more. With N folders seed "
            "s uses folder s mod (N+1), procedural when that is N. Default: procedural.",
        ),
    ] = None,
    scene_set: Annotated[
        str,
        typer.Option(
            "--scene-set",
            help=f"Scene generator: {', '.join(SCENE_SETS)} (tuning: the scenes the defaults were "
            "chosen on; busy: the same over posts, foliage, text, stripes; heldout: a second "
            "generator, for validation).",
        ),
    ] = "tuning",
    matting: Annotated[
        bool, typer.Option("--score-matting/--no-score-matting", help="Also score the (slow) matting refiner.")
    ] = False,
    band: BandOption = None,
    feather: FeatherOption = None,
    detail: DetailOption = RefineSettings().eps,
    temporal: TemporalOption = 0.0,
    timing: Annotated[
        bool, typer.Option("--timing/--no-timing", help="Time the refiner at 2K and 4K and the network's own frame.")
    ] = True,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Score the refiners against today's bilinear matte on generated composites (worst scene per kind) and
    time them per 2K and 4K frame."""
    console = Console(stderr=True)
    set_threads(threads)
    if scene_set not in SCENE_SETS:
        raise typer.BadParameter(
            f"unknown scene set {scene_set!r}; use {', '.join(SCENE_SETS)}", param_hint="--scene-set"
        )
    chosen = [k.strip() for k in kinds.split(",") if k.strip()]
    bad = [k for k in chosen if k not in SCENE_KINDS]
    if bad:
        raise typer.BadParameter(f"unknown scene kind {bad[0]!r}; use {', '.join(SCENE_KINDS)}", param_hint="--kinds")
    guided = RefineSettings(mode="guided", band=band, feather=feather, eps=detail, temporal=temporal)
    refiners = {"guided": guided} | ({"matting": guided.with_mode("matting")} if matting else {})
    bgs = [load_backgrounds(folder) for folder in backgrounds or ()]
    with frame_progress(console, quiet=as_json, transient=True) as progress:
        task = progress.add_task("scenes", total=len(chosen) * seeds)
        scores = score_scenes(
            chosen,
            range(seeds),
            height,
            width,
            frames,
            refiners,
            bgs,
            on_scene=lambda: progress.advance(task),
            scene_set=scene_set,
        )
    timings: dict[str, float] = {}
    if timing:
        set_threads(threads)  # again: importing pymatting (numba) resets torch's count
        (scene,), (coarse,) = scene_and_coarse("tuning", "hair", 0, 1080, 2048, 1, bgs)
        plate = np.clip(np.rint(scene.plate * 255), 0, 255).astype(np.uint8)
        dev = None if device in ("auto", "cpu") else device
        timings["network"] = _network_seconds(device, console, 912)
        timings["2K"] = time_refine(guided, plate, coarse, device=dev)
        timings["4K"] = time_refine(guided, *scaled(plate, coarse, 2160), device=dev)
        refined = np.asarray(Refiner(guided)(plate, np.stack([1 - coarse, coarse])))[1]
        timings["foreground 2K"] = time_foreground(plate, refined, device=dev)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "scene_set": scene_set,
                    "scores": [asdict(s) for s in scores],
                    "timings_s": timings,
                    "threads": torch.get_num_threads(),
                },
                indent=2,
            )
        )
        return
    out = Console(width=max(Console().width, 150))
    for name in refiners:
        table = Table(title=f"{name}: error / bilinear, worst of {seeds} {scene_set} scenes (mean), {width}x{height}")
        for column in ("scene", *RATIO_METRICS, "foreground gain"):
            table.add_column(column, justify="right")
        for kind in chosen:
            rows = [s for s in scores if s.refiner == name and s.kind == kind]
            cells = []
            for metric in RATIO_METRICS:
                limit = TARGETS.get((kind, metric))
                value = worst(scores, name, kind, metric)
                mean = float(np.mean([s.ratios[metric] for s in rows]))
                mark = "" if limit is None else (" [green]ok[/green]" if value <= limit else f" [red]> {limit}[/red]")
                cells.append(f"{value:.3f} ({mean:.3f}){mark}")
            gain = worst(scores, name, kind, "foreground")
            cells.append(f"{gain:.2f}x" + (" [green]ok[/green]" if gain >= 2 else " [red]< 2[/red]"))
            table.add_row(kind, *cells)
        out.print(table)
    if timings:
        net = timings["network"]
        out.print(
            f"guided refine, one object, {torch.get_num_threads()} threads: 2K {timings['2K']:.3f} s/frame "
            f"({timings['2K'] / net:.2f} of the network's frame), 4K {timings['4K']:.3f} s/frame "
            f"({timings['4K'] / net:.2f}); network at size 480: {net:.3f} s/frame"
        )
        fg = timings["foreground 2K"]
        out.print(f"foreground colour (blur fusion), 2K: {fg:.3f} s/frame ({fg / net:.2f} of the network's frame)")
