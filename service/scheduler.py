"""One network and one worker thread: every model call of the service runs here, one at a time.

Requests from any number of clients become tasks on one worker, so two propagations never run on
the device at once and memory stays that of a single propagation. The worker is fair between
sessions: each session (a *lane*) keeps its own tasks in order; interactive tasks (a reference edit,
an adapter's step) run before the next frame of any other lane's track, and long tasks (tracks,
stepped frame by frame) take turns round-robin, a chunk of frames each. It times the steps, so it can tell
a queued task where it stands and when it should start (`place`).
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import torch

from xmempp.model.loading import load_model
from xmempp.model.network import XMemNetwork
from xmempp.model.weights import resolve_weights
from xmempp.resources import peak_rss_bytes

T = TypeVar("T")

#: A stepped task: each call does one step (one frame) and returns True once the task is finished.
Step = Callable[[], bool]


#: Step durations kept for the estimates (the most recent ones).
STEP_TIMES_KEPT = 64


@dataclass
class _Task:
    run: Callable[[], object]
    future: concurrent.futures.Future
    interactive: bool
    stepped: bool
    steps_left: Callable[[], int] | None = None
    queued_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class QueuePlace:
    """Where a queued task stands.

    Attributes:
        position: 1 + the tasks that get the worker before this one starts (the one running now included).
        estimated_start_s: seconds until it starts, from the step times measured recently (round-robin turns
            simulated), or None before the worker timed any step.
    """

    position: int
    estimated_start_s: float | None


class SchedulerClosed(RuntimeError):
    """The scheduler was closed; it accepts no new tasks."""


class Scheduler:
    """A loaded network with a fair single-thread work queue: it schedules every model call of the service.

    Arguments:
        model: the network.
        source: where the weights came from (shown by /v1/info).
        chunk_frames: steps a long task runs per turn when other lanes wait.
        chunk_seconds: a turn also ends after this long (at least one step is made).
        load_seconds: how long loading the network took, when known (shown by /metrics).
    """

    def __init__(
        self,
        model: XMemNetwork,
        source: str = "",
        chunk_frames: int = 8,
        chunk_seconds: float = 0.5,
        load_seconds: float | None = None,
    ) -> None:
        self.model = model
        self.source = source
        self.load_seconds = load_seconds
        self.chunk_frames, self.chunk_seconds = max(1, chunk_frames), chunk_seconds
        self._cond = threading.Condition()
        self._lanes: dict[Hashable, deque[_Task]] = {}
        self._order: deque[Hashable] = deque()  # lanes with work, in round-robin order
        self._closed = False
        self._step_times: deque[float] = deque(maxlen=STEP_TIMES_KEPT)
        self._thread = threading.Thread(target=self._work, name="xmempp-scheduler", daemon=True)
        self._thread.start()

    @classmethod
    def load(cls, model: Path | None = None, device: str = "auto") -> Scheduler:
        """Resolve the weights as the CLI does (official XMem.pth when `model` is None) and load them."""
        started = time.perf_counter()
        path = resolve_weights(model)
        network = load_model(path, device=device)
        return cls(network, str(path), load_seconds=time.perf_counter() - started)

    @property
    def device(self) -> torch.device:
        """Where the network runs."""
        return next(self.model.parameters()).device

    @property
    def pending(self) -> int:
        """Tasks queued or running."""
        with self._cond:
            return sum(not task.future.done() for lane in self._lanes.values() for task in lane)

    # ------------------------------------------------------------------ submitting
    def submit(
        self, task: Callable[[], T], *, lane: Hashable = None, interactive: bool = True
    ) -> concurrent.futures.Future[T]:
        """Queue `task` (a function of no arguments that may use the network); returns its future.

        Arguments:
            task: the work; it runs whole, on the worker thread, under `torch.inference_mode`.
            lane: tasks of one lane (a session) run in the order submitted; None is a shared lane.
            interactive: run it before other lanes' long tasks (False: it takes its round-robin turn).
        """
        return self._enqueue(_Task(task, concurrent.futures.Future(), interactive, stepped=False), lane)

    def submit_steps(
        self, step: Step, *, lane: Hashable = None, steps_left: Callable[[], int] | None = None
    ) -> concurrent.futures.Future[None]:
        """Queue a long task made of steps (e.g. one frame each); its turns alternate with other lanes'.

        `step()` is called repeatedly on the worker until it returns True; between calls the worker
        may run other lanes' tasks. The future is done once the task is finished (or raised).
        `steps_left()`, when given, says how many steps the task still has (for `place`'s estimates).
        """
        return self._enqueue(
            _Task(step, concurrent.futures.Future(), interactive=False, stepped=True, steps_left=steps_left), lane
        )

    def call(self, task: Callable[[], T], *, lane: Hashable = None) -> T:
        """Run `task` on the worker as an interactive task and wait for its result (its exception is re-raised)."""
        return self.submit(task, lane=lane).result()

    def _enqueue(self, task: _Task, lane: Hashable) -> concurrent.futures.Future:
        with self._cond:
            if self._closed:
                raise SchedulerClosed("the model worker is shutting down")
            queue = self._lanes.setdefault(lane, deque())
            queue.append(task)
            if len(queue) == 1:
                self._order.append(lane)
            self._cond.notify_all()
        return task.future

    # ------------------------------------------------------------------ queue position
    def step_seconds(self) -> float | None:
        """Mean duration of the recent steps of long tasks (a tracked frame each), or None before any."""
        with self._cond:
            times = list(self._step_times)
        return sum(times) / len(times) if times else None

    def place(self, future: concurrent.futures.Future) -> QueuePlace | None:
        """Where the task of `future` stands while it waits to start, or None once it started (or is unknown).

        The round-robin turns are simulated over the tasks queued now: a long task's turn is its chunk of
        steps (at most `chunk_frames`, or what `chunk_seconds` allows at the measured step time) while other
        lanes wait, a task of one call counts one step; a long task without `steps_left` counts one turn.
        Interactive tasks submitted later can still go first, so the estimate is a lower bound.
        """
        step = self.step_seconds()
        turn = (
            self.chunk_frames
            if step is None
            else max(1, min(self.chunk_frames, math.ceil(self.chunk_seconds / max(step, 1e-9))))
        )
        with self._cond:
            if future.running() or future.done():
                return None
            if not any(task.future is future for lane in self._lanes.values() for task in lane):
                return None
            order = deque(self._order)
            queues = {lane: deque(self._lanes[lane]) for lane in order}
        left = {
            id(task): (max(1, task.steps_left()) if task.steps_left else turn) if task.stepped else 1
            for queue in queues.values()
            for task in queue
        }
        steps, ahead, served = 0, 0, set()
        while order:
            lane = order[0]
            task = queues[lane][0]
            if task.future is future:
                return QueuePlace(ahead + 1, steps * step if step is not None else None)
            if id(task) not in served:
                served.add(id(task))
                ahead += 1
            made = min(left[id(task)], turn) if task.stepped and len(order) > 1 else left[id(task)]
            steps += made
            left[id(task)] -= made
            order.popleft()
            if left[id(task)] <= 0:
                queues[lane].popleft()
            if queues[lane]:
                order.append(lane)
        return None

    # ------------------------------------------------------------------ worker
    def _next_lane(self) -> Hashable:
        """The lane to serve next (called with the lock held): the oldest interactive head first,
        else the next lane in round-robin order."""
        interactive = [
            (self._lanes[k][0].queued_at, i) for i, k in enumerate(self._order) if self._lanes[k][0].interactive
        ]
        if interactive:
            return self._order[min(interactive)[1]]
        return self._order[0]

    def _others_waiting(self, lane: Hashable) -> tuple[bool, bool]:
        """(another lane has work, another lane's head is interactive)."""
        with self._cond:
            others = [k for k in self._order if k != lane]
            return bool(others), any(self._lanes[k][0].interactive for k in others)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._order and not self._closed:
                    self._cond.wait()
                if not self._order:
                    return  # closed and nothing left
                lane = self._next_lane()
                task = self._lanes[lane][0]
            finished = self._serve(lane, task)
            with self._cond:
                queue = self._lanes[lane]
                self._order.remove(lane)
                if finished:
                    queue.popleft()
                if queue:
                    self._order.append(lane)  # the end of the round
                else:
                    del self._lanes[lane]

    def _serve(self, lane: Hashable, task: _Task) -> bool:
        """Run a task, or one turn of a stepped task; True when the task is finished."""
        if not task.future.running() and not task.future.set_running_or_notify_cancel():
            return True  # cancelled before it started
        try:
            with torch.inference_mode():
                if not task.stepped:
                    task.future.set_result(task.run())
                    return True
                started, steps = time.monotonic(), 0
                while True:
                    began = time.perf_counter()
                    finished = task.run()
                    with self._cond:
                        self._step_times.append(time.perf_counter() - began)
                    if finished:
                        task.future.set_result(None)
                        return True
                    steps += 1
                    others, urgent = self._others_waiting(lane)
                    if urgent or (
                        others and (steps >= self.chunk_frames or time.monotonic() - started >= self.chunk_seconds)
                    ):
                        return False
        except BaseException as exc:
            task.future.set_exception(exc)
            return True

    # ------------------------------------------------------------------ info and stop
    def memory(self) -> dict[str, int]:
        """Memory in use: RSS (current where the OS tells it, and peak) of the process, and on CUDA the
        allocator's current and peak bytes."""
        info = {"peak_rss_bytes": peak_rss_bytes()}
        current = _current_rss_bytes()
        if current is not None:
            info["rss_bytes"] = current
        device = self.device
        if device.type == "cuda":
            info["device_allocated_bytes"] = int(torch.cuda.memory_allocated(device))
            info["device_peak_bytes"] = int(torch.cuda.max_memory_allocated(device))
        return info

    def close(self) -> None:
        """Run the tasks already queued, then stop the worker (no new tasks are accepted)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join()


def _current_rss_bytes() -> int | None:
    """Resident set size now (Linux: /proc/self/statm), or None where it cannot be read."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")
