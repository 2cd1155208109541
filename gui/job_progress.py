"""Progress of a job in phases (no Qt): overall fraction, frames per second, time left, a summary.

A propagation is one phase; "Suggest frames" is four (loading the model, encoding frames,
propagating the references, choosing frames), each weighted by what a frame of it costs, so the
overall bar moves steadily instead of restarting at every phase.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

__all__ = ["Phase", "JobProgress", "PROPAGATION_PHASES", "SUGGESTION_PHASES", "format_duration"]


@dataclass(frozen=True)
class Phase:
    """One phase of a job.

    Attributes:
        key: the stage name the worker reports ("features").
        label: what the user reads ("encoding frames").
        weight: relative cost of one of its steps (a frame), so phases add up to an overall fraction.
        frames: its steps are frames (shown as frames/s).
    """

    key: str
    label: str
    weight: float
    frames: bool = True


PROPAGATION_PHASES = (Phase("propagation", "propagating", 1.0),)
#: Weights from the relative cost per frame on the CPU: a propagation step is a few key-encoder passes.
SUGGESTION_PHASES = (Phase("model", "loading the model", 0.0, frames=False),
                     Phase("features", "encoding frames", 1.0),
                     Phase("propagation", "propagating the references", 3.0),
                     Phase("selection", "choosing frames", 0.5, frames=False))
#: A phase whose size is unknown yet counts as this many steps.
_UNKNOWN_STEPS = 1
#: Frames per second and time left are shown once a phase has run this long (seconds).
_RATE_AFTER = 0.5


def format_duration(seconds: float) -> str:
    """"0:07", "12:30", "1:02:03"."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class JobProgress:
    """Follows one job through its phases."""

    def __init__(self, title: str, phases: Sequence[Phase], frames: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Arguments:
            title: the job's name ("Suggest frames").
            phases: its phases in order.
            frames: the shot's frame count (the expected size of frame phases).
            clock: seconds (tests pass a fake one).
        """
        self.title = title
        self.phases = tuple(phases)
        self.clock = clock
        self.started = clock()
        self._totals = {p.key: (frames if p.frames else _UNKNOWN_STEPS) for p in self.phases}
        # each phase's share of the bar is fixed up front (a phase's own size may only be known later)
        self._shares = {p.key: p.weight * max(1, frames) for p in self.phases}
        self._done = {p.key: 0 for p in self.phases}
        self.current = 0
        self._phase_started = self._last_report = self.started
        self.frames = 0  # frame steps done in all phases

    def update(self, key: str, done: int, total: int) -> None:
        """A worker's report: `done` of `total` steps of phase `key` (an unknown key is ignored)."""
        index = next((i for i, p in enumerate(self.phases) if p.key == key), None)
        if index is None:
            return
        now = self.clock()
        if index != self.current:  # the new phase began when the one before last reported
            for earlier in self.phases[:index]:
                self._done[earlier.key] = self._totals[earlier.key]
            self.current, self._phase_started = index, self._last_report
        self._last_report = now
        if total > 0:
            self._totals[key] = total
        before = self._done[key]
        self._done[key] = max(0, min(done, self._totals[key]))
        if self.phases[index].frames:
            self.frames += max(0, self._done[key] - before)

    @property
    def phase(self) -> Phase:
        """The phase running now."""
        return self.phases[self.current]

    @property
    def fraction(self) -> float:
        """Overall progress in [0, 1]."""
        total = sum(self._shares.values())
        if total <= 0:
            return 0.0
        done = sum(self._shares[p.key] * self._done[p.key] / max(1, self._totals[p.key]) for p in self.phases)
        return min(1.0, done / total)

    @property
    def elapsed(self) -> float:
        """Seconds since the job started."""
        return self.clock() - self.started

    @property
    def rate(self) -> Optional[float]:
        """Steps per second of the current phase, once it has run a moment."""
        seconds = self.clock() - self._phase_started
        done = self._done[self.phase.key]
        if seconds < _RATE_AFTER or done <= 0:
            return None
        return done / seconds

    @property
    def remaining(self) -> Optional[float]:
        """Estimated seconds left (from the overall fraction and the time so far), or None early on."""
        fraction = self.fraction
        if fraction <= 0 or self.elapsed < _RATE_AFTER:
            return None
        return self.elapsed * (1.0 - fraction) / fraction

    def text(self) -> str:
        """One line: "Suggest frames · 2/4 encoding frames 21/87 · 4.1 frames/s · 0:21 left"."""
        phase = self.phase
        parts = [self.title]
        step = f"{self.current + 1}/{len(self.phases)} " if len(self.phases) > 1 else ""
        done, total = self._done[phase.key], self._totals[phase.key]
        parts.append(f"{step}{phase.label} {done}/{total}" if phase.frames else f"{step}{phase.label}")
        rate = self.rate
        if rate is not None and phase.frames:
            parts.append(f"{rate:.1f} frames/s")
        remaining = self.remaining
        if remaining is not None:
            parts.append(f"{format_duration(remaining)} left")
        return " · ".join(parts)

    def summary(self, what: str) -> str:
        """The finished message: "<what> in 1:02 (1.4 frames/s)"."""
        elapsed = self.elapsed
        rate = f" ({self.frames / elapsed:.1f} frames/s)" if self.frames and elapsed > 0 else ""
        return f"{what} in {format_duration(elapsed)}{rate}"
