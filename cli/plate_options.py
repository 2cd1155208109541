"""Options for production plates and roto, shared by `process` and `candidates`.

Frame patterns and ranges, the plates' colour space (OpenColorIO), the EXR layer, a video's start
frame and the soft-mask threshold; `PlateOptions.open_frames` / `read_masks` apply them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from xmempp.errors import InputError
from xmempp.io.colour import ColourOptions
from xmempp.io.frames import FrameSource, open_frames
from xmempp.io.masks import LabeledMask, read_mask_folder
from xmempp.io.sequences import parse_frame_range

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


@dataclass(frozen=True)
class PlateOptions:
    """How frames and masks are read.

    Attributes:
        frames: "FIRST-LAST" range, or None.
        colorspace, display, view: colour settings (None = defaults).
        layer: EXR layer or part.
        start_frame: a video's first frame number.
        mask_threshold: soft-mask threshold.
    """

    frames: Optional[str] = None
    colorspace: Optional[str] = None
    display: Optional[str] = None
    view: Optional[str] = None
    layer: Optional[str] = None
    start_frame: Optional[int] = None
    mask_threshold: float = 0.5

    def open_frames(self, video: Path) -> FrameSource:
        """Open the frames (folder, pattern or video) with these options."""
        colour = None
        if self.colorspace or self.display or self.view:
            colour = ColourOptions(self.colorspace, self.display, self.view)
        frame_range = parse_frame_range(self.frames) if self.frames is not None else None
        source = open_frames(video, frames=frame_range, colour=colour, layer=self.layer,
                             start_frame=self.start_frame)
        if self.start_frame is not None and not source.is_video:
            source.close()
            raise InputError("--start-frame numbers the frames of a video; a sequence keeps its own numbers "
                             "(use --frames to pick a range)")
        return source

    def read_masks(self, masks: Path, frames: FrameSource) -> dict[int, LabeledMask]:
        """Read and pair the keyframe masks of `frames`."""
        return read_mask_folder(masks, frames.names, frames.size, by_index=frames.is_video,
                                frame_numbers=frames.frame_numbers, threshold=self.mask_threshold)
