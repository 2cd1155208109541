"""One network and one worker thread: every model call of the service runs here, one at a time.

Requests from any number of clients become tasks in one queue, so two propagations never run on
the device at once and memory stays that of a single propagation.
"""
from __future__ import annotations

import concurrent.futures
import os
import threading
from pathlib import Path
from typing import Callable, Optional, TypeVar

import torch

from xmempp.model.loading import load_model
from xmempp.model.network import XMemNetwork
from xmempp.model.weights import resolve_weights
from xmempp.resources import peak_rss_bytes

T = TypeVar("T")


class Engine:
    """A loaded network with a single-thread work queue.

    Arguments:
        model: the network.
        source: where the weights came from (shown by /v1/info).
    """

    def __init__(self, model: XMemNetwork, source: str = "") -> None:
        self.model = model
        self.source = source
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="xmempp-engine")
        self._lock = threading.Lock()
        self._pending = 0

    @classmethod
    def load(cls, model: Optional[Path] = None, device: str = "auto") -> "Engine":
        """Resolve the weights as the CLI does (official XMem.pth when `model` is None) and load them."""
        path = resolve_weights(model)
        return cls(load_model(path, device=device), str(path))

    @property
    def device(self) -> torch.device:
        """Where the network runs."""
        return next(self.model.parameters()).device

    @property
    def pending(self) -> int:
        """Tasks queued or running."""
        with self._lock:
            return self._pending

    def submit(self, task: Callable[[], T]) -> "concurrent.futures.Future[T]":
        """Queue `task` (a function of no arguments that may use the network); returns its future."""
        with self._lock:
            self._pending += 1

        def run() -> T:
            try:
                with torch.inference_mode():
                    return task()
            finally:
                with self._lock:
                    self._pending -= 1

        return self._executor.submit(run)

    def call(self, task: Callable[[], T]) -> T:
        """Run `task` on the worker and wait for its result (its exception is re-raised here)."""
        return self.submit(task).result()

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
        self._executor.shutdown(wait=True)


def _current_rss_bytes() -> Optional[int]:
    """Resident set size now (Linux: /proc/self/statm), or None where it cannot be read."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")
