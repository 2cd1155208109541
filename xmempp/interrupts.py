"""Stop a run cleanly on SIGTERM or SIGINT (render farms send SIGTERM before they kill a job).

Inside `stop_on_signals(cancel)`, the first SIGTERM or SIGINT sets `cancel`, which `run_job` reads
before each frame: the current frame is finished, the writers are flushed and a checkpoint is saved.
A second signal raises `StopSignal` (a `KeyboardInterrupt` carrying the signal) at once (files already
written stay complete), so the process still exits with 128 + that signal (143 for SIGTERM).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["StopRequest", "StopSignal", "stop_on_signals"]


class StopSignal(KeyboardInterrupt):
    """A second stop signal: stop now. `signal` is its number (SIGINT, SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signal = int(signum)


@dataclass
class StopRequest:
    """Which signal asked the run to stop (None while none came)."""

    signal: int | None = None

    @property
    def name(self) -> str:
        """The signal's name, e.g. "SIGTERM" (empty while none came)."""
        return signal.Signals(self.signal).name if self.signal is not None else ""

    @property
    def exit_code(self) -> int:
        """The shell's exit status for a process ended by that signal: 128 + its number (130, 143)."""
        return 128 + int(self.signal or 0)


@contextlib.contextmanager
def stop_on_signals(
    cancel: threading.Event, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)
) -> Iterator[StopRequest]:
    """Turn the first of `signals` into `cancel.set()`, and a second one into `StopSignal`.

    Arguments:
        cancel: the event the run checks before each frame.
        signals: the signals to catch (SIGINT and SIGTERM by default).
    Returns:
        A context manager yielding a `StopRequest` that records the signal received. The previous
        handlers are restored on exit. Off the main thread (where Python cannot install signal
        handlers) it catches nothing.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum, _frame) -> None:
        if request.signal is not None:
            raise StopSignal(signum)
        request.signal = signum
        cancel.set()

    previous = {sig: signal.signal(sig, handle) for sig in signals}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
