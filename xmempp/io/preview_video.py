"""Preview videos: RGB frames encoded to H.264 (PyAV), written atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from xmempp.errors import OutputError
from xmempp.io.atomic import TEMP_PREFIX, default_file_mode
from xmempp.io.pyav import require_av
from xmempp.types import PathLike

__all__ = ["FinishOnExit", "PreviewVideoWriter"]


class FinishOnExit:
    """Context manager protocol for writers: `close()` on success, `abort()` on any exception
    (subclasses define both)."""

    def close(self) -> None:
        """Finish the output (subclasses implement)."""
        raise NotImplementedError

    def abort(self) -> None:
        """Discard the partial output (subclasses implement)."""
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *rest: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class PreviewVideoWriter(FinishOnExit):
    """Writes RGB frames to a video file (H.264 when available), atomically.

    Frames go to a hidden temporary file in the destination folder that replaces the final name on
    `close()`; `abort()` (or an error) removes it.
    """

    def __init__(self, path: PathLike, fps: float = 24.0, crf: int = 20) -> None:
        """Prepare the writer (the file is opened on the first frame).

        Arguments:
            path: destination (.mp4, .mov, .mkv or .avi).
            fps: frame rate.
            crf: H.264 quality (lower is better).
        Returns:
            None.
        """
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 24.0
        self.crf = int(crf)
        self._container: Any | None = None  # av.container.OutputContainer once started
        self._stream: Any | None = None  # its video stream
        self._tmp: Path | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def _start(self, height: int, width: int) -> None:
        av = require_av("writing a preview video", OutputError)
        from fractions import Fraction

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                dir=self.path.parent, prefix=TEMP_PREFIX + self.path.name + ".", suffix=self.path.suffix or ".mp4"
            )
            os.close(fd)
        except OSError as exc:
            raise OutputError(f"cannot write preview video {self.path}: {exc.strerror or exc}") from exc
        self._tmp = Path(tmp)
        try:
            container = av.open(str(self._tmp), mode="w")
            self._container = container
            codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
            rate = Fraction(self.fps).limit_denominator(1001)
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height = width + width % 2, height + height % 2
            stream.pix_fmt = "yuv420p"
            if codec == "libx264":
                stream.options = {"crf": str(self.crf), "preset": "veryfast"}
            self._stream = stream
        except Exception as exc:
            self.abort()
            raise OutputError(f"cannot write preview video {self.path}: {exc}") from exc
        self._size = (height, width)

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one HxWx3 uint8 RGB frame (odd sizes are padded by one pixel for the encoder)."""
        av = require_av("writing a preview video", OutputError)
        h, w = frame_rgb.shape[:2]
        if self._container is None:
            self._start(h, w)
        if (h, w) != self._size:
            raise OutputError(f"preview video {self.path}: frame size {w}x{h} differs from the first frame's")
        if h % 2 or w % 2:
            frame_rgb = cv2.copyMakeBorder(frame_rgb, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        try:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24")
            assert self._container is not None and self._stream is not None  # set by _start
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except Exception as exc:
            self.abort()
            raise OutputError(f"cannot write preview video {self.path}: {exc}") from exc
        self.frames += 1

    def close(self) -> None:
        """Finish the video and move it into place (nothing is written if no frame came)."""
        if self._container is None:
            return
        assert self._stream is not None and self._tmp is not None  # set together with the container
        tmp = self._tmp
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
            with contextlib.suppress(OSError):
                os.chmod(tmp, default_file_mode())
            os.replace(tmp, self.path)
            self._tmp = None
        except Exception as exc:
            self.abort()
            raise OutputError(f"cannot write preview video {self.path}: {exc}") from exc

    def abort(self) -> None:
        """Drop the video being written, leaving nothing behind."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.unlink()
            self._tmp = None
