"""The threaded result writer shared by every front end.

`ResultWriter` runs the frame's output sinks (`xmempp.io.sinks`: index PNGs, soft mattes, layered
EXRs, binary mattes, Cryptomatte, foreground colour, overlays, and any extra sink a front end adds)
on background threads behind a bounded queue, so a fast producer is slowed down instead of filling
memory, and feeds the overlays to an optional preview video. Every file is written atomically and
recorded in the folder's manifest (`xmempp.io.manifest`): overwriting replaces only recorded files.
Folder policy is in `xmempp.io.output_folder`, pixel operations in `xmempp.io.pixels`, the preview
encoder in `xmempp.io.preview_video`.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from xmempp.errors import (
    ConfigError,
    InputError,
    OutputError,
    Remedy,
    RemedyKind,
    XMemppError,
)
from xmempp.inference.objects import ObjectOrder
from xmempp.io.cryptomatte import LOSSLESS_EXR, CryptomatteSink
from xmempp.io.foreground_files import ForegroundSink
from xmempp.io.frames import SceneLinearReader
from xmempp.io.masks import davis_palette
from xmempp.io.matte_files import check_compression
from xmempp.io.output_folder import RESULT_DIRS, check_output_dir
from xmempp.io.pixels import argmax_channels, overlay_image, probs_to_ids
from xmempp.io.preview_video import FinishOnExit, PreviewVideoWriter
from xmempp.io.sequences import FrameInfo
from xmempp.io.sinks import (
    AlphaMatteSink,
    BinaryMatteSink,
    FrameOutput,
    IndexMaskSink,
    LayeredExrSink,
    OutputTarget,
    OverlaySink,
    Sink,
)
from xmempp.refine.foreground import check_foreground_available
from xmempp.types import PathLike

__all__ = [
    "RESULT_DIRS",
    "PreviewVideoWriter",
    "ResultWriter",
    "WriterOptions",
    "check_output_dir",
    "overlay_image",
    "probs_to_ids",
    "sinks_for",
]


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
        matte_format: file format of the soft mattes: "png", "tiff" (8/16-bit as `alpha_bits`)
            or "exr" (half float).
        exr_layers: write `layers/matte.<n>.exr`, one channel `obj<id>.A` per object.
        compression: EXR or TIFF compression name (None = zip for EXR, lzw for TIFF).
        layers_name: file name of the layered EXRs before the frame number.
        cryptomatte: write `cryptomatte/cryptomatte.<n>.exr`, the objects as a Cryptomatte layer.
        object_names: object id -> name, for EXR layer channels (`<name>.A`, default `obj<id>.A`) and
            Cryptomatte (default `object<id>`).
        foreground: write each object's decontaminated colour `foreground/<id>/<stem>.png` and its
            `rgba/<id>/<stem>.exr` from the frame and the output matte (needs pymatting, checked here).
        premultiplied: the RGBA EXR's colour is premultiplied by alpha (else straight).
    """

    masks: bool = True
    alpha: bool = False
    alpha_bits: int = 8
    binary: bool = False
    overlay: bool = False
    preview: PathLike | None = None
    preview_fps: float = 24.0
    overlay_opacity: float = 0.5
    jpeg_quality: int = 90
    workers: int = 0
    queue_size: int = 4
    fsync: bool = True
    matte_format: str = "png"
    exr_layers: bool = False
    compression: str | None = None
    layers_name: str = "matte"
    cryptomatte: bool = False
    object_names: Mapping[int, str] = field(default_factory=dict)
    foreground: bool = False
    premultiplied: bool = True

    def __post_init__(self) -> None:
        check_compression(
            "exr" if self.exr_layers and self.matte_format == "png" else self.matte_format, self.compression
        )
        if self.alpha_bits not in (8, 16):
            raise ConfigError(f"alpha_bits must be 8 or 16, not {self.alpha_bits}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg_quality must be between 1 and 100, not {self.jpeg_quality}")
        if not 0.0 <= self.overlay_opacity <= 1.0:
            raise ConfigError(f"overlay_opacity must be between 0 and 1, not {self.overlay_opacity}")
        if self.queue_size < 1:
            raise ConfigError(f"queue_size must be at least 1, not {self.queue_size}")
        if self.foreground:
            check_foreground_available()


