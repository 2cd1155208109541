"""`xmempp gui`: the annotation GUI (PyQt5), on a workspace or on a video / frame folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xmempp.errors import InputError
from xmempp.model.precision import Precision

from .engine_options import PrecisionOption


def gui_command(
    video: Annotated[
        Path | None,
        typer.Option(
            "--video",
            "-v",
            help="Frames: a video file, a folder or a frame pattern; a workspace INTO/<name> is "
            "created from it first (as `xmempp import`).",
        ),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            "--images", help="Frames: a folder or a pattern; a workspace INTO/<name> is created from it first."
        ),
    ] = None,
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", help="An existing workspace folder (made by `xmempp import` or XMem++)."),
    ] = None,
    masks: Annotated[
        Path | None,
        typer.Option(
            "--masks",
            "-m",
            help="With --video/--images: folder of keyframe masks named after their frames (or ending "
            "in their frame number), imported as references.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="With --video/--images: name of the workspace to create (default: the video / folder name)."
        ),
    ] = None,
    into: Annotated[
        Path,
        typer.Option(
            "--into",
            envvar="XMEMPP_WORKSPACES",
            help="With --video/--images: folder that holds the workspaces (the new one is INTO/NAME).",
        ),
    ] = Path("workspace"),
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="XMem checkpoint (default: `xmempp weights path`); loaded on the first propagation."
        ),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    precision: PrecisionOption = Precision.auto,
    size: Annotated[
        int | None,
        typer.Option(
            "--size",
            help="Processing size (shorter side, -1 native), remembered in the workspace; with "
            "--video/--images the frames are also imported at this size.",
        ),
    ] = None,
    screenshot: Annotated[
        Path | None,
        typer.Option("--screenshot", help="Render the window to this PNG once the first frame is shown, then exit."),
    ] = None,
) -> None:
    """Open the annotation GUI: paint keyframes, save references, propagate, get suggestions, export.

    Example: xmempp gui --workspace workspace/shot_a
    """
    given = [
        flag
        for flag, value in (("--video", video), ("--images", images), ("--workspace", workspace))
        if value is not None
    ]
    if len(given) != 1:
        raise InputError("give exactly one of --video FILE, --images DIR or --workspace DIR")
    if masks is not None and workspace is not None:
        raise InputError("--masks is for --video/--images; a workspace keeps its masks in masks/")
    if size is not None and size != -1 and size < 16:
        raise InputError(f"--size must be -1 (native) or at least 16 pixels, got {size}")
    try:
        from xmempp.gui.app import run_gui
        from xmempp.gui.launch import workspace_from_source
    except ImportError as exc:
        raise InputError(f"the GUI needs PyQt5: pip install 'xmempp[gui]' ({exc})") from exc

    if workspace is None:
        source = video or images
        if images is not None and images.exists() and not images.is_dir():
            raise InputError(f"--images expects a folder of frames but {images} is a file; use --video")
        path, created = workspace_from_source(source, into, name, masks, size)
        typer.echo(f"{'Created' if created else 'Opening'} workspace {path}", err=True)
        workspace = path
    code = run_gui(
        workspace, model=model, device=device, size=size, screenshot=screenshot, precision=Precision(precision).value
    )
    if screenshot is not None and code == 0:
        typer.echo(f"Wrote {screenshot}", err=True)
    if code:
        raise typer.Exit(code)
