"""Sessions: one shot each, with its settings, references, track runs and results on disk.

Every model call (reference encoding, tracks, candidates) goes to the shared `Scheduler`'s single
worker; this module only keeps state and checks requests. Each session wraps the core's session model
(`xmempp.annotation.AnnotationSession`) for its references, objects and the network's memory of them: the
service queues edits, it does not implement them. Sessions are saved in the state folder as
they change (`saved_sessions`) and a server started on a folder it was given reloads them.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import io
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from xmempp.annotation import AnnotationSession, MemoryStore
from xmempp.errors import ConfigError, InputError, Remedy, RemedyKind, XMemppError
from xmempp.inference.config import InferenceConfig
from xmempp.inference.job_spec import prepare_job
from xmempp.inference.jobs import FrameResult, ShotJob, iter_job, plan_frames
from xmempp.inference.refine_stage import RefineStage
from xmempp.inference.session import MODES, InferenceSession
from xmempp.io.atomic import atomic_write_bytes, atomic_write_image
from xmempp.io.frames import FrameSource
from xmempp.io.images import decode_image_file
from xmempp.io.masks import ColorTable, davis_palette, read_mask
from xmempp.io.matte_files import write_matte
from xmempp.io.sources import open_frames
from xmempp.io.writers import probs_to_ids
from xmempp.refine import RefineSettings

from .errors import LimitExceeded, NotFound, NotReady, TooLarge, scrub_paths, service_message
from .media import ConfinedFrames, resolve_media, shown_path
from .saved_sessions import SavedSession, load_gone, restore_files, save_gone, utc
from .scheduler import Scheduler, SchedulerClosed
from .settings import ServiceSettings
from .tracks import TrackRun

#: Track directions a client may ask for.
TRACK_DIRECTIONS = ("forward", "backward")
#: Upload formats kept as sent (Pillow's format name -> file suffix).
UPLOAD_FORMATS = {"PNG": ".png", "JPEG": ".jpg"}
#: Seconds a stopping server waits for the sessions' queued work before removing their files anyway.
SHUTDOWN_WAIT_S = 30.0
#: Closed and expired session ids remembered, to say so in a 404 (the oldest are forgotten first).
GONE_IDS_KEPT = 10_000
#: Hex digits of a session id's opening time (milliseconds since 1970) at its start.
_ID_TIME_DIGITS = 11


def new_session_id(now: float | None = None) -> str:
    """A session id: the opening time (milliseconds since 1970, 11 hex digits), so a later server can tell that an
    id it does not know was opened before it started, then 12 characters of URL-safe random text."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"{millis:0{_ID_TIME_DIGITS}x}{secrets.token_urlsafe(9)}"


def session_id_time(sid: str) -> float | None:
    """When the session `sid` was opened (seconds since 1970), or None for an id not made by `new_session_id`."""
    head = sid[:_ID_TIME_DIGITS]
    if len(sid) != _ID_TIME_DIGITS + 12 or any(c not in "0123456789abcdef" for c in head):
        return None
    return int(head, 16) / 1000


