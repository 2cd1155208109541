"""Speed and memory measurement of a propagation, stage by stage (used by `xmempp bench`)."""
from __future__ import annotations

import platform
import resource
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from xmempp.errors import InputError
from xmempp.io.atomic import encode_png
from xmempp.inference.config import InferenceConfig
from xmempp.inference.jobs import ShotJob, iter_job
from xmempp.inference.session import InferenceSession
from xmempp.model.network import XMemNetwork
from xmempp.resources import peak_rss_bytes
from xmempp.timing import StageTimer
from xmempp.io.writers import probs_to_ids


@dataclass
class BenchResult:
    """What one benchmark run measured (times in milliseconds per frame, amortised)."""

    hardware: str
    device: str
    frame_size: tuple[int, int]
    processing_size: int
    objects: int
    frames: int
    fps: float
    ms_per_frame: float
    stages: dict[str, float] = field(default_factory=dict)
    peak_rss_gib: float = 0.0
    peak_gpu_gib: Optional[float] = None
    timeline: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def hardware_name(device: torch.device) -> str:
    """Name of the processor the benchmark runs on."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu} ({torch.get_num_threads()} threads)"


def current_rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:
        return peak_rss_bytes()


def run_benchmark(model: XMemNetwork, frames: Sequence[np.ndarray], reference: np.ndarray, config: InferenceConfig,
                  warmup: int = 2, on_frame: Callable[[], None] | None = None,
                  sample_every: int = 0) -> BenchResult:
    """Propagate `reference` (mask of frame 0) through `frames`, timing every stage.

    Decoding is timed by reading each frame; writing by encoding the index PNG as
    the CLI's writer does. The first `warmup` frames after the reference are not counted.
    With `sample_every` > 0, every that many frames the frame time, current RSS and
    memory sizes are recorded in `timeline` (for long-clip flatness checks).
    """
    device = next(model.parameters()).device
    timer = StageTimer(device)
    session = InferenceSession(model, config, timer=timer)
    job = ShotJob(_TimedDecode(frames, timer), {0: reference}, config)
    session.add_reference(0, frames[0], reference)
    object_ids = session.object_ids
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    counted, started = 0, None
    timeline: list[dict] = []
    frame_start = time.perf_counter()
    for result in iter_job(model, job, session=session, prefetch_depth=0):  # decode, step
        index = result.index
        with timer.stage("write"):
            encode_png(probs_to_ids(result.probs.numpy(), object_ids))
        counted += 1
        if sample_every and index % sample_every == 0:
            stats = session.memory_stats()
            timeline.append({"frame": index, "ms": 1000 * (time.perf_counter() - frame_start),
                             "rss_mib": current_rss_bytes() / 2**20, "long_term": stats.long_term_elements,
                             "temporary": stats.temporary_elements})
        if on_frame is not None:
            on_frame()
        if index == warmup:  # count from the next frame on
            timer.reset()
            started, counted = time.perf_counter(), 0
        frame_start = time.perf_counter()
    if started is None or counted == 0:
        raise InputError(f"need more than {warmup + 1} frames to benchmark")
    seconds = time.perf_counter() - started
    gpu = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return BenchResult(hardware=hardware_name(device), device=str(device), frame_size=tuple(frames[0].shape[:2]),
                       processing_size=config.size, objects=len(object_ids), frames=counted,
                       fps=counted / seconds, ms_per_frame=1000 * seconds / counted,
                       stages=timer.ms_per_frame(counted), peak_rss_gib=peak_rss_bytes() / 2**30, peak_gpu_gib=gpu,
                       timeline=timeline)


class _TimedDecode:
    """Frames whose reading is timed as the "decode" stage."""

    def __init__(self, frames: Sequence[np.ndarray], timer: StageTimer) -> None:
        self.frames, self.timer = frames, timer

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> np.ndarray:
        with self.timer.stage("decode"):
            return self.frames[index]


def flatness_summary(result: BenchResult, config: InferenceConfig) -> str:
    """How memory and frame time behave after the long-term cap is reached, from `timeline`."""
    cap = config.max_long_term_elements - config.num_prototypes
    after = [p for p in result.timeline if p["long_term"] >= cap]
    if len(after) < 2:
        return "long-term memory cap not reached: use more frames or a smaller max_long_term_elements"
    first, rest = after[0], after[1:]
    peak = max(p["rss_mib"] for p in rest)
    half = max(1, len(after) // 2)
    early = float(np.mean([p["ms"] for p in after[:half]]))
    late = float(np.mean([p["ms"] for p in after[half:]]))
    return (f"long-term cap ({cap} elements) reached by frame {first['frame']}: RSS {first['rss_mib']:.0f} MiB "
            f"then at most {peak:.0f} MiB ({100 * (peak / first['rss_mib'] - 1):+.1f} %); frame time "
            f"{early:.1f} ms in the first half after the cap, {late:.1f} ms in the second half")
