"""A track run: one job of a session, its state, and its results as they become ready.

Results are index-mask PNGs in the run's folder (under the service's state dir), with the objects'
16-bit soft mattes beside them when the run keeps mattes, so a client that dropped can fetch them again;
memory holds only the list of finished frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xmempp.refine import RefineSettings

from .scheduler import QueuePlace

#: Track states; the last three are final.
STATES = ("queued", "running", "done", "cancelled", "failed")
FINAL = ("done", "cancelled", "failed")


@dataclass
class TrackRun:
    """One track request of a session.

    Attributes:
        id: the run's id within its session.
        direction, start, count: which frames (see `xmempp.inference.jobs.plan_frames`).
        total: frames the run steps through.
        folder: where its masks are written, one `<frame>.png` each.
        mattes: the run also keeps each object's soft matte, `mattes/<object id>/<frame>.png`.
        refine: refinement of the mattes against the frames (mode off: the network's own).
        objects: the original object id of each probability channel, once the run has started.
        place: where the run stands in the scheduler's queue while it waits (set when it is queued).
    """

    id: str
    direction: str
    start: int
    count: int | None
    total: int
    folder: Path
    mattes: bool = False
    refine: RefineSettings = field(default_factory=RefineSettings)
    objects: tuple[int, ...] = ()
    status: str = "queued"
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    created: float = field(default_factory=time.time)
    _frames: list[int] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _waiters: set = field(default_factory=set)  # (event loop, asyncio.Event) of async waiters
    place: Callable[[], QueuePlace | None] | None = None

    def mask_path(self, frame: int) -> Path:
        """Where the mask of `frame` is (or will be) stored."""
        return self.folder / f"{frame:06d}.png"

    def matte_path(self, frame: int, object_id: int) -> Path:
        """Where the soft matte of `object_id` on `frame` is (or will be) stored."""
        return self.folder / "mattes" / str(object_id) / f"{frame:06d}.png"

    def reached(self, frame: int) -> bool:
        """True once the results of `frame` are on disk."""
        with self._changed:
            return frame in self._frames

    @property
    def done(self) -> int:
        """Frames finished so far."""
        with self._changed:
            return len(self._frames)

    @property
    def final(self) -> bool:
        """True once the run finished, was cancelled or failed."""
        return self.status in FINAL

    def set_running(self) -> None:
        """Mark the run as started."""
        with self._changed:
            self.status = "running"
            self._notify()

    def publish(self, frame: int) -> None:
        """Announce that the mask of `frame` is on disk."""
        with self._changed:
            self._frames.append(frame)
            self._notify()

    def finish(self, status: str, error: str | None = None) -> None:
        """Mark the run final ("done", "cancelled" or "failed")."""
        with self._changed:
            self.status, self.error = status, error
            self._notify()

    def results_after(self, after: int, limit: int) -> list[tuple[int, int]]:
        """(sequence number, frame) of up to `limit` results numbered above `after` (numbers start at 1)."""
        with self._changed:
            chosen = self._frames[max(0, after) : max(0, after) + limit]
        return [(after + 1 + i, frame) for i, frame in enumerate(chosen)]

    def wait(self, after: int, timeout: float) -> None:
        """Block until there is a result numbered above `after`, the run is final, or `timeout` passed."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._frames) > after or self.final, timeout=timeout)

    async def wait_async(self, after: int, timeout: float) -> None:
        """Like `wait`, without holding a thread: the worker thread wakes the waiting event loop."""
        loop, event = asyncio.get_running_loop(), asyncio.Event()
        waiter, deadline = (loop, event), loop.time() + timeout
        with self._changed:
            self._waiters.add(waiter)
        try:
            while True:  # every change wakes the waiters: wait again until one is above `after`
                with self._changed:
                    if len(self._frames) > after or self.final:
                        return
                    event.clear()
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except asyncio.TimeoutError:
                    return
        finally:
            with self._changed:
                self._waiters.discard(waiter)

    def _notify(self) -> None:
        """Wake every waiter (called with `_changed` held, from any thread)."""
        self._changed.notify_all()
        for loop, event in self._waiters:
            with contextlib.suppress(RuntimeError):  # a closed loop: its waiter is gone
                loop.call_soon_threadsafe(event.set)

    def describe(self) -> dict[str, Any]:
        """The run's state as JSON-ready values; while it is queued, with its place in the queue."""
        r = self.refine
        place = self.place() if self.place is not None and self.status == "queued" else None
        estimate = place.estimated_start_s if place is not None else None
        with self._changed:
            return {
                "id": self.id,
                "status": self.status,
                "direction": self.direction,
                "start": self.start,
                "count": self.count,
                "done": len(self._frames),
                "total": self.total,
                "error": self.error,
                "mattes": self.mattes,
                "refine": r.mode,
                "refine_band": r.band,
                "refine_feather": r.feather,
                "refine_detail": r.eps,
                "refine_temporal": r.temporal,
                "queue_position": place.position if place is not None else None,
                "estimated_start_s": round(estimate, 2) if estimate is not None else None,
            }

    def waiting_line(self) -> dict[str, Any] | None:
        """While the run is queued, its state with `"event": "queued"` (a stream's waiting line), else None."""
        state = self.describe()
        return {**state, "event": "queued"} if state["status"] == "queued" else None