def image_header(data: bytes, what: str) -> tuple[str, int, int]:
    """(Pillow format, width, height) of an encoded image, read from its header only (no pixel is decoded)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return str(image.format), int(image.size[0]), int(image.size[1])
    except Image.DecompressionBombError as exc:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise TooLarge(
            f"the {what} declares more than {limit} pixels, larger than any image this server reads"
        ) from exc
    except Exception as exc:
        raise InputError(
            f"the {what} is not an image Pillow can read ({type(exc).__name__}); send a PNG or JPEG file"
        ) from None


class ShotSession:
    """One shot open in the service.

    Attributes:
        id: session id: its opening time (milliseconds since 1970, 11 hex digits) and URL-safe random text.
        folder: its state folder (uploaded frames, references, track results).
        config, mode: inference settings and memory mechanism.
        source: the server-side path of the shot, or None for uploaded frames.
        expected: number of frames (uploaded sessions fill them in one by one).
        annotation: the session model holding the references, objects and the network's memory of them,
            once the frames are all there (its reference masks are kept in `references/` as index PNGs).
    """

    def __init__(
        self,
        sid: str,
        folder: Path,
        config: InferenceConfig,
        mode: str,
        expected: int,
        frames: FrameSource | None = None,
        source: Path | None = None,
    ) -> None:
        self.id, self.folder, self.config, self.mode = sid, folder, config, mode
        self.expected, self.source = expected, source
        self.shown_source: str | None = None  # the source as the client may see it
        self.frames = frames
        self.palette: np.ndarray | None = None
        self.colours = ColorTable()
        self.annotation: AnnotationSession | None = None
        if frames is not None:
            self._open_annotation()
        self.tracks: dict[str, TrackRun] = {}
        self.latest: dict[int, str] = {}  # frame -> id of the run that last wrote it
        self.uploaded: set[int] = set()
        self._upload_size: tuple[int, int] | None = None
        self.last_used = time.monotonic()
        self.lock = threading.Lock()
        #: When a restarted server reloaded the session from the state folder (None: opened by this server).
        self.restored_at: float | None = None
        #: Runs of the session before that restart (their results are not kept).
        self.old_runs: set[str] = set()
        #: The name of the token that opened it (None: a server without tokens).
        self.owner: str | None = None

    # ------------------------------------------------------------------ saved form
    def saved(self) -> SavedSession:
        """The session's saved form (`session.json`)."""
        return SavedSession(
            self.id, self.mode, self.config, self.expected, self.source, self.palette, self.colours.items(), self.owner
        )

    def save(self) -> None:
        """Write the session's settings to its folder (atomically), so that a restarted server reloads it."""
        self.saved().save(self.folder)

    @classmethod
    def restore(cls, folder: Path, roots: list[Path]) -> ShotSession:
        """The session saved in `folder`, its frames reopened and its references read; raises an `XMemppError`
        (`InputError`, `PathRefused`, ...) or `OSError` saying why it cannot be restored."""
        saved = SavedSession.load(folder)
        if saved.id != folder.name:
            raise InputError(f"its session file names another session, {saved.id!r}")
        if saved.mode not in MODES:
            raise InputError(f"its mode {saved.mode!r} is unknown")
        files = restore_files(folder, saved, roots)
        session = cls(saved.id, folder, saved.config, saved.mode, saved.frames, files.frames, saved.source)
        session.shown_source = shown_path(saved.source, roots) if saved.source is not None else None
        session._set_palette(saved.palette)
        for code, _ in saved.colours:
            session.colours.add([code])
        session.uploaded, session._upload_size = files.uploaded, files.upload_size
        if files.references and session.annotation is None:
            raise InputError("it holds references but not all of its frames")
        for frame in sorted(files.references, key=lambda f: (not files.references[f].any(), f)):  # empty ones last
            session.annotation.set_reference(frame, files.references[frame])  # type: ignore[union-attr]
        session.old_runs, session.restored_at = set(files.old_runs), time.time()
        session.owner = saved.owner
        return session

    def _open_annotation(self) -> None:
        """Open the session model once the frames are there: objects follow the references, whose masks are
        kept as index PNGs in `references/` (in the references' palette once one came with a PNG)."""
        self.annotation = AnnotationSession.in_memory(
            self.frames,  # type: ignore[arg-type]
            folder=self.folder / "references",
            palette=self.palette,
            undo_limit=1,
        )

    def _set_palette(self, palette: np.ndarray | None) -> None:
        self.palette = palette
        if self.annotation is not None and isinstance(self.annotation.store, MemoryStore):
            self.annotation.store.palette = palette

    @property
    def references(self) -> dict[int, np.ndarray]:
        """Frame -> read-only mask of every reference (none before the frames are all there)."""
        return self.annotation.reference_masks() if self.annotation is not None else {}

    def ready_annotation(self) -> AnnotationSession:
        """The session model; raises `NotReady` while uploads are missing."""
        self.ready_frames()
        return self.annotation  # type: ignore[return-value]

    # ------------------------------------------------------------------ state
    def touch(self) -> None:
        """Note that a client used the session (postpones its idle expiry)."""
        self.last_used = time.monotonic()

    @property
    def busy(self) -> bool:
        """True while a track run is queued or running."""
        return any(not run.final for run in self.runs())

    @property
    def size(self) -> tuple[int, int] | None:
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
        return {
            "id": self.id,
            "frames": self.expected,
            "uploaded": len(self.uploaded) if self.source is None else None,
            "ready": self.frames is not None,
            "source": self.shown_source,
            "height": size[0] if size else None,
            "width": size[1] if size else None,
            "mode": self.mode,
            "config": dataclasses.asdict(self.config),
            "references": sorted(self.references),
            "tracks": [run.describe() for run in self.runs()],
            "restored": utc(self.restored_at) if self.restored_at is not None else None,
        }

    def release(self) -> None:
        """Close the shot's frames (the last step of a stopping server or a closed session)."""
        if self.frames is not None:
            self.frames.close()

    def runs(self) -> list[TrackRun]:
        """The session's track runs, oldest first."""
        return list(self.tracks.values())

    def check_frame(self, frame: int) -> None:
        """Raise `InputError` for a frame index outside the shot."""
        if not 0 <= frame < self.expected:
            raise InputError(f"frame {frame} is outside the shot of {self.expected} frames (0..{self.expected - 1})")

    # ------------------------------------------------------------------ frames
    def add_upload(self, index: int, data: bytes, max_pixels: int) -> None:
        """Store an uploaded frame as sent (PNG or JPEG), after checking its header (format, size against
        `max_pixels` and the other frames) and that it decodes."""
        if self.source is not None:
            raise NotReady(f"session {self.id} reads its frames from the media roots; it takes no uploads")
        if self.frames is not None:
            raise NotReady(
                f"all {self.expected} frames of session {self.id} are uploaded; they cannot change "
                "(open a new session for other frames)"
            )
        self.check_frame(index)
        if not data:
            raise InputError("the request has no body; send the frame as a PNG or JPEG file")
        kind, width, height = image_header(data, f"frame {index}")
        if kind not in UPLOAD_FORMATS:
            raise InputError(f"frame {index} is a {kind} image; send PNG or JPEG frames")
        if width * height > max_pixels:
            raise TooLarge(
                f"frame {index} is {width}x{height}, more than the {max_pixels} pixels a frame may have on this server"
            )
        with self.lock:
            size = self._upload_size
        if size is not None and (height, width) != size:
            raise InputError(
                f"frame {index} is {width}x{height}, the session's frames are {size[1]}x{size[0]}; all "
                "frames of a shot must have one size"
            )
        suffix = UPLOAD_FORMATS[kind]
        staging = self.folder / "frames" / f".{index:06d}.upload{suffix}"
        atomic_write_bytes(staging, data, fsync=False)
        try:
            decode_image_file(staging, f"frame {index}")  # the reader the session will use: it must decode
            with self.lock:
                if self._upload_size not in (None, (height, width)):
                    raise InputError(
                        f"frame {index} is {width}x{height}, another frame uploaded meanwhile is "
                        f"{self._upload_size[1]}x{self._upload_size[0]}; all frames of a shot must have "
                        "one size"
                    )
                for other in UPLOAD_FORMATS.values():
                    (self.folder / "frames" / f"{index:06d}{other}").unlink(missing_ok=True)
                os.replace(staging, self.folder / "frames" / f"{index:06d}{suffix}")
                self._upload_size = (height, width)
                self.uploaded.add(index)
                if len(self.uploaded) == self.expected and self.frames is None:
                    self.frames = open_frames(self.folder / "frames")
                    self._open_annotation()
        finally:
            staging.unlink(missing_ok=True)

    # ------------------------------------------------------------------ references
    def decode_png_reference(self, frame: int, data: bytes) -> np.ndarray:
        """Object ids of a PNG reference mask (palette, grayscale or flat-colour RGB) for `frame`; its size is
        checked from the header before any pixel is decoded."""
        kind, width, height = image_header(data, f"mask of frame {frame}")
        size = self.ready_frames().size
        if kind != "PNG":
            raise InputError(
                f"the mask of frame {frame} is a {kind} image; send an index PNG (lossy formats "
                "change object ids) or RLE JSON"
            )
        if (height, width) != tuple(size):
            raise InputError(
                f"the mask for frame {frame} is {width}x{height}, the frames are {size[1]}x{size[0]}; a "
                "mask must match its frame"
            )
        staging = self.folder / "references" / f".{frame:06d}.upload.png"
        atomic_write_bytes(staging, data, fsync=False)
        colours = len(self.colours)
        try:
            mask = read_mask(staging, self.colours, expected_size=self.size)
        finally:
            staging.unlink(missing_ok=True)
        if (mask.palette is not None and self.palette is None) or len(self.colours) != colours:
            if self.palette is None:
                self._set_palette(mask.palette)
            self.save()
        return mask.ids

    def output_palette(self) -> np.ndarray:
        """Palette of result PNGs: the references' own, else the DAVIS palette."""
        return self.palette if self.palette is not None else davis_palette()


