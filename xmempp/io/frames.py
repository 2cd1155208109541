"""Lazy frame sources: a folder of images or a video file, read one frame at a time.

`xmempp.io.sources.open_frames(path)` returns a `FrameSource`, a read-only sequence of HxWx3 uint8 RGB frames:

* a folder of frames (JPEG, PNG 8/16-bit, TIFF, BMP, WebP), ordered naturally by file stem so that
  `shot_a_999` comes before `shot_a_1000`; hidden files are ignored; each frame is decoded when
  asked for, 16-bit images are scaled to 8 bits;
* a video file (mp4, mov, mkv, avi, ...) decoded as a stream with PyAV: never extracted to disk and
  never held in memory as a whole. Frame stems are the 0-based frame index, zero-padded (`000000`).

Every frame source satisfies one protocol, `Frames`: `len(frames)` and `frames[i]` for
0 <= i < len (HxWx3 uint8 RGB), optionally the capabilities of `xmempp.io.frame_capabilities`. Folders,
videos (`xmempp.io.video_frames`) and workspaces (`xmempp.io.workspace.Workspace`) implement it through `FrameSource`; a
user's own sequence (a list of arrays, a lazy loader) needs only `len` and indexing. Consumers read
by index within `len` and never rely on iteration stopping at an IndexError.

`prefetch(iterable)` reads ahead on a background thread.
"""

from __future__ import annotations

import dataclasses
import queue
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import (
    Any,
    Protocol,
    overload,
    runtime_checkable,
)

import cv2
import numpy as np

from xmempp.errors import InputError, Remedy, RemedyKind

#: File suffixes read as frames in a frame folder.
from xmempp.io.images import IMAGE_EXTENSIONS, decode_image_file, is_hidden, natural_key, open_image
from xmempp.io.sequences import check_links, check_numbering
from xmempp.types import PathLike

__all__ = [
    "FolderFrames",
    "FrameRange",
    "FrameSource",
    "Frames",
    "SceneLinearFrame",
    "SceneLinearReader",
    "close_frames",
    "prefetch",
    "range_indices",
    "scene_linear_reader",
]


@runtime_checkable
class Frames(Protocol):
    """What the engine and the job API read frames from: a length and frames by index within it.

    Optional attributes a source may also have (read with `getattr(frames, name, None)`):
    `names` (frame stems, in frame order), `size` ((height, width)), `frame_numbers` (the shot's
    frame number of each index, e.g. 1001...) and `fps` (frame rate of a video).
    """

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> np.ndarray: ...


@dataclass(frozen=True)
class SceneLinearFrame:
    """A frame in its own scene-linear colour space.

    Attributes:
        pixels: HxWx3 float32, unclipped.
        space: the colour space's name (as the OCIO config calls it).
        to_display: the frame source's display conversion of such pixels (float32 in 0..1).
    """

    pixels: np.ndarray
    space: str
    to_display: Callable[[np.ndarray], np.ndarray]


#: Reads a frame's scene-linear pixels (None: the frame is display-referred).
SceneLinearReader = Callable[[], SceneLinearFrame | None]


