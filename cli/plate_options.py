"""Options for production plates and roto, shared by `process` and `candidates`.

Frame patterns and ranges, the plates' colour space (OpenColorIO), the EXR layer, a video's start
frame and the soft-mask threshold; `PlateOptions.open_frames` / `read_masks` apply them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from xmempp.inference.shot_folders import PlateOptions

__all__ = [
    "ColorspaceOption",
    "DisplayOption",
    "FramesOption",
    "LayerOption",
    "MaskChannelOption",
    "MaskThresholdOption",
    "PlateOptions",
    "StartFrameOption",
    "ViewOption",
    "parse_names",
]

FramesOption = Annotated[
    str | None,
    typer.Option("--frames", help="Frame range of a sequence, e.g. 1001-1100 (every frame in it must exist)."),
]
ColorspaceOption = Annotated[
    str | None,
    typer.Option(
        "--colorspace",
        help="The plates' OCIO colour space (default: EXR 'Linear Rec.709 (sRGB)', DPX 'Cineon', "
        "others sRGB; $OCIO is used when set).",
    ),
]
DisplayOption = Annotated[
    str | None,
    typer.Option("--display", help="OCIO display for a display/view transform instead of the plain sRGB encoding."),
]
ViewOption = Annotated[
    str | None,
    typer.Option("--view", help="OCIO view, e.g. 'ACES 2.0 - SDR 100 nits (Rec.709)' (tone-mapped); default: none."),
]
LayerOption = Annotated[
    str | None, typer.Option("--layer", help="EXR layer or part to read (default: R, G, B of the first part).")
]
StartFrameOption = Annotated[
    int | None, typer.Option("--start-frame", help="Number of a video's first frame (masks and outputs), e.g. 1001.")
]
MaskThresholdOption = Annotated[
    float,
    typer.Option(
        "--mask-threshold",
        min=0.0,
        max=1.0,
        help="Soft keyframes (mattes, soft alpha, anti-aliased colours) are binarised per object at this value.",
    ),
]
MaskChannelOption = Annotated[
    str | None,
    typer.Option(
        "--mask-channel",
        help="EXR channel holding the roto, e.g. A or chair.mask (default: the only channel, else A / mask).",
    ),
]


def parse_names(text: str | None) -> dict[int, str]:
    """`--names 1=hair,2=jacket` as {1: "hair", 2: "jacket"} (empty for None).

    Arguments:
        text: comma-separated `id=name` pairs.
    Returns:
        Object id -> name. Raises `typer.BadParameter` for a malformed pair, an id outside 1..255, a
        name given twice, or a name that is empty or holds a character EXR channel names cannot.
    """
    names: dict[int, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, name = item.partition("=")
        name = name.strip()
        if not sep or not key.strip().isdigit() or not 1 <= int(key) <= 255:
            raise typer.BadParameter(
                f"{item.strip()!r} is not id=name with an id in 1..255 (e.g. 1=hair,2=jacket)", param_hint="--names"
            )
        if not name or any(c in name for c in ".,= \t"):
            raise typer.BadParameter(
                f"object name {name!r} must be non-empty, without dots, commas or spaces", param_hint="--names"
            )
        if name in names.values():
            raise typer.BadParameter(
                f"object name {name!r} given twice: every object needs its own name", param_hint="--names"
            )
        names[int(key)] = name
    return names
