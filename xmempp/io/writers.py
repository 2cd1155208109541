"""Result writers shared by the CLI and the GUI.

Output layout (see DESIGN.md), `<stem>` being the frame's stem and `<id>` an original object id:

    OUT/masks/<stem>.png          index PNG at source resolution, original ids and palette
    OUT/alpha/<id>/<stem>.png     soft matte: the object's probability, 8- or 16-bit grayscale
    OUT/binary/<id>/<stem>.png    0/255: pixels where the object wins the argmax
    OUT/overlay/<stem>.jpg        preview: the frame blended with the object colours
    PREVIEW.mp4                   the overlays as a video (optional)

`ResultWriter` does the encoding and writing on background threads behind a bounded queue, so a
fast producer is slowed down instead of filling memory. Every file is written atomically.
"""
from __future__ import annotations

import contextlib
import os
import queue
import tempfile
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import cv2
import numpy as np
from PIL import Image

from xmempp.io.atomic import TEMP_PREFIX, atomic_write_bytes, default_file_mode, encode_jpeg, encode_png
from xmempp.errors import OutputError, XMemppError
from xmempp.io.masks import davis_palette

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "RESULT_DIRS", "WriterOptions", "ResultWriter", "PreviewVideoWriter", "check_output_dir", "overlay_image",
    "probs_to_ids",
]

#: Sub-folders of an output folder that hold results.
RESULT_DIRS = ("masks", "alpha", "binary", "overlay")


@dataclass
class WriterOptions:
    """What `ResultWriter` writes.

    Attributes:
        masks: write `masks/<stem>.png` index PNGs.
        alpha: write `alpha/<id>/<stem>.png` soft mattes.
        alpha_bits: 8 or 16 bits per matte pixel.
        binary: write `binary/<id>/<stem>.png` 0/255 mattes.
        overlay: write `overlay/<stem>.jpg` previews.
        preview: path of an overlay video (mp4/mov/mkv), or None.
        preview_fps: frame rate of the preview video.
        overlay_opacity: weight of the object colour in overlays (0..1).
        jpeg_quality: JPEG quality of overlays.
        workers: encoding threads (0 = automatic: half the CPU cores, 2 to 8).
        queue_size: frames that may wait to be written before `submit` blocks.
        fsync: flush each file to disk before renaming it into place.
    """

    masks: bool = True
    alpha: bool = False
    alpha_bits: int = 8
    binary: bool = False
    overlay: bool = False
    preview: Optional[PathLike] = None
    preview_fps: float = 24.0
    overlay_opacity: float = 0.5
    jpeg_quality: int = 90
    workers: int = 0
    queue_size: int = 4
    fsync: bool = True

    def __post_init__(self) -> None:
        if self.alpha_bits not in (8, 16):
            raise ValueError(f"alpha_bits must be 8 or 16, not {self.alpha_bits}")
        if not 0.0 <= self.overlay_opacity <= 1.0:
            raise ValueError("overlay_opacity must be between 0 and 1")
        if self.queue_size < 1:
            raise ValueError("queue_size must be at least 1")


