"""Progress of a job in phases (no Qt): overall fraction, frames per second, time left, a summary.

A propagation is one phase; "Suggest frames" is four (loading the model, encoding frames,
propagating the references, choosing frames), each weighted by what a frame of it costs, so the
overall bar moves steadily instead of restarting at every phase.

Figures (frames/s, time left, the finished "N frames in m:ss") count the job's own work only: the
clock starts at the first frame reported (so loading the model is not counted), stands still while
the job is paused, and steps that cost nothing (a propagation's reference frames, handed back as
they are) are not counted as frames.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["PROPAGATION_PHASES", "SUGGESTION_PHASES", "JobProgress", "Phase", "format_duration"]


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
SUGGESTION_PHASES = (
    Phase("model", "loading the model", 0.0, frames=False),
    Phase("features", "encoding frames", 1.0),
    Phase("propagation", "propagating the references", 3.0),
    Phase("selection", "choosing frames", 0.5, frames=False),
)
#: A phase whose size is unknown yet counts as this many steps.
_UNKNOWN_STEPS = 1
#: Frames per second and time left are shown once a phase has run this long (seconds).
_RATE_AFTER = 0.5


def format_duration(seconds: float) -> str:
    """ "0:07", "12:30", "1:02:03"."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class JobProgress:
    """Follows one job through its phases."""

    def __init__(
        self,
        title: str,
        phases: Sequence[Phase],
        frames: int,
        clock: Callable[[], float] = time.monotonic,
        free_steps: int = 0,
    ) -> None:
        """Arguments:
        title: the job's name ("Suggest frames").
        phases: its phases in order.
        frames: the shot's frame count (the expected size of frame phases).
        clock: seconds (tests pass a fake one).
        free_steps: frame steps that cost nothing (a propagation's reference frames): not counted.
        """
        self.title = title
        self.phases = tuple(phases)
        self.clock = clock
        self.free_steps = max(0, int(free_steps))
        self.started = clock()
        self._paused_total = 0.0
        self._paused_at: float | None = None
        self._work_started: float | None = None  # active time of the first frame reported
        self._work_fraction = 0.0  # overall fraction at that moment
        self._work_frames = 0  # frame steps reported by then (not timed)
        self._phase_base = 0  # steps of the current phase done before its rate's clock
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
        now = self._active()
        if index != self.current:  # the new phase began when the one before last reported
            for earlier in self.phases[:index]:
                self._done[earlier.key] = self._totals[earlier.key]
            self.current, self._phase_started, self._phase_base = index, self._last_report, 0
        self._last_report = now
        if total > 0:
            self._totals[key] = total
        before = self._done[key]
        self._done[key] = max(0, min(done, self._totals[key]))
        if self.phases[index].frames:
            self.frames += max(0, self._done[key] - before)
            if self._work_started is None and self.frames:
                self._work_started, self._work_fraction, self._work_frames = now, self.fraction, self.frames
                self._phase_started, self._phase_base = now, self._done[key]

    def pause(self) -> None:
        """The job is paused: its clock stands still until `resume`."""
        if self._paused_at is None:
            self._paused_at = self.clock()

    def resume(self) -> None:
        """The job runs again after a `pause`."""
        if self._paused_at is not None:
            self._paused_total += self.clock() - self._paused_at
            self._paused_at = None

    @property
    def paused(self) -> bool:
        """True between `pause` and `resume`."""
        return self._paused_at is not None

    def _active(self) -> float:
        """The clock less the time spent paused."""
        now = self._paused_at if self._paused_at is not None else self.clock()
        return now - self._paused_total

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
        """Seconds the job has worked: since its first frame was reported, pauses left out (0 before it)."""
        if self._work_started is None:
            return 0.0
        return max(0.0, self._active() - self._work_started)

    @property
    def computed(self) -> int:
        """Frames the job worked on (frame steps less the free ones)."""
        return max(0, self.frames - self.free_steps)

    @property
    def rate(self) -> float | None:
        """Steps per second of the current phase, once it has run a moment (pauses left out)."""
        seconds = self._active() - self._phase_started
        done = self._done[self.phase.key] - self._phase_base
        if seconds < _RATE_AFTER or done <= 0:
            return None
        return done / seconds

    @property
    def remaining(self) -> float | None:
        """Estimated seconds left (from the fraction done since the first frame and the time it took), or None
        early on."""
        done = self.fraction - self._work_fraction
        if done <= 0 or self.elapsed < _RATE_AFTER:
            return None
        return self.elapsed * (1.0 - self.fraction) / done

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

    def summary(self, what: str | None = None) -> str:
        """The finished message: "<what> in 1:02 (1.4 frames/s)" (`what` defaults to "<computed> frames")."""
        elapsed = self.elapsed
        frames = self.computed
        timed = max(0, self.frames - max(self.free_steps, self._work_frames))  # frames worked on after the clock began
        rate = f" ({timed / elapsed:.1f} frames/s)" if timed and elapsed > 0 else ""
        return f"{what if what is not None else f'{frames} frames'} in {format_duration(elapsed)}{rate}"