class FrameSource(Sequence, ABC):
    """A read-only, lazily decoded sequence of frames (HxWx3 uint8 RGB): the full `Frames` protocol.

    Attributes:
        path: the folder, video file or workspace the frames come from.
        names: frame stems, in frame order (file stems, or zero-padded indices for a video).
        is_video: True for a video file.
        fps: frame rate of a video (None for a frame folder).
        frame_numbers: the frame number of each frame (a plate's numbers, a video's numbers from
            its start frame), or None when frames are known by name only.
    """

    path: Path
    names: list[str]
    is_video: bool = False
    fps: float | None = None
    frame_numbers: list[int] | None = None

    def __len__(self) -> int:
        return len(self.names)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, index: slice) -> list[np.ndarray]: ...

    def __getitem__(self, index):
        """Return frame `index` (negative indices count from the end) as HxWx3 uint8 RGB."""
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"frame index {index} out of range for {n} frames")
        return self._read(i)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield every frame in order."""
        for i in range(len(self)):
            yield self._read(i)

    @property
    @abstractmethod
    def size(self) -> tuple[int, int]:
        """Frame size as (height, width)."""

    @abstractmethod
    def _read(self, index: int) -> np.ndarray:
        """Decode frame `index` (already range-checked)."""

    def scene_linear(self, index: int) -> SceneLinearFrame | None:
        """Frame `index` as scene-linear pixels for colour that is composited (the foreground's RGBA EXR),
        or None for display-referred frames (their colour stays as displayed). Linear plates override it."""
        return None

    def index_of(self, stem: str) -> int:
        """Frame index of a stem.

        Arguments:
            stem: a frame name from `names`.
        Returns:
            Its 0-based index; raises KeyError if absent.
        """
        if not hasattr(self, "_index_cache"):
            self._index_cache = {name: i for i, name in enumerate(self.names)}
        return self._index_cache[stem]

    def close(self) -> None:
        """Release open files and decoders (the source can still be read afterwards)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, {len(self)} frames)"


def range_indices(source: FrameSource, first: int, last: int) -> tuple[int, int]:
    """Where the frames numbered `first`..`last` lie in `source` (a plate's numbers, a video's numbers from
    its start frame, else 0-based indices).

    Arguments:
        source: the whole sequence or video.
        first, last: the range's first and last frame numbers (inclusive).
    Returns:
        (start index, count). Raises `InputError` naming frames of the range that `source` lacks.
    """
    numbers = list(source.frame_numbers or range(len(source)))
    have = set(numbers)
    missing = [n for n in range(first, last + 1) if n not in have]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(
            f"{source.path} has no frame(s) {shown} of the range {first}-{last} (it has {numbers[0]}-{numbers[-1]})",
            remedy=Remedy(RemedyKind.SET, "frames", note=f"within {numbers[0]}-{numbers[-1]}"),
        )
    return numbers.index(first), last - first + 1


class FrameRange(FrameSource):
    """Frames `start`..`start + count - 1` of another source, keeping their names and numbers (a video's
    `--frames` range; closing it closes the source).

    Arguments:
        source: the whole sequence or video.
        start, count: the range as indices of `source` (see `range_indices`).
    """

    def __init__(self, source: FrameSource, start: int, count: int) -> None:
        self.source, self.start = source, start
        self.path = source.path
        self.is_video = source.is_video
        self.fps = source.fps
        self.names = list(source.names[start : start + count])
        numbers = source.frame_numbers or range(len(source))
        self.frame_numbers = list(numbers[start : start + count])

    @property
    def size(self) -> tuple[int, int]:
        return self.source.size

    def _read(self, index: int) -> np.ndarray:
        return self.source[self.start + index]

    def scene_linear(self, index: int) -> SceneLinearFrame | None:
        return self.source.scene_linear(self.start + index)

    def close(self) -> None:
        self.source.close()


