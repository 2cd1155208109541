"""Options for production plates and roto, shared by `process` and `candidates`.

Frame patterns and ranges, the plates' colour space (OpenColorIO), the EXR layer, a video's start
frame and the soft-mask threshold; `PlateOptions.open_frames` / `read_masks` apply them.
"""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from xmempp.inference.shots import PlateOptions

__all__ = ["PlateOptions", "FramesOption", "ColorspaceOption", "DisplayOption", "ViewOption", "LayerOption",
           "StartFrameOption", "MaskThresholdOption"]

FramesOption = Annotated[Optional[str], typer.Option(
    "--frames", help="Frame range of a sequence, e.g. 1001-1100 (every frame in it must exist).")]
ColorspaceOption = Annotated[Optional[str], typer.Option(
    "--colorspace", help="The plates' OCIO colour space (default: EXR 'Linear Rec.709 (sRGB)', DPX 'Cineon', "
                         "others sRGB; $OCIO is used when set).")]
DisplayOption = Annotated[Optional[str], typer.Option(
    "--display", help="OCIO display for a display/view transform instead of the plain sRGB encoding.")]
ViewOption = Annotated[Optional[str], typer.Option(
    "--view", help="OCIO view, e.g. 'ACES 2.0 - SDR 100 nits (Rec.709)' (tone-mapped); default: none.")]
LayerOption = Annotated[Optional[str], typer.Option(
    "--layer", help="EXR layer or part to read (default: R, G, B of the first part).")]
StartFrameOption = Annotated[Optional[int], typer.Option(
    "--start-frame", help="Number of a video's first frame (masks and outputs), e.g. 1001.")]
MaskThresholdOption = Annotated[float, typer.Option(
    "--mask-threshold", min=0.0, max=1.0, help="Soft keyframes (mattes, soft alpha, anti-aliased colours) are "
                                               "binarised per object at this value.")]
