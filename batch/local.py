"""Shots in parallel on this machine: one worker process per device slot, one shot per worker at a time.

Each slot owns a one-process `ProcessPoolExecutor` (spawn start method) that keeps its network
loaded between shots; a `ThreadPoolExecutor` hands shots to free slots. A worker that crashes or is
killed fails only the shot it was running: its slot gets a fresh process for the next shot. CPU
slots share the cores (torch threads = cores / workers); GPU slots take one device each.

Stopping: when the batch's `stop` is set (SIGTERM/SIGINT to `xmempp batch`), every worker gets
SIGTERM, finishes its current frame, saves a checkpoint and reports its shot "stopped"; queued shots
do not start. A worker also handles SIGTERM/SIGINT sent to it directly (Ctrl-C reaches the whole
process group), a second one stops it at once, and a watchdog thread stops it the same way when its
parent process is gone (the batch was killed), so no worker outlives its batch.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from xmempp.errors import ConfigError
from xmempp.interrupts import StopSignal
from xmempp.model.device import resolve_device

from .worker import EventSink, ShotEvent, ShotResult, ShotTask, describe_failure, run_shot, set_threads

__all__ = ["LocalBackend", "WorkerSlot", "plan_slots"]

#: Torch threads per CPU worker that the default worker count aims at.
THREADS_PER_CPU_WORKER = 4


@dataclass(frozen=True)
class WorkerSlot:
    """One local worker: the device it runs on and its torch threads."""

    device: str
    threads: int


def plan_slots(devices: str | None, workers: int | None, shots: int, cores: int | None = None) -> list[WorkerSlot]:
    """Decide the local workers of a batch.

    Arguments:
        devices: comma-separated device names ("cuda:0,cuda:1", "cpu"), or None / "auto" for every
            CUDA GPU, else the CPU.
        workers: parallel shots (default: one per GPU; on the CPU, one per 4 cores, at least 1).
            Workers take the devices in turn.
        shots: shots to run (no more workers than shots are started).
        cores: CPU cores to share (default: `os.cpu_count()`).
    Returns:
        One `WorkerSlot` per worker; each gets cores / workers torch threads. Raises `ConfigError`
        for an unknown or unavailable device or a worker count below 1.
    """
    cores = cores or os.cpu_count() or 1
    if devices is None or devices.strip().lower() == "auto":
        names = [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cpu"]
    else:
        names = [name.strip() for name in devices.split(",") if name.strip()]
        if not names:
            raise ConfigError(f"no device in {devices!r}; use e.g. cuda:0,cuda:1 or cpu")
        for name in names:
            resolve_device(name)
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {workers}")
    if workers is None:
        on_cpu = all(resolve_device(name).type == "cpu" for name in names)
        workers = max(1, cores // THREADS_PER_CPU_WORKER) if on_cpu else len(names)
    workers = max(1, min(workers, shots))
    threads = max(1, cores // workers)
    return [WorkerSlot(names[i % len(names)], threads) for i in range(workers)]


@dataclass
class LocalBackend:
    """Runs shots on local worker processes, one per `WorkerSlot`."""

    slots: Sequence[WorkerSlot]

    def describe(self) -> str:
        """Where the shots run, for the report."""
        devices = sorted({slot.device for slot in self.slots})
        return (
            f"local: {len(self.slots)} worker(s) on {', '.join(devices)}, {self.slots[0].threads} torch thread(s) each"
        )

    def run(
        self,
        tasks: Sequence[ShotTask],
        weights: Path,
        on_event: EventSink,
        on_result: Callable[[ShotResult], None],
        stop: threading.Event | None = None,
    ) -> None:
        """Run every task; events and results are delivered on the calling thread.

        Arguments:
            tasks: shots to run.
            weights: the checkpoint file.
            on_event: receives progress events.
            on_result: receives each shot's result as it ends.
            stop: set it to stop the workers (each checkpoints its shot); queued shots do not start.
        Returns:
            None. A crashed worker fails its own shot only.
        """
        stop = stop or threading.Event()
        if _QUIET_TRACKER not in sys.warnoptions:  # passed as -W to the resource tracker started below
            sys.warnoptions.append(_QUIET_TRACKER)
        context = multiprocessing.get_context("spawn")
        events = context.Queue()
        free: queue.Queue[int] = queue.Queue()
        for index in range(len(self.slots)):
            free.put(index)
        pools: dict[int, ProcessPoolExecutor] = {}
        lock = threading.Lock()

        def pool_of(index: int) -> ProcessPoolExecutor:
            with lock:
                if index not in pools:
                    pools[index] = ProcessPoolExecutor(
                        1, mp_context=context, initializer=_init_worker, initargs=(self.slots[index].threads, events)
                    )
                return pools[index]

        def run_one(task: ShotTask) -> ShotResult:
            index = free.get()
            try:
                if stop.is_set():
                    return ShotResult(task.shot.name, "stopped", error="not started: the batch was stopped")
                future = pool_of(index).submit(_work, task, weights, self.slots[index].device)
                try:
                    return future.result()
                except BrokenProcessPool:
                    with lock:
                        pools.pop(index).shutdown(wait=False)
                    return ShotResult(
                        task.shot.name,
                        "failed",
                        error="the worker process died (crashed or was "
                        "killed) while running this shot; rerun the batch to resume it",
                    )
                except Exception as exc:  # a bug or a device failure in this shot: record it, keep going
                    return ShotResult(task.shot.name, "failed", error=describe_failure(exc))
            finally:
                free.put(index)

        threads = ThreadPoolExecutor(len(self.slots), thread_name_prefix="xmempp-batch")
        futures: list[Future] = [threads.submit(run_one, task) for task in tasks]
        finished_cleanly = False
        signalled = False
        try:
            pending = list(futures)
            while pending:
                if stop.is_set() and not signalled:
                    signalled = True
                    _signal_workers(pools, lock)
                _drain(events, on_event, timeout=0.1)
                for future in [f for f in pending if f.done()]:
                    _drain(events, on_event)
                    on_result(future.result())
                    pending.remove(future)
            _drain(events, on_event)
            finished_cleanly = True
        finally:
            if not finished_cleanly:  # a second signal: stop the workers now (their checkpoints stay)
                _signal_workers(pools, lock)
            threads.shutdown(wait=finished_cleanly, cancel_futures=True)
            for pool in list(pools.values()):
                pool.shutdown(wait=finished_cleanly, cancel_futures=True)
            events.close()


def _signal_workers(pools: dict[int, ProcessPoolExecutor], lock: threading.Lock) -> None:
    """Send SIGTERM to every live worker process."""
    with lock:
        processes = [p for pool in pools.values() for p in list((getattr(pool, "_processes", None) or {}).values())]
    for process in processes:
        if process.is_alive() and process.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)


def _drain(events: Any, on_event: EventSink, timeout: float = 0.0) -> None:
    """Deliver every waiting event; wait up to `timeout` seconds for the first one."""
    try:
        event = events.get(timeout=timeout) if timeout else events.get_nowait()
    except queue.Empty:
        return
    while True:
        on_event(event)
        try:
            event = events.get_nowait()
        except queue.Empty:
            return


#: Warning filter for multiprocessing's resource tracker: when the batch is killed (SIGKILL) the tracker unlinks
#: the queues' semaphores as it should, but its "leaked semaphore objects" warning would be a plain line in a
#: `--log-format json` log.
_QUIET_TRACKER = "ignore:resource_tracker:UserWarning:multiprocessing.resource_tracker"

_events: Any = None
#: Set in a worker process by SIGTERM/SIGINT or by the watchdog: the running shot checkpoints and stops.
_stop = threading.Event()
#: Set while a worker process runs a shot.
_busy = threading.Event()
#: Seconds an orphaned worker may take to checkpoint its shot before it exits anyway.
ORPHAN_GRACE = 120.0


def _init_worker(threads: int, events: Any) -> None:
    """Start-up of a worker process: its torch threads, the queue its events go to, its stop signals
    and the watchdog that ends it when the batch process is gone."""
    global _events
    _events = events
    # Progress events are best-effort: a worker that exits must not wait for the batch to read its
    # last ones (the batch stops reading before it shuts the pools down; the result comes back anyway).
    events.cancel_join_thread()
    set_threads(threads)

    def handle(signum, _frame) -> None:
        if _stop.is_set():
            raise StopSignal(signum)
        _stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handle)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), name="xmempp-watchdog", daemon=True).start()


def _watch_parent(parent: int) -> None:
    """Stop this worker when its parent (the batch) is gone: checkpoint the running shot, then exit."""
    while os.getppid() == parent:
        time.sleep(0.5)
    _stop.set()
    deadline = time.monotonic() + ORPHAN_GRACE
    while _busy.is_set() and time.monotonic() < deadline:
        time.sleep(0.1)
    os._exit(128 + signal.SIGTERM)


def _work(task: ShotTask, weights: Path, device: str) -> ShotResult:
    """Run one shot in a worker process, sending its events to the batch."""
    _busy.set()
    try:
        return run_shot(task, weights, device, _send, stop=_stop)
    finally:
        _busy.clear()


def _send(event: ShotEvent) -> None:
    _events.put(event)
