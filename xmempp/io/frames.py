"""Lazy frame sources: a folder of images or a video file, read one frame at a time.

`open_frames(path)` returns a `FrameSource`, a read-only sequence of HxWx3 uint8 RGB frames:

* a folder of frames (JPEG, PNG 8/16-bit, TIFF, BMP, WebP), ordered naturally by file stem so that
  `shot_a_999` comes before `shot_a_1000`; hidden files are ignored; each frame is decoded when
  asked for, 16-bit images are scaled to 8 bits;
* a video file (mp4, mov, mkv, avi, ...) decoded as a stream with PyAV: never extracted to disk and
  never held in memory as a whole. Frame stems are the 0-based frame index, zero-padded (`000000`).

Every frame source satisfies one protocol, `Frames`: `len(frames)` and `frames[i]` for
0 <= i < len (HxWx3 uint8 RGB), optionally `names`, `size`, `frame_numbers` and `fps`. Folders,
videos and workspaces (`xmempp.io.workspace.Workspace`) implement it through `FrameSource`; a
user's own sequence (a list of arrays, a lazy loader) needs only `len` and indexing. Consumers read
by index within `len` and never rely on iteration stopping at an IndexError.

`prefetch(iterable)` reads ahead on a background thread.
"""
from __future__ import annotations

import queue
import re
import struct
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import (
    Any,
    Iterable,
    Iterator,
    Optional,
    Protocol,
    overload,
    runtime_checkable,
)

import numpy as np
from PIL import Image, UnidentifiedImageError

from xmempp.errors import InputError
from xmempp.io.pyav import require_av
from xmempp.types import PathLike

__all__ = [
    "FrameSource", "FolderFrames", "VideoFrames", "open_frames", "prefetch", "natural_key",
    "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "is_hidden", "decode_image_file", "open_image", "MAX_IMAGE_PIXELS",
    "DECODE_ERRORS",
]

#: File suffixes read as frames in a frame folder.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"})
#: File suffixes known to be videos (others are still tried with PyAV).
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf", ".mpg", ".mpeg"})

#: Most pixels an image file may declare: Pillow's own decompression-bomb limit (about 13400 x 13400),
#: checked by xmempp from the header before decoding whatever Pillow's global setting is.
MAX_IMAGE_PIXELS = 2 * 89_478_485
#: What Pillow raises on a file it cannot decode: corrupt, truncated or forged data (broken TIFF tags, for one,
#: surface as TypeError, IndexError, KeyError, struct.error or arithmetic errors from inside Pillow).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError, struct.error,
                 ArithmeticError)

_DIGITS = re.compile(r"(\d+)")
#: Videos up to this size are counted by a demux pass instead of trusting the header's frame count.
_DEMUX_COUNT_MAX_BYTES = 2 << 30


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: `a_2` < `a_10`, `shot_999` < `shot_1000`.

    Arguments:
        name: a file name or stem.
    Returns:
        A tuple usable as a `sorted` key (ties broken by the exact name).
    """
    parts = _DIGITS.split(name)
    key = tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))
    return (key, name)


def is_hidden(path: Path) -> bool:
    """True for names starting with "." (dot files, macOS `._` resource forks) and `Thumbs.db`."""
    return path.name.startswith(".") or path.name.lower() in ("thumbs.db", "desktop.ini")


def _to_rgb8(image: Image.Image) -> np.ndarray:
    """Convert a decoded PIL image of any common mode to an HxWx3 uint8 RGB array."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(image).astype(np.float32)
        gray = np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(image, dtype=np.float32)
        gray = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8).copy()


