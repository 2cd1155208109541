"""Optional capabilities of a frame source, declared as protocols.

Every source satisfies `xmempp.io.frames.Frames` (a length and frames by index). Some also know
their frame names, size, frame numbers, frame rate or files; the job API, checkpoints and the
memory estimate ask for those through the typed accessors here instead of probing attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "HasFiles",
    "HasFps",
    "HasFrameNumbers",
    "HasNames",
    "HasPath",
    "HasSize",
    "files_of",
    "fps_of",
    "frame_numbers_of",
    "names_of",
    "size_of",
    "video_path_of",
]


@runtime_checkable
class HasNames(Protocol):
    """Frame stems, in frame order."""

    names: Sequence[str]


@runtime_checkable
class HasSize(Protocol):
    """(height, width) of every frame."""

    size: tuple[int, int] | None


@runtime_checkable
class HasFrameNumbers(Protocol):
    """The shot's frame number of each index (e.g. 1001...), or None when known by name only."""

    frame_numbers: Sequence[int] | None


@runtime_checkable
class HasFps(Protocol):
    """Frame rate of a video (None for a frame folder)."""

    fps: float | None


@runtime_checkable
class HasFiles(Protocol):
    """One image file per frame, in frame order."""

    files: Sequence[Path]


@runtime_checkable
class HasPath(Protocol):
    """Where the frames come from, and whether it is one video file."""

    path: Path
    is_video: bool


def names_of(frames: object) -> Sequence[str] | None:
    """The source's frame stems, or None."""
    return frames.names if isinstance(frames, HasNames) else None


def size_of(frames: object) -> tuple[int, int] | None:
    """The source's (height, width), or None when it does not say."""
    return frames.size if isinstance(frames, HasSize) else None


def frame_numbers_of(frames: object) -> Sequence[int] | None:
    """The source's frame numbers, or None."""
    return frames.frame_numbers if isinstance(frames, HasFrameNumbers) else None


def fps_of(frames: object) -> float | None:
    """The source's frame rate, or None."""
    return frames.fps if isinstance(frames, HasFps) else None


def files_of(frames: object) -> Sequence[Path] | None:
    """The source's image files, or None."""
    return frames.files if isinstance(frames, HasFiles) else None


def video_path_of(frames: object) -> Path | None:
    """The video file the frames are decoded from, or None (not a video)."""
    return frames.path if isinstance(frames, HasPath) and frames.is_video else None
