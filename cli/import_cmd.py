"""`xmempp import`: turn frames (and existing masks) into a GUI workspace."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from xmempp.errors import InputError
from xmempp.io.frames import open_frames
from xmempp.io.masks import read_mask_folder
from xmempp.io.workspace import Workspace, check_workspace_target, create_workspace

from .engine_options import QuietOption
from .progress import frame_progress


def import_command(
    name: Annotated[str, typer.Option("--name", help="Project name: the workspace folder ROOT/NAME to create.")],
    images: Annotated[Optional[Path], typer.Option("--images", help="Folder of frames (JPEG, PNG, TIFF).")] = None,
    video: Annotated[Optional[Path], typer.Option("--video", help="Video file (mp4, mov, mkv, avi).")] = None,
    masks: Annotated[Optional[Path], typer.Option(
        "--masks", help="Folder of annotation masks named after their frames (for a video: by frame number).")] = None,
    size: Annotated[int, typer.Option(
        "--size", help="Resize frames so the shorter side is N pixels; -1 keeps the source size.")] = -1,
    workspace: Annotated[Path, typer.Option("--workspace", help="Workspace root folder.")] = Path("workspace"),
    quiet: QuietOption = False,
) -> None:
    """Create a workspace ROOT/NAME (images/, masks/, info.json) that the GUI opens, as XMem++ does.

    Example: xmempp import --name shot_a --images plates/shot_a --masks roto/shot_a --size 480
    """
    if (images is None) == (video is None):
        raise InputError("give exactly one of --images DIR (a folder of frames) or --video FILE")
    check_workspace_target(workspace, name)
    if images is not None:
        if images.exists() and not images.is_dir():
            raise InputError(f"--images expects a folder of frames but {images} is a file; use --video for videos")
        source = images
    else:
        if video.is_dir():
            raise InputError(f"--video expects a video file but {video} is a folder; use --images for frame folders")
        source = video
    frames = open_frames(source)
    try:
        mask_set = None
        if masks is not None:
            mask_set = read_mask_folder(masks, frames.names, frames.size, by_index=frames.is_video)
        console = Console(stderr=True)
        with frame_progress(console, quiet, transient=True) as bar:
            task = bar.add_task("importing", total=len(frames))
            path = create_workspace(workspace, name, frames, mask_set, size if size > 0 else None,
                                    progress=lambda done, total: bar.update(task, completed=done))
    finally:
        frames.close()
    ws = Workspace.open(path)
    h, w = ws.size
    refs = ", ".join(str(i) for i in ws.references) or "none"
    objects = len(ws.info.get("object_ids") or [])
    typer.echo(f"Created workspace {path}: {len(ws)} frames at {w}x{h}, {objects} objects, references: {refs}")
