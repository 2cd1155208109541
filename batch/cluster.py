"""Shots as Ray tasks on a Ray cluster: Ray schedules them, retries them when a worker or node is
lost, and each retry resumes its shot from the checkpoints in the shot's output folder.

Paths in the shot list, the weights and the output folders must be on storage every node sees
under the same path, and xmempp must be installed on every node. A user error (bad plate, bad
masks) is a failed result, never retried; only system failures (a dead worker process or node)
are retried, up to `max_retries` times.

A task reports "running" as soon as it starts (before its network loads), and the driver reports a
"retry" when a shot starts again on another worker (Ray lost the first); the report counts each shot's
retries. On a cluster with GPUs, a task asks for a whole GPU, or for half of one when the batch's memory
estimate says that two shots fit on a GPU of the cluster (`resources.gpu_request`; the GPU's memory is read
by a short task on one GPU, unless `gpu_memory` gives it).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xmempp.errors import ConfigError, InputError

from .resources import gpu_request
from .worker import EventSink, ShotEvent, ShotResult, ShotTask, describe_failure, run_shot, set_threads

__all__ = ["RayBackend", "RetryWatch"]


@dataclass
class RayBackend:
    """Runs shots as Ray remote tasks.

    Attributes:
        address: "auto" (the cluster this machine belongs to, e.g. after `ray start`) or a cluster
            address such as "10.0.0.5:6379" or "ray://head:10001". Ignored when Ray is already
            initialised in this process.
        cpus_per_shot: CPUs each task reserves (its torch threads).
        max_retries: times a task is rerun after its worker or node is lost.
        gpu_memory: bytes of memory of the cluster's GPUs (None: read from one GPU when the cluster has any).
    """

    address: str = "auto"
    cpus_per_shot: int = 1
    max_retries: int = 3
    gpu_memory: int | None = None

    def describe(self) -> str:
        """Where the shots run, for the report."""
        return (
            f"ray: cluster {self.address}, {self.cpus_per_shot} CPU(s) per shot, a GPU or half of one per shot "
            "where the cluster has GPUs"
        )

    def run(
        self,
        tasks: Sequence[ShotTask],
        weights: Path,
        on_event: EventSink,
        on_result: Callable[[ShotResult], None],
        stop: threading.Event | None = None,
    ) -> None:
        """Submit every task to the cluster and wait for them; events and results arrive here.

        Arguments:
            tasks: shots to run.
            weights: the checkpoint file (same path on every node).
            on_event: receives progress events.
            on_result: receives each shot's result as it ends.
            stop: set it to stop: every task checkpoints its shot after its current frame and
                returns "stopped" (tasks not started yet stop before their first frame).
        Returns:
            None. Raises `ConfigError` without Ray and `InputError` when no cluster answers.
        """
        ray = _import_ray()
        from ray.util.queue import Queue

        stop = stop or threading.Event()
        started_here = not ray.is_initialized()
        if started_here:
            handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
            try:
                ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise InputError(
                    f"cannot connect to a Ray cluster at {self.address!r}: {' '.join(str(exc).split())}; "
                    f"start one with `ray start --head` or give its address with --ray"
                ) from None
            finally:
                for signum, handler in handlers.items():  # the batch's own stop handling, not Ray's exit
                    if handler is not None:
                        signal.signal(signum, handler)
        try:
            has_gpus = ray.cluster_resources().get("GPU", 0) > 0
            gpu_memory = (self.gpu_memory or _probe_gpu_memory(ray)) if has_gpus else None
            events = Queue(actor_options={"num_cpus": 0})
            flag = ray.remote(_StopFlag).options(num_cpus=0).remote()
            signalled = False
            remote = ray.remote(_ray_shot)
            watch = RetryWatch(on_event)
            names = {}
            for task in tasks:
                needs = task.needs.gpu_memory if task.needs is not None else None
                gpus = gpu_request(needs, gpu_memory) if has_gpus else 0
                options = remote.options(
                    num_cpus=self.cpus_per_shot, num_gpus=gpus, max_retries=self.max_retries, retry_exceptions=False
                )
                names[options.remote(task, str(weights), events, flag)] = task.shot.name
            pending = list(names)
            while pending:
                if stop.is_set() and not signalled:
                    signalled = True
                    flag.set.remote()
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.2)
                _drain(events, watch)
                for ref in ready:
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        result = ShotResult(names[ref], "failed", error=describe_failure(exc))
                    _drain(events, watch)  # the shot's last events (a retry's start) before its result
                    on_result(dataclasses.replace(result, retries=watch.retries[result.shot]))
            _drain(events, watch)
            ray.kill(events.actor)
            ray.kill(flag)
        finally:
            if started_here:
                ray.shutdown()


class RetryWatch:
    """Passes a Ray batch's events on, with a "retry" event before the first one of a shot's new worker: a shot
    that starts again on another worker was retried by Ray (its first worker or node was lost).

    Arguments:
        on_event: receives the events.
    """

    def __init__(self, on_event: EventSink) -> None:
        self.on_event = on_event
        self.workers: dict[str, tuple[str, int]] = {}
        self.retries: collections.Counter[str] = collections.Counter()

    def __call__(self, event: ShotEvent) -> None:
        if event.state == "running" and event.pid:
            worker = (event.host, event.pid)
            known = self.workers.setdefault(event.shot, worker)
            if known != worker:
                self.workers[event.shot] = worker
                self.retries[event.shot] += 1
                self.on_event(
                    ShotEvent(
                        event.shot,
                        "retry",
                        event.frames,
                        event.total,
                        event.pid,
                        event.host,
                        attempt=self.retries[event.shot] + 1,
                    )
                )
        self.on_event(event)


def _probe_gpu_memory(ray: Any) -> int | None:
    """Bytes of memory of a GPU of the cluster, read by a short task on one (None when it cannot be read)."""
    try:
        return int(ray.get(ray.remote(_gpu_memory).options(num_gpus=1, num_cpus=0).remote(), timeout=300))
    except Exception:
        return None


def _gpu_memory() -> int:
    """A Ray task: the memory of the GPU Ray gave it."""
    import torch

    return int(torch.cuda.get_device_properties(0).total_memory) if torch.cuda.is_available() else 0


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray; install it with: pip install 'xmempp[ray]'") from None
    return ray


def _drain(events: Any, on_event: EventSink) -> None:
    size = events.qsize()
    if size:
        for event in events.get_nowait_batch(size):
            on_event(event)


class _StopFlag:
    """A Ray actor the driver sets when the batch is asked to stop; tasks poll it."""

    def __init__(self) -> None:
        self.stopped = False

    def set(self) -> None:
        """Ask every task to stop."""
        self.stopped = True

    def is_set(self) -> bool:
        """Whether the batch was asked to stop."""
        return self.stopped


def _poll_flag(flag: Any, stop: threading.Event) -> None:
    """Set `stop` once the driver sets its flag (or is gone)."""
    import ray

    while not stop.is_set():
        try:
            if ray.get(flag.is_set.remote(), timeout=10):
                stop.set()
        except ray.exceptions.RayError:
            stop.set()  # the driver and its flag are gone: checkpoint and end the shot
        except Exception:
            pass
        time.sleep(0.5)


def _ray_shot(task: ShotTask, weights: str, events: Any, flag: Any) -> ShotResult:
    """A Ray task: one shot on the GPU Ray gave it, else on its CPUs."""
    import ray

    device = "cuda" if ray.get_gpu_ids() else "cpu"
    set_threads(int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))

    def emit(event: ShotEvent) -> None:
        # the display may be gone (driver stopped); the shot's results are what matters
        with contextlib.suppress(ray.exceptions.RayError):
            events.put_nowait(event)

    emit(ShotEvent(task.shot.name, "running", 0, 0, os.getpid(), socket.gethostname()))  # started: before loading

    stop = threading.Event()
    threading.Thread(target=_poll_flag, args=(flag, stop), name="xmempp-stop-flag", daemon=True).start()
    try:
        return run_shot(task, Path(weights), device, emit, stop=stop)
    finally:
        stop.set()  # ends the polling thread
