"""Per-stage measurement of inference for `xmempp bench`: wall-clock time, or counted FLOPs."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch.utils.flop_counter import FlopCounterMode


class StageTimer:
    """Accumulates seconds per named stage; synchronises the GPU so times are real.

    With `count_flops=True` every stage body also runs under torch's `FlopCounterMode`
    and its FLOPs (convolutions and matrix products) are added to `flops`; counting
    slows every operation down, so times from such a pass are not meaningful.
    """

    def __init__(self, device: torch.device, count_flops: bool = False) -> None:
        self.device = device
        self.count_flops = count_flops
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.flops: dict[str, int] = defaultdict(int)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time (and optionally count the FLOPs of) the body as one occurrence of stage `name`."""
        self._sync()
        start = time.perf_counter()
        counter = FlopCounterMode(display=False) if self.count_flops else None
        try:
            if counter is None:
                yield
            else:
                with counter:
                    yield
        finally:
            self._sync()
            self.seconds[name].append(time.perf_counter() - start)
            if counter is not None:
                self.flops[name] += counter.get_total_flops()

    def reset(self) -> None:
        """Forget every measurement (e.g. after warm-up frames)."""
        self.seconds.clear()
        self.flops.clear()

    def total_flops(self) -> int:
        """FLOPs counted so far over all stages (0 unless `count_flops`)."""
        return sum(self.flops.values())

    def ms_per_frame(self, frames: int) -> dict[str, float]:
        """Total milliseconds of each stage divided by `frames` (amortised over all frames)."""
        return {name: 1000 * sum(values) / max(frames, 1) for name, values in self.seconds.items()}