def open_image(path: Path, what: str = "image", decode: bool = True) -> Image.Image:
    """Open an image file, refusing a forged or oversized header before any pixel is decoded.

    Arguments:
        path: the image file.
        what: word used in error messages ("frame", "mask", ...).
        decode: decode the pixels now (False reads the header only).
    Returns:
        The opened (and, with `decode`, fully decoded) PIL image; the caller closes it. Raises
        `InputError` when the file is missing, not an image, corrupt, truncated, or declares more
        than `MAX_IMAGE_PIXELS` pixels (the error's cause is Pillow's exception, if any).
    """
    try:
        image = Image.open(path)
    except FileNotFoundError as exc:
        raise InputError(f"{what} file not found: {path}") from exc
    except UnidentifiedImageError as exc:
        raise InputError(f"cannot read {what} {path}: not an image or corrupt; re-export it or remove it "
                         f"from the folder") from exc
    except Image.DecompressionBombError as exc:
        raise InputError(f"cannot read {what} {path}: image is too large ({exc})") from exc
    except DECODE_ERRORS as exc:
        raise InputError(f"cannot read {what} {path}: file is corrupt or truncated ({exc}); re-export it") from exc
    try:
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise InputError(f"cannot read {what} {path}: image is too large ({width}x{height} pixels, more than "
                             f"{MAX_IMAGE_PIXELS}); the file is corrupt or not a plate xmempp can process")
        if width <= 0 or height <= 0:
            raise InputError(f"cannot read {what} {path}: the image is empty ({width}x{height}); re-export it")
        if decode:
            image.load()  # decodes fully; raises on truncated or corrupt data
    except InputError:
        image.close()
        raise
    except DECODE_ERRORS as exc:
        image.close()
        raise InputError(f"cannot read {what} {path}: file is corrupt or truncated ({exc}); re-export it") from exc
    return image


def decode_image_file(path: Path, what: str = "frame") -> np.ndarray:
    """Decode one image file to HxWx3 uint8 RGB, turning every failure into an `InputError`.

    Arguments:
        path: the image file.
        what: word used in error messages ("frame", "image").
    Returns:
        The image as an HxWx3 uint8 RGB array (16-bit data scaled to 8 bits).
    """
    with open_image(path, what) as image:
        try:
            return _to_rgb8(image)
        except DECODE_ERRORS as exc:
            raise InputError(f"cannot read {what} {path}: unsupported image data ({exc}); re-export it as 8 or "
                             f"16-bit RGB") from exc


