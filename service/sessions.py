"""Sessions: one shot each, with its settings, references, track runs and results on disk.

Every model call (reference encoding, tracks, candidates) goes to the shared `Engine`'s single
worker; this module only keeps state and checks requests.
"""
from __future__ import annotations

import dataclasses
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from xmempp.errors import InputError, XMemppError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.jobs import ShotJob, plan_frames, run_job
from xmempp.inference.objects import ObjectOrder
from xmempp.inference.session import MODES, InferenceSession
from xmempp.io.atomic import atomic_write_bytes, atomic_write_image
from xmempp.io.frames import FrameSource, decode_image_file, open_frames
from xmempp.io.masks import ColorTable, davis_palette, read_mask
from xmempp.io.writers import probs_to_ids

from .engine import Engine
from .errors import LimitExceeded, NotFound, NotReady
from .media import resolve_media
from .settings import ServiceSettings
from .tracks import TrackRun

#: Track directions a client may ask for.
TRACK_DIRECTIONS = ("forward", "backward")


class ShotSession:
    """One shot open in the service.

    Attributes:
        id: session id (URL-safe random text).
        folder: its state folder (uploaded frames, references, track results).
        config, mode: inference settings and memory mechanism.
        source: the server-side path of the shot, or None for uploaded frames.
        expected: number of frames (uploaded sessions fill them in one by one).
    """

    def __init__(self, sid: str, folder: Path, config: InferenceConfig, mode: str, expected: int,
                 frames: Optional[FrameSource] = None, source: Optional[Path] = None) -> None:
        self.id, self.folder, self.config, self.mode = sid, folder, config, mode
        self.expected, self.source = expected, source
        self.frames = frames
        self.references: dict[int, np.ndarray] = {}
        self.palette: Optional[np.ndarray] = None
        self.colours = ColorTable()
        self.inference: Optional[InferenceSession] = None
        self.tracks: dict[str, TrackRun] = {}
        self.latest: dict[int, str] = {}  # frame -> id of the run that last wrote it
        self.uploaded: set[int] = set()
        self._upload_size: Optional[tuple[int, int]] = None
        self.last_used = time.monotonic()
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ state
    def touch(self) -> None:
        """Note that a client used the session (postpones its idle expiry)."""
        self.last_used = time.monotonic()

    @property
    def busy(self) -> bool:
        """True while a track run is queued or running."""
        return any(not run.final for run in self.runs())

    @property
    def size(self) -> Optional[tuple[int, int]]:
        """(height, width) of the frames, once known."""
        if self.frames is not None:
            return tuple(self.frames.size)  # type: ignore[return-value]
        return self._upload_size

    def ready_frames(self) -> FrameSource:
        """The shot's frames; raises `NotReady` while uploads are missing."""
        if self.frames is None:
            missing = self.expected - len(self.uploaded)
            raise NotReady(f"session {self.id} still waits for {missing} of {self.expected} frame uploads")
        return self.frames

    def describe(self) -> dict[str, Any]:
        """The session as JSON-ready values."""
        size = self.size
        return {"id": self.id, "frames": self.expected, "uploaded": len(self.uploaded) if self.source is None else None,
                "ready": self.frames is not None, "source": str(self.source) if self.source else None,
                "height": size[0] if size else None, "width": size[1] if size else None,
                "mode": self.mode, "config": dataclasses.asdict(self.config), "references": sorted(self.references),
                "tracks": [run.describe() for run in self.runs()]}

    def runs(self) -> list[TrackRun]:
        """The session's track runs, oldest first."""
        return list(self.tracks.values())

    def check_frame(self, frame: int) -> None:
        """Raise `InputError` for a frame index outside the shot."""
        if not 0 <= frame < self.expected:
            raise InputError(f"frame {frame} is outside the shot of {self.expected} frames (0..{self.expected - 1})")

    # ------------------------------------------------------------------ frames
    def _upload_path(self, index: int) -> Path:
        return self.folder / "frames" / f"{index:06d}.png"

    def add_upload(self, index: int, data: bytes) -> None:
        """Store an uploaded frame (any image format PIL reads), checked against the other frames' size."""
        if self.source is not None:
            raise NotReady(f"session {self.id} reads its frames from {self.source}; it takes no uploads")
        if self.frames is not None:
            raise NotReady(f"all {self.expected} frames of session {self.id} are uploaded; they cannot change "
                           "(open a new session for other frames)")
        self.check_frame(index)
        staging = self.folder / "frames" / f".{index:06d}.upload"
        atomic_write_bytes(staging, data, fsync=False)
        try:
            image = decode_image_file(staging)
        finally:
            staging.unlink(missing_ok=True)
        with self.lock:
            size = self._upload_size
            if size is not None and image.shape[:2] != size:
                raise InputError(f"frame {index} is {image.shape[1]}x{image.shape[0]}, the session's frames are "
                                 f"{size[1]}x{size[0]}; all frames of a shot must have one size")
            atomic_write_image(self._upload_path(index), image, fsync=False)
            self._upload_size = image.shape[:2]
            self.uploaded.add(index)
            if len(self.uploaded) == self.expected and self.frames is None:
                self.frames = open_frames(self.folder / "frames")

    # ------------------------------------------------------------------ references
    def decode_png_reference(self, frame: int, data: bytes) -> np.ndarray:
        """Object ids of a PNG reference mask (palette, grayscale or flat-colour RGB) for `frame`."""
        staging = self.folder / "references" / f".{frame:06d}.upload.png"
        atomic_write_bytes(staging, data, fsync=False)
        try:
            mask = read_mask(staging, self.colours, expected_size=self.size)
        finally:
            staging.unlink(missing_ok=True)
        if mask.palette is not None and self.palette is None:
            self.palette = mask.palette
        return mask.ids

    def reference_path(self, frame: int) -> Path:
        """Where the reference of `frame` is kept on disk (an index PNG)."""
        return self.folder / "references" / f"{frame:06d}.png"

    def output_palette(self) -> np.ndarray:
        """Palette of result PNGs: the references' own, else the DAVIS palette."""
        return self.palette if self.palette is not None else davis_palette()