def sinks_for(options: WriterOptions, palette: np.ndarray | None, needs_overlay: bool) -> list[Sink]:
    """The sinks that write what `options` asks for, in the order files are written.

    Arguments:
        options: what to write.
        palette: full 256-colour palette of the index PNGs and overlays, or None for grayscale PNGs.
        needs_overlay: compute overlays (for overlay files or the preview video).
    Returns:
        The list of sinks.
    """
    sinks: list[Sink] = []
    if options.masks:
        sinks.append(IndexMaskSink(palette))
    if options.alpha:
        sinks.append(AlphaMatteSink(options.matte_format, options.alpha_bits, options.compression))
    if options.exr_layers:
        compression = options.compression if options.matte_format != "tiff" else None
        sinks.append(LayeredExrSink(options.layers_name, compression, options.object_names))
    if options.binary:
        sinks.append(BinaryMatteSink())
    if options.cryptomatte:
        lossless = options.compression if options.compression in LOSSLESS_EXR else None
        sinks.append(CryptomatteSink(options.object_names, compression=lossless))
    if options.foreground:
        sinks.append(
            ForegroundSink(options.premultiplied, options.compression if options.matte_format != "tiff" else None)
        )
    if needs_overlay:
        sinks.append(OverlaySink(palette, options.overlay_opacity, options.jpeg_quality, options.overlay))
    return sinks


_STOP = object()


class _Flush:
    """Queue marker: finish every frame queued before it, then set `done`."""

    def __init__(self) -> None:
        self.done = threading.Event()


