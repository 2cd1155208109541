"""Per-stage wall-clock timing of inference, for `xmempp bench`."""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator

import torch


class StageTimer:
    """Accumulates seconds per named stage; synchronises the GPU so times are real."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: dict[str, list[float]] = defaultdict(list)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body as one occurrence of stage `name`."""
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[name].append(time.perf_counter() - start)

    def reset(self) -> None:
        """Forget every measurement (e.g. after warm-up frames)."""
        self.seconds.clear()

    def ms_per_frame(self, frames: int) -> dict[str, float]:
        """Total milliseconds of each stage divided by `frames` (amortised over all frames)."""
        return {name: 1000 * sum(values) / max(frames, 1) for name, values in self.seconds.items()}