class SessionStore:
    """All open sessions, their limits, and the operations the HTTP layer calls.

    Arguments:
        settings: limits, media roots and the state folder.
        engine: the shared network and work queue.
    """

    def __init__(self, settings: ServiceSettings, engine: Engine) -> None:
        self.settings, self.engine = settings, engine
        self.root = Path(settings.state_dir) / "sessions"
        self.root.mkdir(parents=True, exist_ok=True)
        self._sessions: dict[str, ShotSession] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def create(self, video: Optional[str], frames: Optional[int], config: Mapping[str, Any],
               mode: str) -> ShotSession:
        """Open a session on a server-side shot (`video`) or for `frames` uploaded frames.

        Returns:
            The new session. Raises `LimitExceeded`, `PathRefused`, `ConfigError` or `InputError`.
        """
        if (video is None) == (frames is None):
            raise InputError('give either "video" (a path inside a media root) or "frames" (how many frames '
                             "you will upload)")
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        settings = InferenceConfig.from_mapping(dict(config))
        self.expire_idle()
        source = resolve_media(video, self.settings.media_roots) if video is not None else None
        opened = open_frames(source) if source is not None else None
        count = len(opened) if opened is not None else int(frames)  # type: ignore[arg-type]
        try:
            if count < 1:
                raise InputError(f"a session needs at least one frame, got {count}")
            if count > self.settings.max_frames:
                raise LimitExceeded(f"the shot has {count} frames; this server takes at most "
                                    f"{self.settings.max_frames} per session")
            with self._lock:
                if len(self._sessions) >= self.settings.max_sessions:
                    raise LimitExceeded(f"{len(self._sessions)} sessions are open, the most this server allows; "
                                        "close one (DELETE /v1/sessions/ID) or wait for idle ones to expire")
                sid = secrets.token_urlsafe(9)
                folder = self.root / sid
                for sub in ("frames", "references", "tracks"):
                    (folder / sub).mkdir(parents=True)
                session = ShotSession(sid, folder, settings, mode, count, opened, source)
                self._sessions[sid] = session
        except BaseException:
            if opened is not None:
                opened.close()
            raise
        return session

    def all(self) -> list[ShotSession]:
        """The open sessions."""
        with self._lock:
            return list(self._sessions.values())

    def get(self, sid: str) -> ShotSession:
        """The session `sid` (marked as used); raises `NotFound`."""
        with self._lock:
            session = self._sessions.get(sid)
        if session is None:
            raise NotFound(f"no session {sid!r}; it was closed, expired after "
                           f"{self.settings.session_ttl_s:g} s idle, or never existed")
        session.touch()
        return session

    def close(self, sid: str) -> None:
        """Cancel the session's runs, forget it and remove its files."""
        session = self.get(sid)
        with self._lock:
            self._sessions.pop(sid, None)
        for run in session.runs():
            run.cancel.set()
        # Files go once queued work of the session is over (the worker runs tasks in order).
        self.engine.submit(lambda: self._remove(session))

    @staticmethod
    def _remove(session: ShotSession) -> None:
        if session.frames is not None:
            session.frames.close()
        shutil.rmtree(session.folder, ignore_errors=True)

    def expire_idle(self) -> list[str]:
        """Close sessions idle for longer than the settings allow; returns their ids."""
        now = time.monotonic()
        with self._lock:
            stale = [s.id for s in self._sessions.values()
                     if not s.busy and now - s.last_used > self.settings.session_ttl_s]
        for sid in stale:
            try:
                self.close(sid)
            except NotFound:
                pass
        return stale

    def shutdown(self) -> None:
        """Close every session (runs cancelled, files removed once the worker reaches them); used when the
        server stops, since sessions do not outlive the process."""
        for session in self.all():
            try:
                self.close(session.id)
            except NotFound:
                pass

    def memory_bytes(self) -> int:
        """Device bytes held by the sessions' memories (permanent references mostly)."""
        return sum(s.inference.memory_stats().device_bytes for s in self.all() if s.inference is not None)

    # ------------------------------------------------------------------ references
    def set_reference(self, session: ShotSession, frame: int, ids: np.ndarray) -> bool:
        """Add or replace the reference of `frame` (in permanent memory); True when it replaced one."""
        session.check_frame(frame)
        frames = session.ready_frames()
        ids = np.ascontiguousarray(ids, dtype=np.uint8)
        if ids.shape != tuple(frames.size):
            raise InputError(f"the mask for frame {frame} is {ids.shape[1]}x{ids.shape[0]}, the frames are "
                             f"{frames.size[1]}x{frames.size[0]}; a mask must match its frame")

        def apply() -> bool:
            if session.inference is None:
                session.inference = InferenceSession(self.engine.model, session.config, session.mode)
            replaced = frame in session.references
            if replaced:
                session.inference.replace_reference(frame, frames[frame], ids)
            else:
                session.inference.add_reference(frame, frames[frame], ids)
            session.references[frame] = ids
            self._keep_object_order(session)
            atomic_write_image(session.reference_path(frame), ids, session.output_palette(), fsync=False)
            return replaced

        return self.engine.call(apply)

    def _keep_object_order(self, session: ShotSession) -> None:
        """Rebuild the session's memory from its references when edits left objects it no longer has
        (or another order than a fresh session would have), so runs match a job opened from scratch."""
        wanted = list(ObjectOrder.from_masks(session.references).ids)
        if session.inference is None or session.inference.object_ids == wanted:
            return
        frames = session.ready_frames()
        rebuilt = InferenceSession(self.engine.model, session.config, session.mode)
        for index in sorted(session.references):
            rebuilt.add_reference(index, frames[index], session.references[index])
        session.inference = rebuilt

    def delete_reference(self, session: ShotSession, frame: int) -> None:
        """Remove the reference of `frame` and its permanent-memory elements."""
        if frame not in session.references:
            raise NotFound(f"frame {frame} of session {session.id} has no reference")

        def apply() -> None:
            session.inference.remove_reference(frame)  # type: ignore[union-attr]
            session.references.pop(frame, None)
            self._keep_object_order(session)
            session.reference_path(frame).unlink(missing_ok=True)

        self.engine.call(apply)

    # ------------------------------------------------------------------ tracks
    def start_track(self, session: ShotSession, direction: str, start: int, count: Optional[int]) -> TrackRun:
        """Queue a track run from `start`, `count` frames (default: to the shot's end) in `direction`."""
        if direction not in TRACK_DIRECTIONS:
            raise InputError(f"unknown direction {direction!r}; use one of {', '.join(TRACK_DIRECTIONS)}")
        frames = session.ready_frames()
        if not session.references:
            raise NotReady(f"session {session.id} has no reference mask; add one before tracking")
        plan = plan_frames(len(frames), sorted(session.references), direction, start, count)
        rid = secrets.token_urlsafe(6)
        run = TrackRun(rid, direction, start, count, plan.total, session.folder / "tracks" / rid)
        run.folder.mkdir(parents=True)
        session.tracks[rid] = run
        self.engine.submit(lambda: self._run_track(session, run))
        return run

    def _run_track(self, session: ShotSession, run: TrackRun) -> None:
        if run.cancel.is_set():
            run.finish("cancelled")
            return
        run.set_running()
        try:
            job = ShotJob(session.ready_frames(), dict(session.references), session.config, session.mode,
                          direction=run.direction, start=run.start, count=run.count)
            objects, palette = job.objects, session.output_palette()

            def save(result) -> None:
                ids = probs_to_ids(result.probs.numpy(), objects.ids)
                atomic_write_image(run.mask_path(result.index), ids, palette, fsync=False)
                session.latest[result.index] = run.id
                run.publish(result.index)

            report = run_job(self.engine.model, job, on_result=save, cancel=run.cancel, session=session.inference)
            run.finish("done" if report.completed else "cancelled")
        except XMemppError as exc:
            run.finish("failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - reported to the client, the worker goes on
            run.finish("failed", f"internal error: {type(exc).__name__}: {exc}")

    def track(self, session: ShotSession, rid: str) -> TrackRun:
        """The run `rid` of `session`; raises `NotFound`."""
        run = session.tracks.get(rid)
        if run is None:
            raise NotFound(f"session {session.id} has no track {rid!r}")
        return run

    def latest_mask_path(self, session: ShotSession, frame: int) -> Path:
        """The newest result of `frame`; raises `NotFound` when no run has reached it."""
        session.check_frame(frame)
        rid = session.latest.get(frame)
        if rid is None:
            raise NotFound(f"frame {frame} of session {session.id} has no result yet; track through it first")
        return session.tracks[rid].mask_path(frame)

    # ------------------------------------------------------------------ candidates
    def candidates(self, session: ShotSession, k: int, alpha: float) -> dict[str, Any]:
        """Frames to annotate next (XMem++'s selector), using the session's results when every frame has one."""
        from xmempp.candidate_selection import suggest_candidates

        frames = session.ready_frames()
        if not session.references:
            raise NotReady(f"session {session.id} has no reference mask; add one first")

        def run() -> Any:
            references = dict(session.references)
            predicted = None
            if all(i in session.latest or i in references for i in range(len(frames))):
                predicted = {i: read_mask(self.latest_mask_path(session, i)).ids
                             for i in range(len(frames)) if i not in references}
            return suggest_candidates(self.engine.model, frames, references, k, alpha=alpha,
                                      predicted_masks=predicted, config=session.config, mode=session.mode)

        result = self.engine.call(run)
        return {"candidates": [{"rank": rank, "frame": int(index), "dissimilarity": float(score)}
                               for rank, (index, score) in enumerate(zip(result.chosen, result.dissimilarities),
                                                                     start=1)],
                "references": sorted(session.references), "invalid": [int(i) for i in result.invalid],
                "reason": result.reason}
