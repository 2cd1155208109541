"""Shots as Ray tasks on a Ray cluster: Ray schedules them, retries them when a worker or node is
lost, and each retry resumes its shot from the checkpoints in the shot's output folder.

Paths in the shot list, the weights and the output folders must be on storage every node sees
under the same path, and xmempp must be installed on every node. A user error (bad plate, bad
masks) is a failed result, never retried; only system failures (a dead worker process or node)
are retried, up to `max_retries` times.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from xmempp.errors import ConfigError, InputError

from .worker import EventSink, ShotEvent, ShotResult, ShotTask, describe_failure, run_shot, set_threads

__all__ = ["RayBackend"]


@dataclass
class RayBackend:
    """Runs shots as Ray remote tasks.

    Attributes:
        address: "auto" (the cluster this machine belongs to, e.g. after `ray start`) or a cluster
            address such as "10.0.0.5:6379" or "ray://head:10001". Ignored when Ray is already
            initialised in this process.
        cpus_per_shot: CPUs each task reserves (its torch threads).
        max_retries: times a task is rerun after its worker or node is lost.
    """

    address: str = "auto"
    cpus_per_shot: int = 1
    max_retries: int = 3

    def describe(self) -> str:
        """Where the shots run, for the report."""
        return f"ray: cluster {self.address}, {self.cpus_per_shot} CPU(s) per shot"

    def run(self, tasks: Sequence[ShotTask], weights: Path, on_event: EventSink,
            on_result: Callable[[ShotResult], None], stop: Optional[threading.Event] = None) -> None:
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
                raise InputError(f"cannot connect to a Ray cluster at {self.address!r}: {' '.join(str(exc).split())}; "
                                 f"start one with `ray start --head` or give its address with --ray") from None
            finally:
                for signum, handler in handlers.items():  # the batch's own stop handling, not Ray's exit
                    if handler is not None:
                        signal.signal(signum, handler)
        try:
            gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
            events = Queue(actor_options={"num_cpus": 0})
            flag = ray.remote(_StopFlag).options(num_cpus=0).remote()
            signalled = False
            remote = ray.remote(_ray_shot).options(num_cpus=self.cpus_per_shot, num_gpus=gpus,
                                                   max_retries=self.max_retries, retry_exceptions=False)
            names = {}
            for task in tasks:
                names[remote.remote(task, str(weights), events, flag)] = task.shot.name
            pending = list(names)
            while pending:
                if stop.is_set() and not signalled:
                    signalled = True
                    flag.set.remote()
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.2)
                _drain(events, on_event)
                for ref in ready:
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        result = ShotResult(names[ref], "failed", error=describe_failure(exc))
                    on_result(result)
            _drain(events, on_event)
            ray.kill(events.actor)
            ray.kill(flag)
        finally:
            if started_here:
                ray.shutdown()


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
        except Exception:  # noqa: BLE001 - a slow answer: ask again
            pass
        time.sleep(0.5)


def _ray_shot(task: ShotTask, weights: str, events: Any, flag: Any) -> ShotResult:
    """A Ray task: one shot on the GPU Ray gave it, else on its CPUs."""
    import ray

    device = "cuda" if ray.get_gpu_ids() else "cpu"
    set_threads(int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))

    def emit(event: ShotEvent) -> None:
        try:
            events.put_nowait(event)
        except ray.exceptions.RayError:
            pass  # the display is gone (driver stopped); the shot's results are what matters

    stop = threading.Event()
    threading.Thread(target=_poll_flag, args=(flag, stop), name="xmempp-stop-flag", daemon=True).start()
    try:
        return run_shot(task, Path(weights), device, emit, stop=stop)
    finally:
        stop.set()  # ends the polling thread
