"""Per-token limits: the sessions each token keeps open and the track runs it has queued or running.

The ledger remembers which token opened each session and started each run; a session counts while the server
still has it (closed and expired ones drop out), a run while it is not final.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .auth import TokenSpec
from .errors import Forbidden, LimitExceeded

__all__ = ["TokenUsage"]

T = TypeVar("T")
#: Retry-After of a 429 for a token's full session limit (sessions last long) and track limit (runs are short).
SESSION_RETRY_S = 60
TRACK_RETRY_S = 10


class TokenUsage:
    """What each token uses now, and the check of its limits.

    Arguments:
        open_ids: the ids of the sessions the server has open now.
    """

    def __init__(self, open_ids: Callable[[], Iterable[str]]) -> None:
        self._open_ids = open_ids
        self._sessions: dict[str, set[str]] = collections.defaultdict(set)
        self._runs: dict[str, list[Any]] = collections.defaultdict(list)
        self._locks: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)
        self._guard = threading.Lock()

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks[name]

    def sessions(self, name: str) -> int:
        """Sessions the token `name` opened that are still open."""
        with self._guard:
            known = set(self._sessions.get(name, ()))  # noted before the server's list is read
        if not known:
            return 0
        gone = known - set(self._open_ids())
        with self._guard:
            self._sessions[name] -= gone
            return len(self._sessions[name])

    def tracks(self, name: str) -> int:
        """Track runs the token `name` started that are queued or running."""
        with self._guard:
            runs = self._runs.get(name)
            if not runs:
                return 0
            runs[:] = [run for run in runs if not run.final]
            return len(runs)

    def open_session(self, spec: TokenSpec | None, create: Callable[[str | None], T]) -> T:
        """`create(owner)` a session for the token `spec` (None: a server without tokens; `owner` is its name)
        within its session limit.

        Returns:
            What `create` returned (it must have an `id`). Raises `Forbidden` for a token that may open no session
            and `LimitExceeded` when it has its most sessions open.
        """
        if spec is None or spec.max_sessions is None:
            session = create(spec.name if spec is not None else None)
            if spec is not None:
                self._note_session(spec.name, session)
            return session
        if spec.max_sessions == 0:
            raise Forbidden(f"token {spec.name!r} may not open sessions (its max_sessions is 0 in the token file)")
        with self._lock(spec.name):
            used = self.sessions(spec.name)
            if used >= spec.max_sessions:
                raise LimitExceeded(
                    f"token {spec.name!r} has {used} sessions open, its most (max_sessions "
                    f"{spec.max_sessions}); close one (DELETE /v1/sessions/{{id}}) or retry later",
                    retry_after_s=SESSION_RETRY_S,
                )
            session = create(spec.name)
            self._note_session(spec.name, session)
            return session

    def start_track(self, spec: TokenSpec | None, start: Callable[[], T]) -> T:
        """`start()` a track run for the token `spec` within its limit on runs queued or running.

        Returns:
            The run (it must have `final`). Raises `Forbidden` for a token that may start no run and
            `LimitExceeded` when it has its most runs queued or running.
        """
        if spec is None:
            return start()
        if spec.max_tracks == 0:
            raise Forbidden(f"token {spec.name!r} may not start track runs (its max_tracks is 0 in the token file)")
        with self._lock(spec.name):
            if spec.max_tracks is not None:
                used = self.tracks(spec.name)
                if used >= spec.max_tracks:
                    raise LimitExceeded(
                        f"token {spec.name!r} has {used} track runs queued or running, its most "
                        f"(max_tracks {spec.max_tracks}); wait for one to end or cancel one",
                        retry_after_s=TRACK_RETRY_S,
                    )
            run = start()
            with self._guard:
                self._runs[spec.name].append(run)
            return run

    def adopt(self, sessions: Iterable[Any]) -> None:
        """Count sessions a restarted server reloaded against the tokens that opened them (their `owner`)."""
        for session in sessions:
            if session.owner is not None:
                self._note_session(session.owner, session)

    def _note_session(self, name: str, session: Any) -> None:
        with self._guard:
            self._sessions[name].add(session.id)
