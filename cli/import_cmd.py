"""`xmempp import`: turn frames (and existing masks) into a GUI workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from xmempp.errors import InputError
from xmempp.io.workspace import Workspace, check_workspace_target, create_workspace

from .engine_options import QuietOption
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


def import_command(
    name: Annotated[str, typer.Option("--name", help="Name of the workspace to create: the folder INTO/NAME.")],
    images: Annotated[
        Path | None,
        typer.Option("--images", help="Frames: a folder (JPEG, PNG, TIFF, EXR, DPX) or a pattern (plate.####.exr)."),
    ] = None,
    video: Annotated[
        Path | None,
        typer.Option("--video", "-v", help="Frames: a video file (mp4, mov, mkv, avi), a folder or a frame pattern."),
    ] = None,
    masks: Annotated[
        Path | None,
        typer.Option(
            "--masks", "-m", help="Folder of keyframe masks named after their frames (or ending in their frame number)."
        ),
    ] = None,
    size: Annotated[
        int,
        typer.Option(
            "--size",
            help="Size in pixels of the frames' shorter side: the workspace keeps the frames at it; -1 keeps "
            "the source resolution.",
        ),
    ] = -1,
    into: Annotated[
        Path,
        typer.Option(
            "--into", envvar="XMEMPP_WORKSPACES", help="Folder that holds the workspaces (the new one is INTO/NAME)."
        ),
    ] = Path("workspace"),
    quiet: QuietOption = False,
    frame_range: FramesOption = None,
    colorspace: ColorspaceOption = None,
    display: DisplayOption = None,
    view: ViewOption = None,
    layer: LayerOption = None,
    start_frame: StartFrameOption = None,
    mask_threshold: MaskThresholdOption = 0.5,
    mask_channel: MaskChannelOption = None,
) -> None:
    """Create a workspace INTO/NAME (images/, masks/, info.json) that the GUI opens, as XMem++ does.

    Example: xmempp import --name shot_a -v plates/shot_a -m roto/shot_a --size 480
    """
    source = video if video is not None else images
    if source is None or (video is not None and images is not None):
        raise InputError("give exactly one of --video (a video file, a folder or a pattern of frames) or --images")
    check_workspace_target(into, name)
    if images is not None and images.exists() and not images.is_dir():
        raise InputError(f"--images expects a folder of frames but {images} is a file; use --video for videos")
    plates = PlateOptions(frame_range, colorspace, display, view, layer, start_frame, mask_threshold, mask_channel)
    frames = plates.open_frames(source)
    try:
        mask_set = None
        if masks is not None:
            mask_set = plates.read_masks(masks, frames)
        console = Console(stderr=True)
        with frame_progress(console, quiet, transient=True) as bar:
            task = bar.add_task("importing", total=len(frames))
            numbers = [frames.frame_numbers[i] if frames.frame_numbers is not None else i for i in range(len(frames))]
            path = create_workspace(
                into,
                name,
                frames,
                mask_set,
                size if size > 0 else None,
                progress=lambda done, total: bar.update(task, completed=done),
            )
    finally:
        frames.close()
    ws = Workspace.open(path)
    h, w = ws.size
    refs = ", ".join(str(numbers[i]) for i in ws.references) or "none"
    objects = len(ws.info.object_ids or [])
    typer.echo(
        f"Created workspace {path}: {len(ws)} frames at {w}x{h}, {objects} object{'' if objects == 1 else 's'}, "
        f"references at frames {refs}"
    )
