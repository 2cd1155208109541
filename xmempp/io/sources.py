"""`open_frames`: a path (folder of frames, frame pattern, plate folder or video) to its frame source."""

from __future__ import annotations

from pathlib import Path

from xmempp.errors import InputError, Remedy, RemedyKind

#: File suffixes read as frames in a frame folder.
from xmempp.io import plates
from xmempp.io.colour import ColourOptions
from xmempp.io.frames import FolderFrames, FrameRange, FrameSource, range_indices
from xmempp.io.images import IMAGE_EXTENSIONS, is_hidden
from xmempp.io.sequences import is_pattern
from xmempp.io.video_frames import VideoFrames
from xmempp.types import PathLike

__all__ = ["open_frames"]


def open_frames(
    path: PathLike,
    *,
    frames: tuple[int, int] | None = None,
    colour: ColourOptions | None = None,
    layer: str | None = None,
    start_frame: int | None = None,
) -> FrameSource:
    """Open a folder of frames, a frame pattern or a video file as a lazily decoded `FrameSource`.

    Arguments:
        path: a folder of images (JPEG, PNG 8/16-bit, TIFF, ...), a folder holding one EXR/DPX
            sequence, a pattern (`plate.%04d.exr`, `plate.####.exr`, `plate.@@@@.exr`), or a video.
        frames: (first, last) frame numbers to keep (a video's: numbered from `start_frame`, else from 0).
        colour: `xmempp.io.colour.ColourOptions` for plates (sequences only).
        layer: EXR layer or part to read.
        start_frame: number of a video's first frame.
    Returns:
        A `FolderFrames`, `PlateFrames` (see `xmempp.io.plates`), `VideoFrames` or a `FrameRange` of one. Raises
        `InputError` when the path is missing, empty, a single image, or not readable.
    """
    p = Path(path)
    sequence_options = frames is not None or colour is not None or layer is not None
    if is_pattern(p):
        if not p.parent.is_dir():
            raise InputError(f"folder of the pattern {p} not found: {p.parent}")
        return plates.open_plates(p, frames, colour or plates.ColourOptions(), layer)
    if not p.exists():
        raise InputError(f"video or frame folder not found: {p}")
    if p.is_dir():
        try:
            has_plates = any(c.suffix.lower() in plates.PLATE_EXTENSIONS for c in p.iterdir() if not is_hidden(c))
        except OSError as exc:
            raise InputError(f"cannot list frame folder {p}: {exc.strerror or exc}") from exc
        if has_plates or sequence_options:
            return plates.open_plates(p, frames, colour or plates.ColourOptions(), layer)
        return FolderFrames(p)
    if p.suffix.lower() in IMAGE_EXTENSIONS | plates.PLATE_EXTENSIONS:
        raise InputError(
            f"{p} is a single image; give the folder that holds all the frames of the shot, or a "
            f"pattern such as {p.parent / 'plate.%04d.exr'}"
        )
    if colour is not None or layer is not None:
        raise InputError(
            f"{p} is a video: colour spaces and layers apply to image sequences",
            remedy=Remedy(RemedyKind.SET, "start_frame", note="(to number a video's frames)"),
        )
    video = VideoFrames(p, start_frame)
    if frames is None:
        return video
    try:  # a range of a video's frame numbers (from `start_frame`, else 0-based), as `process --frames` takes it
        return FrameRange(video, *range_indices(video, *frames))
    except InputError:
        video.close()
        raise