def _has_results(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    for _root, _dirs, files in os.walk(folder):
        if any(not f.startswith(".") for f in files):
            return True
    return False


def check_output_dir(out_dir: PathLike, overwrite: bool = False, preview: Optional[PathLike] = None,
                     create: bool = True) -> Path:
    """Make sure results can be written to `out_dir` without destroying earlier ones by accident.

    Arguments:
        out_dir: the output folder.
        overwrite: allow replacing existing results; files are replaced one by one as new ones are
            written, nothing is deleted (unrelated files stay untouched).
        preview: optional preview-video path, refused too if it exists and `overwrite` is False.
        create: create the folder now; with False only check that it could be created (so that a
            run failing before its first frame leaves no empty folder behind).
    Returns:
        The output folder as a Path. Raises `OutputError` when it already holds results (any of
        masks/ alpha/ binary/ overlay/ non-empty) and `overwrite` is False, or is not writable.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {out} is a file, not a folder; choose a folder for the results")
    if not overwrite:
        taken = [f"{name}/" for name in RESULT_DIRS if _has_results(out / name)]
        if taken:
            raise OutputError(f"output folder {out} already holds results ({', '.join(taken)}); pass --overwrite "
                              f"to replace them, or choose another folder")
        if preview is not None and Path(preview).exists():
            raise OutputError(f"preview video {preview} already exists; pass --overwrite to replace it, or "
                              f"choose another name")
    if not create:
        existing = next((p for p in (out, *out.absolute().parents) if p.exists()), None)
        if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise OutputError(f"cannot create output folder {out}: {existing} is not a writable folder; check its "
                              f"permissions or choose another folder")
        return out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror or exc}") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {out} is not writable; check its permissions or choose another folder")
    return out


def _argmax0(probs: np.ndarray) -> np.ndarray:
    """Index of the largest channel per pixel (first one on ties, like `np.argmax`), as uint8.

    Walks the channels with whole-image operations, which is several times faster than
    `np.argmax(axis=0)` on a channel-first array.
    """
    best = np.array(probs[0], dtype=np.float32, copy=True)
    winner = np.zeros(best.shape, dtype=np.uint8)
    for k in range(1, probs.shape[0]):
        channel = probs[k]
        better = channel > best
        winner[better] = k
        np.maximum(best, channel, out=best)
    return winner


def probs_to_ids(probs: np.ndarray, object_ids: Sequence[int]) -> np.ndarray:
    """Per-pixel argmax of (1+K)xHxW probabilities, as original object ids.

    Arguments:
        probs: background first, then the objects in `object_ids` order.
        object_ids: original id of each object channel.
    Returns:
        HxW uint8 array of original ids (0 = background).
    """
    lut = np.zeros(len(object_ids) + 1, dtype=np.uint8)
    lut[1:] = np.asarray(object_ids, dtype=np.uint8)
    return lut[_argmax0(np.asarray(probs))]


def overlay_image(frame_rgb: np.ndarray, ids: np.ndarray, palette: Optional[np.ndarray] = None,
                  opacity: float = 0.5) -> np.ndarray:
    """Blend object colours over a frame.

    Arguments:
        frame_rgb: HxWx3 uint8 RGB frame.
        ids: HxW uint8 object ids (0 = background, left untouched).
        palette: (256,3) uint8 colours per id (DAVIS palette when None).
        opacity: weight of the colour in object pixels.
    Returns:
        HxWx3 uint8 RGB image.
    """
    palette = davis_palette() if palette is None else np.asarray(palette, dtype=np.uint8)
    lut = np.zeros((256, 1, 3), dtype=np.uint8)
    lut[: len(palette), 0] = palette[:256]
    ids = np.ascontiguousarray(ids, dtype=np.uint8)
    colours = cv2.LUT(cv2.merge([ids, ids, ids]), lut)
    frame_rgb = np.ascontiguousarray(frame_rgb)
    out = cv2.addWeighted(frame_rgb, 1.0 - opacity, colours, opacity, 0.0)
    background = (ids == 0).view(np.uint8)
    cv2.copyTo(frame_rgb, background, out)
    return out


def _av():
    try:
        import av  # noqa: PLC0415 - optional dependency, needed only for preview videos
    except ImportError as exc:  # pragma: no cover
        raise OutputError("writing a preview video needs PyAV: pip install av") from exc
    return av


class _FinishOnExit:
    """Context manager protocol for writers: `close()` on success, `abort()` on any exception
    (subclasses define both)."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *rest: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class PreviewVideoWriter(_FinishOnExit):
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
        self._container = None
        self._stream = None
        self._tmp: Optional[Path] = None
        self._size: Optional[tuple[int, int]] = None
        self.frames = 0

    def _start(self, height: int, width: int) -> None:
        av = _av()
        from fractions import Fraction  # noqa: PLC0415

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=TEMP_PREFIX + self.path.name + ".",
                                       suffix=self.path.suffix or ".mp4")
            os.close(fd)
        except OSError as exc:
            raise OutputError(f"cannot write preview video {self.path}: {exc.strerror or exc}") from exc
        self._tmp = Path(tmp)
        try:
            self._container = av.open(str(self._tmp), mode="w")
            codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
            rate = Fraction(self.fps).limit_denominator(1001)
            stream = self._container.add_stream(codec, rate=rate)
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
        av = _av()
        h, w = frame_rgb.shape[:2]
        if self._container is None:
            self._start(h, w)
        if (h, w) != self._size:
            raise OutputError(f"preview video {self.path}: frame size {w}x{h} differs from the first frame's")
        if h % 2 or w % 2:
            frame_rgb = cv2.copyMakeBorder(frame_rgb, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        try:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24")
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
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
            with contextlib.suppress(OSError):
                os.chmod(self._tmp, default_file_mode())
            os.replace(self._tmp, self.path)
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



_STOP = object()


class _Flush:
    """Queue marker: finish every frame queued before it, then set `done`."""

    def __init__(self) -> None:
        self.done = threading.Event()


class ResultWriter(_FinishOnExit):
    """Writes per-frame results on background threads.

    Usage::

        with ResultWriter(out_dir, palette, object_ids, WriterOptions(alpha=True)) as writer:
            for index, probs in propagate(...):
                writer.submit(frames.names[index], frames[index], probs)

    Leaving the `with` block normally flushes everything and re-raises any writing error; leaving
    it with an exception (including Ctrl-C) stops writing at once — files already written are
    complete, nothing half-written remains.
    """

    def __init__(self, out_dir: PathLike, palette: Optional[np.ndarray], object_ids: Sequence[int],
                 options: Optional[WriterOptions] = None) -> None:
        """Start the writer threads.

        Arguments:
            out_dir: output folder (see `check_output_dir`).
            palette: (N,3) uint8 palette for index PNGs (the input masks' palette), or None to
                write grayscale index PNGs.
            object_ids: original id of each object channel, in channel order.
            options: what to write (`WriterOptions()` when None).
        Returns:
            None.
        """
        self.out_dir = Path(out_dir)
        self.options = options or WriterOptions()
        ids = [int(i) for i in object_ids]
        if any(not 1 <= i <= 255 for i in ids) or len(set(ids)) != len(ids):
            raise ValueError(f"object ids must be distinct values in 1..255, got {ids}")
        self.object_ids = ids
        if palette is not None:
            pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
            full = davis_palette()
            full[: min(256, len(pal))] = pal[:256]
            palette = full
        self.palette = palette
        self._lut = np.zeros(len(ids) + 1, dtype=np.uint8)
        self._lut[1:] = ids
        opts = self.options
        self._preview = PreviewVideoWriter(opts.preview, opts.preview_fps) if opts.preview else None
        self._needs_overlay = opts.overlay or self._preview is not None
        workers = opts.workers or max(2, min(8, (os.cpu_count() or 2) // 2))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xmempp-writer")
        self._max_inflight = workers + 1  # frames being encoded; with the queue this bounds memory
        self._queue: "queue.Queue[Any]" = queue.Queue(maxsize=opts.queue_size)
        self._error: Optional[BaseException] = None
        self._abort = threading.Event()
        self._closed = False
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="xmempp-result-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producer side
    def submit(self, stem: str, frame_rgb: Optional[np.ndarray], probs: Any) -> None:
        """Queue one frame's results (blocks while the queue is full).

        Arguments:
            stem: the frame's stem; files are named `<stem>.png` / `<stem>.jpg`.
            frame_rgb: the HxWx3 uint8 RGB source frame (needed for overlays; may be None otherwise).
            probs: (1+K)xHxW float probabilities at source resolution (numpy array or torch tensor),
                background first, objects in `object_ids` order.
        Returns:
            None. Raises the first writing error (an `OutputError`) if one happened.
        """
        if self._closed:
            raise RuntimeError("ResultWriter is closed")
        self._raise_if_failed()
        if hasattr(probs, "detach"):
            probs = probs.detach().to("cpu").float().numpy()
        probs = np.asarray(probs)
        if probs.ndim != 3 or probs.shape[0] != len(self.object_ids) + 1:
            raise ValueError(f"probs must be (1+K)xHxW with K={len(self.object_ids)}, got shape {probs.shape}")
        if self._needs_overlay:
            if frame_rgb is None:
                raise ValueError("overlays need the source frame")
            if tuple(frame_rgb.shape[:2]) != tuple(probs.shape[1:]):
                raise ValueError(f"frame {stem} is {frame_rgb.shape[:2]} but probs are {probs.shape[1:]}")
        else:
            frame_rgb = None
        self._put((str(stem), frame_rgb, probs))

    def submit_written(self, stem: str, frame_rgb: np.ndarray) -> None:
        """Queue a frame whose files an earlier (interrupted) run wrote: only its overlay goes to the
        preview video, made from `masks/<stem>.png` (nothing is written when there is no preview).

        Arguments:
            stem: the frame's stem.
            frame_rgb: the HxWx3 uint8 RGB source frame.
        Returns:
            None. Raises `OutputError` when the index PNG is missing or unreadable.
        """
        if self._preview is None:
            return
        if not self.options.masks:
            raise OutputError("resuming a preview video needs the index PNGs (masks) of the frames already done")
        self._put((str(stem), frame_rgb, None))

    def flush(self) -> None:
        """Wait until every frame submitted so far has all its files on disk (the writer stays open).

        Returns:
            None. Raises the first writing error (an `OutputError`) if one happened.
        """
        if self._closed:
            raise RuntimeError("ResultWriter is closed")
        marker = _Flush()
        self._put(marker)
        while not marker.done.wait(0.1):
            self._raise_if_failed()
        self._raise_if_failed()

    def _put(self, item: Any) -> None:
        while True:
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    # ------------------------------------------------------------------ writer side
    def _run(self) -> None:
        inflight: deque[Future] = deque()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP or self._abort.is_set():
                    break
                if isinstance(item, _Flush):
                    while inflight:
                        self._finish(inflight.popleft())
                    item.done.set()
                    continue
                inflight.append(self._pool.submit(self._write_frame, *item))
                while inflight and (len(inflight) >= self._max_inflight or inflight[0].done()):
                    self._finish(inflight.popleft())
            while inflight and not self._abort.is_set():
                self._finish(inflight.popleft())
        except BaseException as exc:  # noqa: BLE001 - handed to the producer
            if isinstance(exc, XMemppError):
                self._error = exc
            else:
                self._error = OutputError(f"writing results to {self.out_dir} failed: {exc}")
                self._error.__cause__ = exc
            self._abort.set()
        finally:
            for fut in inflight:
                fut.cancel()
            if self._abort.is_set():
                self._drain()

    def _drain(self) -> None:
        """Empty the queue so a blocked producer can notice the failure."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()

    def _finish(self, fut: Future) -> None:
        overlay = fut.result()
        if self._preview is not None and overlay is not None:
            self._preview.write(overlay)
        self.written += 1

    def _write(self, path: Path, data: bytes) -> None:
        atomic_write_bytes(path, data, fsync=self.options.fsync)

    def _write_frame(self, stem: str, frame_rgb: Optional[np.ndarray], probs: np.ndarray) -> Optional[np.ndarray]:
        if self._abort.is_set():
            return None
        opts = self.options
        if probs is None:
            return overlay_image(frame_rgb, self._read_ids(stem), self.palette, opts.overlay_opacity)
        try:
            winner = _argmax0(probs)
            ids = self._lut[winner]
            if opts.masks:
                self._write(self.out_dir / "masks" / f"{stem}.png", encode_png(ids, palette=self.palette))
            if opts.alpha:
                scale = 255.0 if opts.alpha_bits == 8 else 65535.0
                dtype = np.uint8 if opts.alpha_bits == 8 else np.uint16
                for k, oid in enumerate(self.object_ids, start=1):
                    if self._abort.is_set():
                        return None
                    matte = np.clip(np.rint(probs[k].astype(np.float32) * scale), 0, scale).astype(dtype)
                    self._write(self.out_dir / "alpha" / str(oid) / f"{stem}.png", encode_png(matte))
            if opts.binary:
                for k, oid in enumerate(self.object_ids, start=1):
                    if self._abort.is_set():
                        return None
                    binary = np.where(winner == k, np.uint8(255), np.uint8(0))
                    self._write(self.out_dir / "binary" / str(oid) / f"{stem}.png", encode_png(binary))
            if self._needs_overlay and frame_rgb is not None:
                over = overlay_image(frame_rgb, ids, self.palette, opts.overlay_opacity)
                if opts.overlay:
                    self._write(self.out_dir / "overlay" / f"{stem}.jpg", encode_jpeg(over, opts.jpeg_quality))
                return over if self._preview is not None else None
            return None
        except XMemppError:
            raise
        except Exception as exc:
            raise OutputError(f"cannot write the results of frame {stem} to {self.out_dir}: {exc}") from exc

    def _read_ids(self, stem: str) -> np.ndarray:
        path = self.out_dir / "masks" / f"{stem}.png"
        try:
            with Image.open(path) as image:
                return np.asarray(image, dtype=np.uint8)
        except OSError as exc:
            raise OutputError(f"cannot read {path} to resume the preview video: {exc}; start again with "
                              f"--overwrite") from exc

    # ------------------------------------------------------------------ shutdown
    def close(self) -> None:
        """Write everything still queued, finish the preview video, and stop the threads.

        Returns:
            None. Re-raises the first writing error (an `OutputError`).
        """
        if self._closed:
            self._raise_if_failed()
            return
        self._closed = True
        with contextlib.suppress(BaseException):
            if self._error is None:
                self._put(_STOP)
        if self._error is not None:
            self._drain()
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_STOP)
        self._thread.join()
        self._pool.shutdown(wait=True)
        if self._preview is not None:
            if self._error is None:
                try:
                    self._preview.close()
                except XMemppError as exc:
                    self._error = exc
            else:
                self._preview.abort()
        self._raise_if_failed()

    def abort(self) -> None:
        """Stop at once, dropping queued frames (files already written stay, each complete)."""
        self._abort.set()
        self._closed = True
        self._drain()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_STOP)
        self._thread.join()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._preview is not None:
            self._preview.abort()