class FolderFrames(FrameSource):
    """Frames stored as image files in one folder, decoded on access."""

    def __init__(self, folder: PathLike) -> None:
        """Scan `folder` for frames.

        Arguments:
            folder: a folder of image files.
        Returns:
            None. Raises `InputError` if the folder holds no frames or two frames share a stem.
        """
        self.path = Path(folder)
        try:
            entries = [p for p in self.path.iterdir() if not is_hidden(p)]
        except OSError as exc:
            raise InputError(f"cannot list frame folder {self.path}: {exc.strerror or exc}") from exc
        check_links(p for p in entries if p.suffix.lower() in IMAGE_EXTENSIONS)
        files = [p for p in entries if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
        if not files:
            others = sorted({p.suffix.lower() or p.name for p in entries if p.is_file()})
            folders = sorted(p.name for p in entries if p.is_dir())
            hint = ""
            if others:
                hint = (
                    f" (found only {', '.join(others[:5])} files; supported frames are "
                    f"{', '.join(sorted(IMAGE_EXTENSIONS))})"
                )
            elif folders:
                hint = f" (it only has sub-folders: {', '.join(folders[:5])}; give the folder that holds the frames)"
            raise InputError(f"no frames found in {self.path}{hint}; give a folder of images or a video file")
        files.sort(key=lambda p: natural_key(p.stem))
        seen: dict[str, Path] = {}
        for p in files:
            if p.stem in seen:
                raise InputError(
                    f"two frames share the name {p.stem!r} in {self.path}: {seen[p.stem].name} and "
                    f"{p.name}; keep one of them"
                )
            seen[p.stem] = p
        self.files: list[Path] = files
        self.names = [p.stem for p in files]
        numbers = [re.search(r"(\d+)$", name) for name in self.names]
        if all(numbers):
            check_numbering(self.path, files)  # one gap-free sequence with one file per number
            self.frame_numbers = [int(m.group(1)) for m in numbers if m]  # a numbered sequence: roto pairs by number
        self._size: tuple[int, int] | None = None
        self._check_headers()

    def _check_headers(self) -> None:
        """Open every frame's header (no pixels decoded): readable, not a bomb, and all of one size."""
        for path in self.files:
            with open_image(path, "frame", decode=False) as image:
                w, h = image.size
            if self._size is None:
                self._size = (h, w)
            elif (h, w) != self._size:
                first_h, first_w = self._size
                raise InputError(
                    f"frame {path} is {w}x{h} but the first frame {self.files[0].name} is "
                    f"{first_w}x{first_h}; all frames of a shot must have the same size",
                    remedy=Remedy(RemedyKind.FIX_INPUT),
                )

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the first frame (every frame must match it)."""
        if self._size is None:
            with open_image(self.files[0], "frame", decode=False) as image:
                w, h = image.size
            self._size = (h, w)
        return self._size

    def _read(self, index: int) -> np.ndarray:
        path = self.files[index]
        rgb = decode_image_file(path, "frame")
        if rgb.shape[:2] != self.size:
            h, w = self.size
            raise InputError(
                f"frame {path} is {rgb.shape[1]}x{rgb.shape[0]} but the first frame "
                f"{self.files[0].name} is {w}x{h}; all frames of a shot must have the same size"
            )
        return rgb


_END = object()


def close_frames(frames: Frames) -> None:
    """Release what a frame source holds open (a video's decoder, a prefetch thread); sources without a
    `close` (a list of arrays) hold nothing."""
    close = getattr(frames, "close", None)
    if close is not None:
        close()


def scene_linear_reader(frames: Any, index: int, size: tuple[int, ...]) -> SceneLinearReader | None:
    """Reads frame `index`'s scene-linear pixels at (height, width) `size` when the frames are a linear
    plate (`FrameSource.scene_linear`), for the foreground's RGBA EXR; None otherwise."""
    read = getattr(frames, "scene_linear", None)
    if read is None:
        return None

    def reader() -> SceneLinearFrame | None:
        frame = read(index)
        if frame is None or tuple(frame.pixels.shape[:2]) == size:
            return frame
        h, w = size
        pixels = cv2.resize(
            frame.pixels, (w, h), interpolation=cv2.INTER_AREA if h < frame.pixels.shape[0] else cv2.INTER_LINEAR
        )
        return dataclasses.replace(frame, pixels=np.ascontiguousarray(pixels, dtype=np.float32))

    return reader


def prefetch(iterable: Iterable[Any], depth: int = 4) -> Generator[Any, None, None]:
    """Iterate `iterable` on a background thread, keeping up to `depth` items ready.

    Errors raised by the reader are re-raised in the consumer at the point where the failing item
    would have arrived. Leaving the loop early stops the reader.

    Arguments:
        iterable: anything iterable (e.g. a `FrameSource`); it is consumed on another thread.
        depth: how many items to read ahead (at least 1).
    Returns:
        A generator yielding the items of `iterable` in order.
    """
    q: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()

    def put(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for item in iterable:
                if not put((True, item)):
                    return
            put((True, _END))
        except BaseException as exc:
            put((False, exc))

    thread = threading.Thread(target=reader, name="xmempp-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=10)