class SessionStore:
    """All open sessions, their limits, and the operations the HTTP layer calls.

    The state folder belongs to one server at a time (a lock file). A server given a state folder keeps its
    sessions there (settings, uploaded frames, references; written atomically as they change): a later
    server on that folder reloads them, whether the previous one stopped cleanly or was killed. Their track
    results are not kept (`ShotSession.old_runs`). A server without one works in a temporary folder that
    `shutdown` removes with its sessions.

    Arguments:
        settings: limits, media roots and the state folder.
        engine: the shared network and work queue.
    """

    def __init__(self, settings: ServiceSettings, engine: Scheduler) -> None:
        self.settings, self.engine = settings, engine
        self.state_dir = Path(settings.state_dir)  # type: ignore[arg-type]
        self._lock_file = _lock_state_dir(self.state_dir)
        self.root = self.state_dir / "sessions"
        self.root.mkdir(parents=True, exist_ok=True)
        self.started_at = time.time()
        self._sessions: dict[str, ShotSession] = {}
        #: Closed and expired ids (id -> how, when), saved in the state folder for a later server's 404s.
        self._gone: collections.OrderedDict[str, tuple[str, float]] = collections.OrderedDict(load_gone(self.state_dir))
        self._gone_saving = threading.Lock()
        #: Sessions in the state folder this server could not reload (id -> why); their files stay.
        self.unrestorable: dict[str, str] = {}
        self.swept = self._restore()
        self._lock = threading.Lock()
        self._removals: list[concurrent.futures.Future] = []
        #: Called on the worker with the seconds each tracked frame took, once its results are on disk.
        self.on_frame: Callable[[float], None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def _restore(self) -> int:
        """Reload the sessions saved in the state folder; remove what cannot ever be one (a folder without a
        readable session file: a server killed while opening it, or another version's); returns how many
        entries were removed."""
        swept = 0
        for entry in sorted(self.root.iterdir()):
            if not entry.is_dir() or entry.is_symlink():
                entry.unlink(missing_ok=True)
                swept += 1
                continue
            try:
                session = ShotSession.restore(entry, self.settings.media_roots)
            except (ValueError, OSError, XMemppError) as exc:
                if not (entry / "session.json").is_file():
                    shutil.rmtree(entry, ignore_errors=True)
                    swept += 1
                    continue
                reason = (
                    service_message(exc, self.settings.media_roots, self.state_dir)
                    if isinstance(exc, XMemppError)
                    else str(exc)
                )
                self.unrestorable[entry.name] = reason
                continue
            self._sessions[session.id] = session
        return swept

    def startup_note(self) -> str:
        """One line on what this server keeps: its state folder, and the sessions it reloaded from it."""
        if self.settings.owns_state_dir:
            return (
                f"sessions end when the server stops: {self.state_dir} is a temporary folder (give --state-dir "
                "to keep them across restarts)"
            )
        note = f"sessions are kept across restarts in {self.state_dir}: {len(self._sessions)} reloaded"
        if self.unrestorable:
            note += f", {len(self.unrestorable)} could not be: " + "; ".join(
                f"{sid}: {why}" for sid, why in sorted(self.unrestorable.items())
            )
        return note

    def log_startup(self) -> None:
        """Log `startup_note` (on the service's logger)."""
        logging.getLogger("xmempp.service").info(self.startup_note())

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def create(
        self, video: str | None, frames: int | None, config: Mapping[str, Any], mode: str, owner: str | None = None
    ) -> ShotSession:
        """Open a session on a server-side shot (`video`) or for `frames` uploaded frames, for the token named
        `owner` (kept with the session, so a restarted server counts it against that token again).

        Returns:
            The new session. Raises `LimitExceeded`, `TooLarge`, `PathRefused`, `ConfigError` or `InputError`.
        """
        if (video is None) == (frames is None):
            raise InputError(
                'give either "video" (a path inside a media root) or "frames" (how many frames you will upload)'
            )
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        settings = InferenceConfig.from_mapping(dict(config))
        self.expire_idle()
        if frames is not None and frames > self.settings.max_frames:
            raise TooLarge(
                f"{frames} frames asked for; this server takes at most {self.settings.max_frames} per session"
            )
        roots = self.settings.media_roots
        source = resolve_media(video, roots) if video is not None else None
        opened: FrameSource | None = None
        try:
            if source is not None:
                opened = open_frames(source)
                opened = ConfinedFrames(opened, roots)
            count = len(opened) if opened is not None else int(frames)  # type: ignore[arg-type]
            if count < 1:
                raise InputError(f"a session needs at least one frame, got {count}")
            if count > self.settings.max_frames:
                raise TooLarge(
                    f"the shot has {count} frames; this server takes at most {self.settings.max_frames} per session"
                )
            with self._lock:
                if len(self._sessions) >= self.settings.max_sessions:
                    raise LimitExceeded(
                        f"{len(self._sessions)} sessions are open, the most this server allows; "
                        "close one (DELETE /v1/sessions/ID) or wait for idle ones to expire"
                    )
                sid = new_session_id()
                folder = self.root / sid
                for sub in ("frames", "references", "tracks"):
                    (folder / sub).mkdir(parents=True)
                session = ShotSession(sid, folder, settings, mode, count, opened, source)
                session.shown_source = shown_path(source, roots) if source is not None else None
                session.owner = owner
                session.save()
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
            raise NotFound(self._unknown(sid))
        session.touch()
        return session

    def _unknown(self, sid: str) -> str:
        """Why there is no session `sid`: closed or expired (and when), opened before this server started, or
        never opened here."""
        again = "create it again (POST /v1/sessions)"
        with self._lock:
            gone = self._gone.get(sid)
        if gone is not None:
            how, when = gone
            if how == "expired":
                return (
                    f"session {sid!r} expired at {utc(when)} after {self.settings.session_ttl_s:g} s without a "
                    f"request, and its files were removed; {again}"
                )
            return f"session {sid!r} was closed at {utc(when)} (DELETE), and its files were removed; {again}"
        why = self.unrestorable.get(sid)
        if why is not None:
            return (
                f"session {sid!r} is in the state folder but the server that restarted at "
                f"{utc(self.started_at)} could not reload it: {why}; its files stay there for a server that can, "
                f"or {again}"
            )
        restarted = (
            f"the server restarted at {utc(self.started_at)} and its state folder does not hold it (it was "
            "opened on a server with another state folder, or a temporary one, which sessions do not "
            f"outlive); {again}"
        )
        opened = session_id_time(sid)
        if opened is not None and opened < self.started_at:
            return f"session {sid!r} was opened at {utc(opened)}, before {restarted}"
        if opened is None:
            return (
                f"no session {sid!r}: this server never opened it (its ids come from POST /v1/sessions); if a "
                f"server before this one did, {restarted}"
            )
        return f"no session {sid!r}: this server (started at {utc(self.started_at)}) never opened it"

    def close(self, sid: str, how: str = "closed") -> concurrent.futures.Future:
        """Cancel the session's runs, forget it and remove its files (once its queued work is over);
        returns the removal's future. `how` ("closed" or "expired") is what a later 404 for its id says."""
        session = self.get(sid)
        with self._lock:
            self._sessions.pop(sid, None)
            self._gone[sid] = (how, time.time())
            while len(self._gone) > GONE_IDS_KEPT:
                self._gone.popitem(last=False)
        if not self.settings.owns_state_dir:
            with self._gone_saving:
                with self._lock:
                    gone = dict(self._gone)
                save_gone(self.state_dir, gone)
        for run in session.runs():
            run.cancel.set()
        removal = self._submit_or_run(lambda: self._remove(session), session)
        with self._lock:
            self._removals = [f for f in self._removals if not f.done()] + [removal]
        return removal

    def _submit_or_run(self, task: Callable[[], object], session: ShotSession) -> concurrent.futures.Future:
        """Run `task` after the session's queued work (on the worker), or at once when the worker has stopped."""
        try:
            return self.engine.submit(task, lane=session.id)
        except SchedulerClosed:
            done: concurrent.futures.Future = concurrent.futures.Future()
            done.set_result(task())
            return done

    @staticmethod
    def _remove(session: ShotSession) -> None:
        session.release()
        shutil.rmtree(session.folder, ignore_errors=True)

    def expire_idle(self) -> list[str]:
        """Close sessions idle for longer than the settings allow; returns their ids."""
        now = time.monotonic()
        with self._lock:
            stale = [
                s.id for s in self._sessions.values() if not s.busy and now - s.last_used > self.settings.session_ttl_s
            ]
        for sid in stale:
            with contextlib.suppress(NotFound):
                self.close(sid, "expired")
        return stale

    def cancel_runs(self) -> int:
        """Ask every queued or running track run to stop before its next frame (the first step of a stopping
        server); returns how many were asked."""
        runs = [run for session in self.all() for run in session.runs() if not run.final]
        for run in runs:
            run.cancel.set()
        return len(runs)

    def shutdown(self, wait_s: float = SHUTDOWN_WAIT_S) -> None:
        """Stop: runs are cancelled (each stops before its next frame) and the sessions' queued work (reference
        edits already accepted) is waited for. In a state folder the server was given, the sessions stay there
        for the next server; a temporary state folder is removed with every session in it. Closed and expired
        sessions' removals are waited for either way."""
        self.cancel_runs()
        if self.settings.owns_state_dir:
            for session in self.all():
                with contextlib.suppress(NotFound):
                    self.close(session.id)
        else:
            releases = [self._submit_or_run(session.release, session) for session in self.all()]
            with self._lock:
                self._removals += releases
        with self._lock:
            removals = list(self._removals)
        concurrent.futures.wait(removals, timeout=wait_s)
        if self.settings.owns_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        else:
            (self.state_dir / _LOCK_NAME).unlink(missing_ok=True)
        self._lock_file.close()

    def stopping_detail(self) -> str:
        """What the last line of a poll or stream of a stopping server says."""
        if self.settings.owns_state_dir:
            return (
                "the server is stopping: its track runs are cancelled and its sessions removed (its state folder "
                "is temporary); open the session again when the server is back"
            )
        return (
            "the server is stopping: its track runs are cancelled; its sessions and their references are kept "
            "and are back when it restarts (start the track again then)"
        )

    def memory_bytes(self) -> int:
        """Device bytes held by the sessions' memories (permanent references mostly)."""
        held = [s.annotation.current_memory for s in self.all() if s.annotation is not None]
        return sum(memory.memory_stats().device_bytes for memory in held if memory is not None)

    # ------------------------------------------------------------------ references
    def set_reference(self, session: ShotSession, frame: int, ids: np.ndarray) -> concurrent.futures.Future:
        """Queue `AnnotationSession.set_reference` (add or replace the reference of `frame`; the model checks
        it) and the network's memory of the references (`AnnotationSession.memory`) as an interactive task of
        the session on the worker; the future's result is True when it replaced one."""
        annotation = session.ready_annotation()

        def apply() -> bool:
            replaced = annotation.set_reference(frame, ids)
            self._memory(session)
            return replaced

        return self.engine.submit(apply, lane=session.id)

    def delete_reference(self, session: ShotSession, frame: int) -> concurrent.futures.Future:
        """Queue `AnnotationSession.delete_reference` and the memory's update on the worker."""
        annotation = session.ready_annotation()
        if not annotation.is_reference(frame):
            raise NotFound(f"frame {frame} of session {session.id} has no reference")

        def apply() -> None:
            annotation.delete_reference(frame)
            self._memory(session)

        return self.engine.submit(apply, lane=session.id)

    def _memory(
        self, session: ShotSession, snapshot: Mapping[int, tuple[int, np.ndarray]] | None = None
    ) -> InferenceSession:
        """The network's memory of the session's references (of `snapshot`, a `reference_snapshot()`, when
        given), kept by the session model: only changed references are encoded again. On the worker only."""
        return session.ready_annotation().memory(self.engine.model, session.config, session.mode, references=snapshot)

    # ------------------------------------------------------------------ tracks
    def start_track(
        self,
        session: ShotSession,
        direction: str,
        start: int,
        count: int | None,
        mattes: bool = False,
        refine: RefineSettings | None = None,
    ) -> TrackRun:
        """Queue a track run from `start`, `count` frames (default: to the shot's end) in `direction`,
        keeping each object's soft matte when `mattes` is set, refined against the frames by `refine`.
        It runs frame by frame, taking turns with other sessions' runs."""
        if direction not in TRACK_DIRECTIONS:
            raise InputError(f"unknown direction {direction!r}; use one of {', '.join(TRACK_DIRECTIONS)}")
        refine = refine or RefineSettings()
        if refine.enabled and not mattes:
            raise ConfigError(
                f"refine {refine.mode!r} acts on the soft mattes, which this run would not keep",
                remedy=Remedy(RemedyKind.ENABLE, "mattes"),
            )
        frames = session.ready_frames()
        held = sorted(f for f, mask in session.references.items() if mask.any())  # as the memory holds them
        if not held:
            raise NotReady(f"session {session.id} has no reference mask with an object; add one before tracking")
        plan = plan_frames(len(frames), held, direction, start, count)
        rid = secrets.token_urlsafe(6)
        run = TrackRun(rid, direction, start, count, plan.total, session.folder / "tracks" / rid, mattes, refine)
        run.folder.mkdir(parents=True)
        session.tracks[rid] = run
        queued = self.engine.submit_steps(
            self._track_steps(session, run), lane=session.id, steps_left=lambda: run.total - run.done + 1
        )
        run.place = lambda: self.engine.place(queued)
        return run

    def _track_steps(self, session: ShotSession, run: TrackRun):
        """The run as a stepped task: the first step opens the job, each later one makes one frame."""
        results: list[Generator[FrameResult, None, None]] = []
        stages: list[RefineStage] = []

        def step() -> bool:
            started = time.perf_counter()
            try:
                if not results:
                    if run.cancel.is_set():
                        run.finish("cancelled")
                        return True
                    run.set_running()
                    # the memory skips references without an object (`ReferenceSync`), so the job does too
                    snapshot = {
                        f: held for f, held in session.ready_annotation().reference_snapshot().items() if held[1].any()
                    }
                    job = ShotJob(
                        session.ready_frames(),
                        {f: mask for f, (_, mask) in snapshot.items()},
                        session.config,
                        session.mode,
                        direction=run.direction,
                        start=run.start,
                        count=run.count,
                    )
                    prepared = prepare_job(job)
                    run.objects = tuple(prepared.objects.ids)
                    if run.refine.enabled:
                        stages.append(RefineStage(run.refine, run.objects))
                    results.append(
                        iter_job(
                            self.engine.model,
                            prepared,
                            session=self._memory(session, snapshot),
                            cancel=run.cancel,
                            prefetch_depth=0,
                        )
                    )
                    return False
                result = next(results[0], None)
                if result is None:
                    run.finish("done" if run.done == run.total else "cancelled")
                    return True
                self._write_result(session, run, result, stages[0] if stages else None)
                session.latest[result.index] = run.id
                run.publish(result.index)
                if self.on_frame is not None:
                    self.on_frame(time.perf_counter() - started)
                return False
            except XMemppError as exc:
                run.finish("failed", service_message(exc, self.settings.media_roots, self.state_dir))
            except Exception as exc:
                run.finish(
                    "failed",
                    scrub_paths(
                        f"internal error: {type(exc).__name__}: {exc}", self.settings.media_roots, self.state_dir
                    ),
                )
            if results:
                results[0].close()
            return True

        return step

    @staticmethod
    def _write_result(session: ShotSession, run: TrackRun, result: FrameResult, stage: RefineStage | None) -> None:
        """A frame's mask, and with `run.mattes` its objects' soft mattes (refined by `stage` if any: the masks
        are then the refined mattes' argmax, as in `xmempp process`)."""
        probs = stage(result.index, result.image, result.probs) if stage is not None else result.probs
        probs = probs.numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
        if run.mattes:
            for k, oid in enumerate(run.objects, start=1):
                write_matte(run.matte_path(result.index, oid), probs[k], "png", 16, fsync=False)
        ids = probs_to_ids(probs, run.objects)
        atomic_write_image(run.mask_path(result.index), ids, session.output_palette(), fsync=False)

    def track(self, session: ShotSession, rid: str) -> TrackRun:
        """The run `rid` of `session`; raises `NotFound`."""
        run = session.tracks.get(rid)
        if run is None and rid in session.old_runs:
            raise NotFound(
                f"track {rid!r} of session {session.id} ran before the server restarted at "
                f"{utc(session.restored_at or self.started_at)}; track results are not kept across "
                f"restarts: start a track again (POST /v1/sessions/{session.id}/tracks)"
            )
        if run is None:
            raise NotFound(f"session {session.id} has no track {rid!r}")
        return run

    def latest_mask_path(self, session: ShotSession, frame: int) -> Path:
        """The newest result of `frame`; raises `NotFound` when no run has reached it."""
        session.check_frame(frame)
        rid = session.latest.get(frame)
        if rid is None:
            before = (
                f" (results from before the server restarted at {utc(session.restored_at)} are not kept)"
                if session.restored_at is not None
                else ""
            )
            raise NotFound(f"frame {frame} of session {session.id} has no result yet{before}; track through it first")
        return session.tracks[rid].mask_path(frame)

    def matte_path(self, session: ShotSession, run: TrackRun, frame: int, object_id: int) -> Path:
        """The soft matte of `object_id` on `frame` made by `run`; raises `NotFound` when the run keeps no
        mattes, has not reached the frame, or has no such object."""
        session.check_frame(frame)
        if not run.mattes:
            raise NotFound(f'track {run.id} keeps no soft mattes; start a run with "mattes": true')
        if not run.reached(frame):
            raise NotFound(f"track {run.id} has no result for frame {frame} (yet)")
        if object_id not in run.objects:
            raise NotFound(f"track {run.id} has no object {object_id}; its objects are {list(run.objects)}")
        return run.matte_path(frame, object_id)

    # ------------------------------------------------------------------ candidates
    def candidates(self, session: ShotSession, k: int, alpha: float) -> concurrent.futures.Future:
        """Frames to annotate next (XMem++'s selector), using the session's results when every frame has one.

        With results for every frame it is an interactive task; otherwise it propagates the references
        first and takes its turn like a track. The future's result is the JSON answer."""
        from xmempp.candidate_selection import suggest_candidates

        frames = session.ready_frames()
        if not any(mask.any() for mask in session.references.values()):
            raise NotReady(f"session {session.id} has no reference mask with an object; add one first")
        covered = all(i in session.latest or i in session.references for i in range(len(frames)))

        def run() -> dict[str, Any]:
            references = {f: mask.copy() for f, mask in session.references.items()}
            predicted = None
            if all(i in session.latest or i in references for i in range(len(frames))):
                predicted = {
                    i: read_mask(self.latest_mask_path(session, i)).ids
                    for i in range(len(frames))
                    if i not in references
                }
            result = suggest_candidates(
                self.engine.model,
                frames,
                references,
                k=k,
                alpha=alpha,
                predicted_masks=predicted,
                config=session.config,
                mode=session.mode,
            )
            return {
                "candidates": [
                    {"rank": rank, "frame": int(index), "dissimilarity": float(score)}
                    for rank, (index, score) in enumerate(zip(result.chosen, result.dissimilarities), start=1)
                ],
                "references": sorted(references),
                "invalid": [int(i) for i in result.invalid],
                "reason": result.reason,
            }

        return self.engine.submit(run, lane=session.id, interactive=covered)


_LOCK_NAME = ".xmempp-serve.lock"


def _lock_state_dir(state_dir: Path):
    """Hold an exclusive lock on the state folder for this process (two servers must not share one)."""
    import fcntl

    handle = open(state_dir / _LOCK_NAME, "a+")  # noqa: SIM115 - held until shutdown
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ConfigError(
            f"another xmempp server uses the state folder {state_dir}; give each server its own"
        ) from None
    return handle