@runtime_checkable
class Frames(Protocol):
    """What the engine and the job API read frames from: a length and frames by index within it.

    Optional attributes a source may also have (read with `getattr(frames, name, None)`):
    `names` (frame stems, in frame order), `size` ((height, width)), `frame_numbers` (the shot's
    frame number of each index, e.g. 1001...) and `fps` (frame rate of a video).
    """

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> np.ndarray: ...


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
    fps: Optional[float] = None
    frame_numbers: Optional[list[int]] = None

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

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, {len(self)} frames)"


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
        files = [p for p in entries if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
        if not files:
            others = sorted({p.suffix.lower() or p.name for p in entries if p.is_file()})
            folders = sorted(p.name for p in entries if p.is_dir())
            hint = ""
            if others:
                hint = (f" (found only {', '.join(others[:5])} files; supported frames are "
                        f"{', '.join(sorted(IMAGE_EXTENSIONS))})")
            elif folders:
                hint = f" (it only has sub-folders: {', '.join(folders[:5])}; give the folder that holds the frames)"
            raise InputError(f"no frames found in {self.path}{hint}; give a folder of images or a video file")
        files.sort(key=lambda p: natural_key(p.stem))
        seen: dict[str, Path] = {}
        for p in files:
            if p.stem in seen:
                raise InputError(f"two frames share the name {p.stem!r} in {self.path}: {seen[p.stem].name} and "
                                 f"{p.name}; keep one of them")
            seen[p.stem] = p
        self.files: list[Path] = files
        self.names = [p.stem for p in files]
        numbers = [re.search(r"(\d+)$", name) for name in self.names]
        if all(numbers) and len({int(m.group(1)) for m in numbers}) == len(numbers):
            self.frame_numbers = [int(m.group(1)) for m in numbers]  # a numbered sequence: roto pairs by number
        self._size: Optional[tuple[int, int]] = None

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
            raise InputError(f"frame {path} is {rgb.shape[1]}x{rgb.shape[0]} but the first frame "
                             f"{self.files[0].name} is {w}x{h}; all frames of a shot must have the same size")
        return rgb


class VideoFrames(FrameSource):
    """Frames of a video file, decoded as a stream with PyAV.

    Random access keeps one sequential decoder: reading forward decodes onward, reading backwards
    seeks to the nearest key frame already seen (or restarts from the beginning). Iteration uses
    its own decoder, so it can run on a prefetch thread while the main thread reads single frames.
    """

    is_video = True

    def __init__(self, path: PathLike, start_frame: Optional[int] = None) -> None:
        """Open `path` and count its frames.

        Arguments:
            path: a video file.
            start_frame: number of the first frame (e.g. 1001): frames are then named by their
                number padded to at least 4 digits; default: 0-based indices padded to 6 digits.
        Returns:
            None. Raises `InputError` if it cannot be opened, has no video stream or no frames.
        """
        self.path = Path(path)
        av = require_av("reading video files", InputError)
        container = self._open()
        try:
            stream = container.streams.video[0]
            count = int(stream.frames or 0)
            try:
                small = self.path.stat().st_size <= _DEMUX_COUNT_MAX_BYTES
            except OSError:
                small = False
            if count <= 0 or small:
                # a demux pass reads packets without decoding them; it also sees packets an edit
                # list discards, which the header count includes but the decoder never outputs
                count = self._count_packets(container, stream)
            self._height = int(stream.codec_context.height)
            self._width = int(stream.codec_context.width)
            rate = stream.average_rate or stream.guessed_rate
            self.fps = float(rate) if rate else None
        except av.error.FFmpegError as exc:
            raise InputError(f"cannot read video {self.path}: {exc}; the file may be corrupt") from exc
        finally:
            container.close()
        if count <= 0 or self._width <= 0 or self._height <= 0:
            raise InputError(f"video {self.path} has no frames")
        first = 0 if start_frame is None else int(start_frame)
        width = max(6 if start_frame is None else 4, len(str(first + count - 1)))
        self.frame_numbers = list(range(first, first + count))
        self.names = [f"{n:0{width}d}" for n in self.frame_numbers]
        self._lock = threading.Lock()
        self._container = None
        self._decoder: Optional[Iterator] = None
        self._pending = None                  # a frame decoded by a seek check, not yet consumed
        self._next = 0                        # index of the frame the decoder yields next
        self._keyframes: dict[int, int] = {}  # frame index -> pts of key frames seen so far
        self._last: Optional[tuple[int, np.ndarray]] = None

    def _open(self):
        av = require_av("reading video files", InputError)
        try:
            container = av.open(str(self.path), mode="r")
        except (av.error.FFmpegError, OSError) as exc:
            raise InputError(f"cannot open video {self.path}: {exc}; is it a video file?") from exc
        if not container.streams.video:
            container.close()
            raise InputError(f"{self.path} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return container

    @staticmethod
    def _count_packets(container, stream) -> int:
        """Count frames by a demux pass (no decoding) when the container does not say."""
        count = 0
        for packet in container.demux(stream):
            if packet.size and not packet.is_discard:
                count += 1
        return count

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the video."""
        return (self._height, self._width)

    def _frames(self, container, start_index: int = 0) -> Iterator[tuple[int, Any]]:
        """Decode frames from the current container position, numbering them from `start_index`."""
        av = require_av("reading video files", InputError)
        stream = container.streams.video[0]
        index = start_index
        try:
            for frame in container.decode(stream):
                yield index, frame
                index += 1
        except av.error.FFmpegError as exc:
            raise InputError(f"cannot decode frame {index} of video {self.path}: {exc}; the file is corrupt "
                             f"or truncated") from exc

    def _to_array(self, frame) -> np.ndarray:
        rgb = frame.to_ndarray(format="rgb24")
        if rgb.shape[:2] != self.size:
            raise InputError(f"video {self.path} changes resolution mid-stream ({rgb.shape[1]}x{rgb.shape[0]} "
                             f"instead of {self._width}x{self._height}); re-encode it")
        return rgb

    def _short(self, got: int) -> InputError:
        return InputError(f"video {self.path} ended after {got} frames but its header says {len(self)}; "
                          f"the file is truncated or corrupt")

    def _restart(self, index: int) -> None:
        """Position the decoder so that it yields frame `index` or an earlier one next.

        Seeks to the last key frame seen at or before `index` (checking that the decoder lands
        exactly on it); otherwise reopens the file and decodes from frame 0.
        """
        known = [k for k in self._keyframes if 0 < k <= index]
        if known:
            if self._container is None:
                self._container = self._open()
            k = max(known)
            stream = self._container.streams.video[0]
            try:
                self._container.seek(self._keyframes[k], stream=stream, backward=True, any_frame=False)
                decoder = self._frames(self._container, k)
                _, frame = next(decoder)
                if frame.pts == self._keyframes[k]:
                    self._decoder, self._next, self._pending = decoder, k, frame
                    return
            except Exception:  # noqa: BLE001 - any seek trouble falls back to a restart from 0
                pass
        if self._container is not None:
            self._container.close()
        self._container = self._open()
        self._decoder, self._next, self._pending = self._frames(self._container, 0), 0, None

    def _read(self, index: int) -> np.ndarray:
        with self._lock:
            if self._last is not None and self._last[0] == index:
                return self._last[1].copy()
            if self._decoder is None or index < self._next:
                self._restart(index)
            elif index - self._next > 64 and any(self._next < k <= index for k in self._keyframes):
                self._restart(index)
            while True:
                if self._pending is not None:
                    i, frame, self._pending = self._next, self._pending, None
                else:
                    try:
                        i, frame = next(self._decoder)
                    except StopIteration:
                        self._decoder = None
                        raise self._short(self._next) from None
                if frame.key_frame and frame.pts is not None:
                    self._keyframes.setdefault(i, frame.pts)
                self._next = i + 1
                if i == index:
                    rgb = self._to_array(frame)
                    self._last = (index, rgb)
                    return rgb.copy()

    def __iter__(self) -> Iterator[np.ndarray]:
        """Decode every frame in order with a decoder of its own."""
        container = self._open()
        try:
            n = len(self)
            got = 0
            for i, frame in self._frames(container, 0):
                if i >= n:
                    break
                got = i + 1
                yield self._to_array(frame)
            if got < n:
                raise self._short(got)
        finally:
            container.close()

    def close(self) -> None:
        """Close the random-access decoder."""
        with self._lock:
            if self._container is not None:
                self._container.close()
            self._container, self._decoder, self._pending, self._last = None, None, None, None
            self._next = 0


def open_frames(path: PathLike, *, frames: Optional[tuple[int, int]] = None, colour: Optional[Any] = None,
                layer: Optional[str] = None, start_frame: Optional[int] = None) -> FrameSource:
    """Open a folder of frames, a frame pattern or a video file as a lazily decoded `FrameSource`.

    Arguments:
        path: a folder of images (JPEG, PNG 8/16-bit, TIFF, ...), a folder holding one EXR/DPX
            sequence, a pattern (`plate.%04d.exr`, `plate.####.exr`, `plate.@@@@.exr`), or a video.
        frames: (first, last) frame numbers to keep (sequences only).
        colour: `xmempp.io.colour.ColourOptions` for plates (sequences only).
        layer: EXR layer or part to read.
        start_frame: number of a video's first frame.
    Returns:
        A `FolderFrames`, `PlateFrames` (see `xmempp.io.plates`) or `VideoFrames`. Raises
        `InputError` when the path is missing, empty, a single image, or not readable.
    """
    from xmempp.io import plates  # noqa: PLC0415 - plates builds on this module
    from xmempp.io.sequences import is_pattern  # noqa: PLC0415

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
        raise InputError(f"{p} is a single image; give the folder that holds all the frames of the shot, or a "
                         f"pattern such as {p.parent / 'plate.%04d.exr'}")
    if sequence_options:
        raise InputError(f"{p} is a video: --frames, --colorspace and --layer apply to image sequences; use "
                         f"--start-frame to number its frames")
    return VideoFrames(p, start_frame)


_END = object()


def prefetch(iterable: Iterable[Any], depth: int = 4) -> Iterator[Any]:
    """Iterate `iterable` on a background thread, keeping up to `depth` items ready.

    Errors raised by the reader are re-raised in the consumer at the point where the failing item
    would have arrived. Leaving the loop early stops the reader.

    Arguments:
        iterable: anything iterable (e.g. a `FrameSource`); it is consumed on another thread.
        depth: how many items to read ahead (at least 1).
    Returns:
        A generator yielding the items of `iterable` in order.
    """
    q: "queue.Queue[tuple[bool, Any]]" = queue.Queue(maxsize=max(1, int(depth)))
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
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
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
