"""Shots as Ray tasks on a Ray cluster: Ray schedules them, retries them when a worker or node is
lost, and each retry resumes its shot from the checkpoints in the shot's output folder.

Paths in the shot list, the weights and the output folders must be on storage every node sees
under the same path, and xmempp must be installed on every node. A user error (bad plate, bad
masks) is a failed result, never retried; only system failures (a dead worker process or node)
are retried, up to `max_retries` times.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

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
            on_result: Callable[[ShotResult], None]) -> None:
        """Submit every task to the cluster and wait for them; events and results arrive here.

        Arguments:
            tasks: shots to run.
            weights: the checkpoint file (same path on every node).
            on_event: receives progress events.
            on_result: receives each shot's result as it ends.
        Returns:
            None. Raises `ConfigError` without Ray and `InputError` when no cluster answers.
        """
        ray = _import_ray()
        from ray.util.queue import Queue

        started_here = not ray.is_initialized()
        if started_here:
            try:
                ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise InputError(f"cannot connect to a Ray cluster at {self.address!r}: {' '.join(str(exc).split())}; "
                                 f"start one with `ray start --head` or give its address with --ray") from None
        try:
            gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
            events = Queue(actor_options={"num_cpus": 0})
            remote = ray.remote(_ray_shot).options(num_cpus=self.cpus_per_shot, num_gpus=gpus,
                                                   max_retries=self.max_retries, retry_exceptions=False)
            names = {}
            for task in tasks:
                names[remote.remote(task, str(weights), events)] = task.shot.name
            pending = list(names)
            while pending:
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


def _ray_shot(task: ShotTask, weights: str, events: Any) -> ShotResult:
    """A Ray task: one shot on the GPU Ray gave it, else on its CPUs."""
    import ray

    device = "cuda" if ray.get_gpu_ids() else "cpu"
    set_threads(int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))

    def emit(event: ShotEvent) -> None:
        try:
            events.put_nowait(event)
        except ray.exceptions.RayError:
            pass  # the display is gone (driver stopped); the shot's results are what matters

    return run_shot(task, Path(weights), device, emit)
