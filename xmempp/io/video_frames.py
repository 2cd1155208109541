"""Video files as frames: decoded as a stream with PyAV, never extracted to disk or held whole."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import (
    Any,
)

import numpy as np

from xmempp.errors import InputError, Remedy, RemedyKind, XMemppWarning

#: File suffixes read as frames in a frame folder.
from xmempp.io.frames import FrameSource
from xmempp.io.pyav import av_reason, require_av
from xmempp.types import PathLike

__all__ = ["VIDEO_EXTENSIONS", "VideoFrames"]


#: File suffixes known to be videos (others are still tried with PyAV).
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf", ".mpg", ".mpeg"})
#: Videos up to this size are counted by a demux pass instead of trusting the header's frame count.
_DEMUX_COUNT_MAX_BYTES = 2 << 30


class VideoFrames(FrameSource):
    """Frames of a video file, decoded as a stream with PyAV.

    Random access keeps one sequential decoder: reading forward decodes onward, reading backwards
    seeks to the nearest key frame already seen (or restarts from the beginning). Iteration uses
    its own decoder, so it can run on a prefetch thread while the main thread reads single frames.
    """

    is_video = True

    def __init__(self, path: PathLike, start_frame: int | None = None) -> None:
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
            raise InputError(
                f"video {self.path} is damaged or truncated ({av_reason(exc)} while counting its "
                f"frames); re-transfer or re-encode it"
            ) from exc
        finally:
            container.close()
        if count <= 0 or self._width <= 0 or self._height <= 0:
            raise InputError(f"video {self.path} has no frames")
        first = 0 if start_frame is None else int(start_frame)
        width = max(6 if start_frame is None else 4, len(str(first + count - 1)))
        self.frame_numbers = list(range(first, first + count))
        self.names = [f"{n:0{width}d}" for n in self.frame_numbers]
        self._lock = threading.Lock()
        self._container: Any = None  # the open PyAV container (untyped library), None until first read
        self._decoder: Iterator | None = None
        self._pending = None  # a frame decoded by a seek check, not yet consumed
        self._next = 0  # index of the frame the decoder yields next
        self._keyframes: dict[int, int] = {}  # frame index -> pts of key frames seen so far
        self._last: tuple[int, np.ndarray] | None = None

    def _open(self):
        av = require_av("reading video files", InputError)
        try:
            container = av.open(str(self.path), mode="r")
        except av.error.FFmpegError as exc:
            raise InputError(
                f"cannot open video {self.path}: it is damaged or truncated, or not a video file "
                f"({av_reason(exc)} in its container); re-transfer or re-encode it"
            ) from exc
        except OSError as exc:
            raise InputError(f"cannot open video {self.path}: {exc.strerror or exc}") from exc
        if not container.streams.video:
            container.close()
            raise InputError(f"{self.path} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        # damaged data stops decoding with an error (which names the frame) instead of concealed garbage frames
        stream.codec_context.options = {"err_detect": "explode"}
        return container

    def _count_packets(self, container, stream) -> int:
        """Count frames by a demux pass (no decoding); warn about corrupt packets and a variable frame rate."""
        count, corrupt, stamps = 0, 0, []
        for packet in container.demux(stream):
            if packet.size and not packet.is_discard:
                count += 1
                corrupt += bool(packet.is_corrupt)
                if packet.pts is not None:
                    stamps.append(int(packet.pts))
        if corrupt:
            raise InputError(
                f"video {self.path} has {corrupt} corrupt packet(s); the file is damaged, re-encode or re-transfer it",
                remedy=Remedy(RemedyKind.FIX_INPUT),
            )
        steps = np.diff(np.unique(stamps)) if len(stamps) > 2 else np.array([])
        if steps.size and steps.max() > 1.5 * steps.min():
            warnings.warn(
                XMemppWarning(
                    f"video {self.path} has a variable frame rate (frame durations from "
                    f"{steps.min() * stream.time_base}"
                    f" to {steps.max() * stream.time_base} s): frames are processed in decoding order, one per decoded "
                    f"frame, and a preview video is written at the average rate; convert it to a constant rate (or an "
                    f"image sequence) to keep timings"
                ),
                stacklevel=2,
            )
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
            raise InputError(
                f"video {self.path} is damaged or truncated ({av_reason(exc)} at frame {index}); "
                f"re-transfer or re-encode it"
            ) from exc

    def _to_array(self, frame) -> np.ndarray:
        rgb = frame.to_ndarray(format="rgb24")
        if rgb.shape[:2] != self.size:
            raise InputError(
                f"video {self.path} changes resolution mid-stream ({rgb.shape[1]}x{rgb.shape[0]} "
                f"instead of {self._width}x{self._height}); re-encode it"
            )
        return rgb

    def _short(self, got: int) -> InputError:
        return InputError(
            f"video {self.path} ended after {got} frames but its header says {len(self)}; "
            f"the file is truncated or corrupt"
        )

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
            container = self._container
            stream = container.streams.video[0]
            try:
                container.seek(self._keyframes[k], stream=stream, backward=True, any_frame=False)
                decoder = self._frames(self._container, k)
                _, frame = next(decoder)
                if frame.pts == self._keyframes[k]:
                    self._decoder, self._next, self._pending = decoder, k, frame
                    return
            except Exception:
                pass
        if self._container is not None:
            self._container.close()
        self._container = self._open()
        self._decoder, self._next, self._pending = self._frames(self._container, 0), 0, None

    def _read(self, index: int) -> np.ndarray:
        with self._lock:
            if self._last is not None and self._last[0] == index:
                return self._last[1].copy()
            if (
                self._decoder is None
                or index < self._next
                or (index - self._next > 64 and any(self._next < k <= index for k in self._keyframes))
            ):
                self._restart(index)
            while True:
                if self._pending is not None:
                    i, frame, self._pending = self._next, self._pending, None
                else:
                    try:
                        assert self._decoder is not None  # set up above
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
