"""`xmempp refine`: refine soft mattes that already exist against their plate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from xmempp.model.device import resolve_device
from xmempp.refine import RefineSettings
from xmempp.refine.folders import refine_folders

from .engine_options import DeviceOption, QuietOption
from .process_cmd import MatteFormat
from .progress import frame_progress
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


def refine_command(
    video: Annotated[Path, typer.Option("--video", "-v", help="The plate: folder of frames, pattern or video.")],
    mattes: Annotated[
        Path,
        typer.Option(
            "--masks",
            "-m",
            help="The soft masks (mattes) to refine, named after the plate's frames: one per frame "
            "(one object) or one sub-folder per object id (alpha/<id>/<stem>.png); "
            "PNG 8/16-bit, TIFF, EXR.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (alpha/<id>/<stem>.png, foreground/, rgba/).")
    ],
    refine: RefineOption = RefineMode.guided,
    band: BandOption = None,
    feather: FeatherOption = None,
    detail: DetailOption = RefineSettings().eps,
    temporal: TemporalOption = 0.0,
    matte_format: Annotated[
        MatteFormat,
        typer.Option("--matte-format", help="Refined matte files: png or tiff (16-bit) or exr (half float)."),
    ] = MatteFormat.png,
    foreground: ForegroundOption = False,
    premultiplied: PremultipliedOption = True,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace results already in the output folder.")
    ] = False,
    device: DeviceOption = "auto",
    quiet: QuietOption = False,
) -> None:
    """Refine existing soft mattes (from `process --alpha` or any other tool) against the full-resolution plate.

    Example: xmempp refine -v plates/shot_a -m out/shot_a/alpha -o refined/shot_a
    """
    settings = refine_settings(refine, band, feather, detail, temporal)
    console = Console(stderr=True, quiet=quiet)
    with frame_progress(console, quiet) as progress:
        task = progress.add_task("refining", total=None)
        report = refine_folders(
            video,
            mattes,
            out,
            settings,
            matte_format=matte_format.value,
            foreground=foreground,
            premultiplied=premultiplied,
            overwrite=overwrite,
            device=resolve_device(device),
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    skipped = f", {report.skipped} frames without a matte skipped" if report.skipped else ""
    console.print(
        f"[green]done[/green]: {report.frames} frames, objects {', '.join(map(str, report.objects))}, "
        f"{report.seconds / max(report.frames, 1):.3f} s a frame ({report.fps:.2f} frames per second, "
        f"decoding, refining and writing overlapped){skipped}; results in {out}"
    )