class ResultWriter(FinishOnExit):
    """Writes per-frame results on background threads.

    Usage::

        with ResultWriter(out_dir, palette, object_ids, WriterOptions(alpha=True)) as writer:
            for index, probs in propagate(...):
                writer.submit(frames.names[index], frames[index], probs)

    Leaving the `with` block normally flushes everything and re-raises any writing error; leaving
    it with an exception (including Ctrl-C) stops writing at once — files already written are
    complete, nothing half-written remains.
    """

    def __init__(
        self,
        out_dir: PathLike,
        palette: np.ndarray | None,
        object_ids: Sequence[int],
        options: WriterOptions | None = None,
        extra_sinks: Sequence[Sink] = (),
    ) -> None:
        """Start the writer threads.

        Arguments:
            out_dir: output folder (see `check_output_dir`).
            palette: (N,3) uint8 palette for index PNGs (the input masks' palette), or None to
                write grayscale index PNGs.
            object_ids: original id of each object channel, in channel order.
            options: what to write (`WriterOptions()` when None).
            extra_sinks: further outputs run after the standard ones (e.g. Cryptomatte).
        Returns:
            None.
        """
        self.out_dir = Path(out_dir)
        self.options = options or WriterOptions()
        ids = [int(i) for i in object_ids]
        if any(not 1 <= i <= 255 for i in ids) or len(set(ids)) != len(ids):
            raise InputError(f"object ids must be distinct values in 1..255, got {ids}")
        self.object_ids = ids
        if palette is not None:
            pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
            full = davis_palette()
            full[: min(256, len(pal))] = pal[:256]
            palette = full
        self.palette = palette
        self._objects = ObjectOrder(tuple(ids))
        opts = self.options
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._target = OutputTarget(self.out_dir, opts.fsync)
        if opts.preview:
            self._target.claim(Path(opts.preview))
        self._preview = PreviewVideoWriter(opts.preview, opts.preview_fps) if opts.preview else None
        self._needs_overlay = opts.overlay or self._preview is not None
        self._needs_frame = self._needs_overlay or opts.foreground
        self.sinks: list[Sink] = sinks_for(opts, palette, self._needs_overlay) + list(extra_sinks)
        workers = opts.workers or max(2, min(8, (os.cpu_count() or 2) // 2))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xmempp-writer")
        self._max_inflight = workers + 1  # frames being encoded; with the queue this bounds memory
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=opts.queue_size)
        self._error: BaseException | None = None
        self._abort = self._target.aborted
        self._closed = False
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="xmempp-result-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producer side
    def submit(
        self,
        stem: str,
        frame_rgb: np.ndarray | None,
        probs: Any,
        info: FrameInfo | None = None,
        linear: SceneLinearReader | None = None,
    ) -> None:
        """Queue one frame's results (blocks while the queue is full).

        Arguments:
            stem: the frame's stem; files are named `<stem>.png` / `<stem>.jpg`.
            info: the frame's number and windows (names the layered EXRs, kept in EXR mattes).
            frame_rgb: the HxWx3 uint8 RGB source frame (needed for overlays and foreground colour; may be
                None otherwise).
            probs: (1+K)xHxW float probabilities at source resolution (numpy array or torch tensor),
                background first, objects in `object_ids` order.
            linear: reads the frame's scene-linear pixels at the probabilities' size, for the foreground's
                RGBA EXR (default: none, the colour of `frame_rgb`).
        Returns:
            None. Raises the first writing error (an `OutputError`) if one happened.
        """
        if self._closed:
            raise OutputError(f"the result writer for {self.out_dir} is closed; open a new one to write more frames")
        self._raise_if_failed()
        if hasattr(probs, "detach"):
            probs = probs.detach().to("cpu").float().numpy()
        probs = np.asarray(probs)
        if probs.ndim != 3 or probs.shape[0] != len(self.object_ids) + 1:
            raise InputError(f"probs must be (1+K)xHxW with K={len(self.object_ids)}, got shape {probs.shape}")
        if self._needs_frame:
            if frame_rgb is None:
                raise InputError(f"overlays and foreground colour need the source frame of {stem}")
            if tuple(frame_rgb.shape[:2]) != tuple(probs.shape[1:]):
                raise InputError(f"frame {stem} is {frame_rgb.shape[:2]} but probs are {probs.shape[1:]}")
        else:
            frame_rgb = None
        self._put((str(stem), frame_rgb, probs, info, linear if self.options.foreground else None))

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
        self._put((str(stem), frame_rgb, None, None, None))

    def flush(self) -> None:
        """Wait until every frame submitted so far has all its files on disk (the writer stays open).

        Returns:
            None. Raises the first writing error (an `OutputError`) if one happened.
        """
        if self._closed:
            raise OutputError(f"the result writer for {self.out_dir} is closed; open a new one to write more frames")
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
        except BaseException as exc:
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

    def _write_frame(
        self,
        stem: str,
        frame_rgb: np.ndarray | None,
        probs: np.ndarray | None,
        info: FrameInfo | None,
        linear: SceneLinearReader | None,
    ) -> np.ndarray | None:
        if self._abort.is_set():
            return None
        if probs is None:
            assert frame_rgb is not None  # submit_written always gives the frame
            return overlay_image(frame_rgb, self._read_ids(stem), self.palette, self.options.overlay_opacity)
        try:
            winner = argmax_channels(probs)
            frame = FrameOutput(
                stem, frame_rgb, probs, winner, self._objects.to_ids(winner), self.object_ids, info, linear=linear
            )
            for sink in self.sinks:
                if self._abort.is_set():
                    return None
                sink.write(frame, self._target)
            return frame.overlay if self._preview is not None else None
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
            raise OutputError(
                f"cannot read {path} to resume the preview video: {exc}",
                remedy=Remedy(RemedyKind.ENABLE, "overwrite", note="(start again)"),
            ) from exc

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
