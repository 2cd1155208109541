"""`xmempp qc`: review any mask sequence against its frames and say which frames look wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from xmempp.errors import InputError, OutputError, Remedy, RemedyKind
from xmempp.io.images import IMAGE_EXTENSIONS
from xmempp.review.report import flagged_spans
from xmempp.review.shot import QC_FILES, review_shot

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
)
from .progress import frame_progress


def reviewed_masks_folder(path: Path) -> Path:
    """The folder of masks to review: `path` itself, or the masks of an xmempp output folder (`masks/`, else
    `alpha/` with one folder per object)."""
    if not path.is_dir():
        raise InputError(
            f"masks folder not found: {path}; give the folder of masks to review (index PNGs, one "
            f"folder per object, or an xmempp output folder)"
        )
    has_images = any(p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir())
    for inner in ("masks", "alpha"):
        if not has_images and (path / inner).is_dir():
            return path / inner
    return path


def qc_command(
    video: Annotated[Path, typer.Option("--video", "-v", help="Video file or folder of frames.")],
    masks: Annotated[
        Path,
        typer.Option(
            "--masks",
            "-m",
            help="The masks to review, from any tool: index PNGs named after their frames, one "
            "folder per object, or an xmempp output folder (its masks/).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for qc.json and qc.html.")],
    keyframes: Annotated[
        Path | None,
        typer.Option(
            "--keyframes",
            help="The artist's keyframe masks (as `process -m` takes them): trusted, and the "
            "reference for each object's appearance.",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a qc.json / qc.html already in the output folder.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    frame_range: FramesOption = None,
    colorspace: ColorspaceOption = None,
    display: DisplayOption = None,
    view: ViewOption = None,
    layer: LayerOption = None,
    start_frame: StartFrameOption = None,
    mask_threshold: MaskThresholdOption = 0.5,
    mask_channel: MaskChannelOption = None,
) -> None:
    """Review masks against their frames: which frames and objects look wrong, and why.

    Compares each frame's masks with the motion from the previous frame and the keyframes' colours.

    Writes OUT/qc.json (a score, a flag and reasons per frame and object) and OUT/qc.html (a contact sheet).

    Example: xmempp qc -v plates/shot_a -m out/shot_a -o qc/shot_a --keyframes roto/shot_a
    """
    console = Console(stderr=True, quiet=quiet)
    targets = [out / name for name in QC_FILES]
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; give a folder for qc.json and qc.html")
    if not overwrite and any(t.exists() for t in targets):
        raise OutputError(
            f"{out} already holds a review ({', '.join(t.name for t in targets if t.exists())})",
            remedy=Remedy(RemedyKind.ENABLE, "overwrite"),
        )
    plates = PlateOptions(frame_range, colorspace, display, view, layer, start_frame, mask_threshold, mask_channel)
    source = reviewed_masks_folder(masks)
    frames = plates.open_frames(video)
    try:
        read = plates.read_masks(source, frames)
        keys = {i: m.ids for i, m in plates.read_masks(keyframes, frames).items()} if keyframes is not None else {}
        with frame_progress(console, quiet, transient=True) as bar:
            task = bar.add_task("reviewing", total=len(read))
            reviews, data = review_shot(
                frames,
                read,
                out,
                keyframes=keys,
                title=video.name,
                source={"video": str(video), "masks": str(source), "keyframes": str(keyframes) if keyframes else None},
                progress=lambda done, total: bar.update(task, completed=done),
            )
    finally:
        frames.close()
    if as_json:
        typer.echo(json.dumps(data["summary"], indent=2))
        return
    print_spans(reviews, out)


def print_spans(reviews: list, out: Path) -> None:
    """The review's summary line and its flagged spans, worst first, on stdout."""
    spans = flagged_spans(reviews)
    console = Console(highlight=False, soft_wrap=True)
    flagged = sum(r.flagged for r in reviews)
    console.print(
        f"{flagged} of {len(reviews)} frames flagged, in {len(spans)} spans; {out / 'qc.json'}, {out / 'qc.html'}"
    )
    if not spans:
        return
    table = Table(title="flagged frames, worst first")
    for column in ("frames", "count", "worst", "score", "objects", "reasons"):
        table.add_column(column, justify="right" if column in ("count", "score") else "left")
    for span in spans[:20]:
        what = span.first if span.length == 1 else f"{span.first}-{span.last}"
        table.add_row(
            escape(what),
            str(span.length),
            escape(span.worst),
            f"{span.score:.2f}",
            ",".join(map(str, span.objects)),
            escape("; ".join(span.reasons[:3])),
        )
    console.print(table)
    if len(spans) > 20:
        console.print(f"... and {len(spans) - 20} more spans in {out / 'qc.json'}")
