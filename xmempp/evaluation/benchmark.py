"""Speed and memory measurement of a propagation, stage by stage (used by `xmempp bench`).

Every run also measures the machine's own limit (`PeakConvolution`, one large
convolution, run before and after the frames and, by default, between every two) and
counts the FLOPs of every stage in a second, untimed pass over the same frames, so that
each stage is reported as achieved GFLOP/s and as a fraction of that peak. On machines
whose speed drifts (shared VMs), the frames are also compared with the peak convolution's
average rate over the runs between them, both averaged alike (work over time).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import numpy as np
import torch

from xmempp.errors import InputError
from xmempp.evaluation.peak import PEAK_CONV, PeakConvolution, processor
from xmempp.inference.config import InferenceConfig
from xmempp.inference.jobs import ShotJob, iter_job
from xmempp.inference.session import InferenceSession
from xmempp.io.atomic import encode_png
from xmempp.io.writers import probs_to_ids
from xmempp.model.cuda_graphs import use_cuda_graphs
from xmempp.model.loading import compile_network
from xmempp.model.network import XMemNetwork
from xmempp.model.winograd import direct_convolutions, timing_table
from xmempp.resources import peak_rss_bytes
from xmempp.timing import StageTimer
from xmempp.version import __version__


@dataclass
class BenchResult:
    """What one benchmark run measured (times in milliseconds per frame, amortised).

    `precision` is the number format the network ran in; the peak convolution runs in it too, always as a
    direct convolution. `conv` is the network's convolution algorithm (`xmempp.model.winograd`) and
    `conv_choices` what `auto` measured and chose per convolution shape in this process.
    `gflop_per_frame`, `gflops` and `fraction_of_peak` are per stage, plus "frame" for
    the whole frame, against the best peak of the run; they are empty when FLOPs were not
    counted. FLOPs are those of direct convolutions (and matrix products) whatever the algorithm, so
    `gflops` is an effective rate and a stage run by Winograd may exceed the peak (a fraction above 1).
    `best_frame_fraction` is the fastest single counted frame's rate over that peak.
    `peak_between_gflops` is the peak convolution's rate over its runs between frames (their
    FLOPs over their time), `fraction_of_peak_between` the frames' rate (FLOPs over time) over it
    (None without FLOPs or between-frame runs). `peak_range` is the lowest and highest peak
    measured in the run. `review_ms` is what the review (`xmempp.review`) of a frame costs, both passes
    (None when not measured). `threads` is the CPU threads PyTorch used, `date` when the run ended (UTC, ISO
    8601), `xmempp_version` and `torch_version` what ran: the provenance of a result kept as a file.
    """

    hardware: str
    device: str
    precision: str
    conv: str
    frame_size: tuple[int, int]
    processing_size: int
    objects: int
    frames: int
    fps: float
    ms_per_frame: float
    stages: dict[str, float] = field(default_factory=dict)
    peak_rss_gib: float = 0.0
    peak_gpu_gib: float | None = None
    timeline: list[dict] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)
    peak_kernel: str = ""
    peak_gflops: float = 0.0
    peak_range: tuple[float, float] = (0.0, 0.0)
    gflop_per_frame: dict[str, float] = field(default_factory=dict)
    gflops: dict[str, float] = field(default_factory=dict)
    fraction_of_peak: dict[str, float] = field(default_factory=dict)
    best_frame_fraction: float | None = None
    peak_between_gflops: float | None = None
    fraction_of_peak_between: float | None = None
    review_ms: float | None = None
    conv_choices: list[dict] = field(default_factory=list)
    threads: int = 0
    date: str = ""
    xmempp_version: str = ""
    torch_version: str = ""

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass
class _Pass:
    timer: StageTimer
    frame_seconds: list[float]
    frame_flops: list[int]
    objects: int
    timeline: list[dict]

    @property
    def seconds(self) -> float:
        return sum(self.frame_seconds)


def current_rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:
        return peak_rss_bytes()


def _propagate(
    model: XMemNetwork,
    frames: Sequence[np.ndarray],
    reference: np.ndarray,
    config: InferenceConfig,
    warmup: int,
    count_flops: bool,
    on_frame: Callable[[], None] | None,
    sample_every: int,
    between: Callable[[], None] | None = None,
) -> _Pass:
    """One pass over `frames`: timed, or (count_flops) counting FLOPs per stage and per frame, every
    convolution run as a direct one (so its FLOPs are the direct convolution's, whatever the algorithm).

    `between` runs, untimed, before the first counted frame and after every counted one."""
    if count_flops:
        with direct_convolutions():
            return _one_pass(model, frames, reference, config, warmup, True, on_frame, sample_every, between)
    return _one_pass(model, frames, reference, config, warmup, False, on_frame, sample_every, between)


def _one_pass(
    model: XMemNetwork,
    frames: Sequence[np.ndarray],
    reference: np.ndarray,
    config: InferenceConfig,
    warmup: int,
    count_flops: bool,
    on_frame: Callable[[], None] | None,
    sample_every: int,
    between: Callable[[], None] | None,
) -> _Pass:
    device = next(model.parameters()).device
    timer = StageTimer(device, count_flops=count_flops)
    session = InferenceSession(model, config, timer=timer)
    session.add_reference(0, frames[0], reference)
    object_ids = session.object_ids
    job = ShotJob(_TimedDecode(frames, timer), {0: reference}, config)
    started = False
    frame_seconds: list[float] = []
    frame_flops: list[int] = []
    timeline: list[dict] = []
    frame_start, flops_before = time.perf_counter(), timer.total_flops()
    for result in iter_job(model, job, session=session, prefetch_depth=0):  # decode (timed), step
        index = result.index
        with timer.stage("write"):
            encode_png(probs_to_ids(np.asarray(result.probs), object_ids))
        if started:
            frame_seconds.append(time.perf_counter() - frame_start)
            frame_flops.append(timer.total_flops() - flops_before)
        if sample_every and index % sample_every == 0:
            stats = session.memory_stats()
            timeline.append(
                {
                    "frame": index,
                    "ms": 1000 * (time.perf_counter() - frame_start),
                    "rss_mib": current_rss_bytes() / 2**20,
                    "long_term": stats.long_term_elements,
                    "temporary": stats.temporary_elements,
                }
            )
        if on_frame is not None:
            on_frame()
        if index == warmup:  # count from the next frame on
            timer.reset()
            started = True
        if started and between is not None:
            between()
        frame_start, flops_before = time.perf_counter(), timer.total_flops()
    if not started:
        raise InputError(f"need more than {warmup + 1} frames to benchmark")
    return _Pass(timer, frame_seconds, frame_flops, len(object_ids), timeline)


class _GpuPeak:
    """Peak GPU memory of the frames alone, leaving out the peak convolution's runs (on an H200 its first
    fp32 runs, cuDNN trying algorithms, peaked at 34 GiB allocated; later runs at 0.4 GiB)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.bytes = device, 0

    def resume(self) -> None:
        """Start counting from the memory allocated now."""
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def pause(self) -> None:
        """Fold the peak since `resume` into `bytes`."""
        if self.device.type == "cuda":
            self.bytes = max(self.bytes, torch.cuda.max_memory_allocated(self.device))


class _TimedDecode:
    """Frames whose reading is timed as the "decode" stage."""

    def __init__(self, frames: Sequence[np.ndarray], timer: StageTimer) -> None:
        self.frames, self.timer = frames, timer

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> np.ndarray:
        with self.timer.stage("decode"):
            return self.frames[index]


def run_benchmark(
    model: XMemNetwork,
    frames: Sequence[np.ndarray],
    reference: np.ndarray,
    config: InferenceConfig,
    warmup: int = 2,
    on_frame: Callable[[], None] | None = None,
    sample_every: int = 0,
    count_flops: bool = True,
    compile: bool = False,
    cuda_graphs: bool = False,
    peak_repeats: int = 3,
    peak_between: bool = True,
) -> BenchResult:
    """Propagate `reference` (mask of frame 0) through `frames`, timing every stage.

    Decoding is timed by reading each frame; writing by encoding the index PNG as
    the CLI's writer does. The first `warmup` frames after the reference are not counted.

    Arguments:
        model: the network (eval mode) on the device to measure.
        frames, reference: the clip and the mask of its first frame.
        config: inference settings.
        warmup: frames after the reference that are not counted.
        on_frame: called after every processed frame (both passes).
        sample_every: > 0 records, every that many frames, the frame time, current RSS
            and memory sizes in `timeline` (long-clip flatness checks).
        count_flops: count every stage's FLOPs in a second, untimed pass over the same frames.
        compile: `torch.compile` the network (after the FLOP count, which runs eagerly).
        cuda_graphs: on CUDA, replay the per-frame calls as CUDA graphs (after the FLOP count).
        peak_repeats: runs of the peak convolution before and after the frames (best counts).
        peak_between: also run it between frames (a warm-up and a timed run each time, untimed
            for the frames), for `fraction_of_peak_between`.
    Returns:
        The measurements (see BenchResult).
    """
    device = next(model.parameters()).device
    counting = None
    if count_flops:
        counting = _propagate(model, frames, reference, config, warmup, True, on_frame, 0)
    if compile:
        model = compile_network(model)
    if cuda_graphs:
        model = use_cuda_graphs(model)
    probe = PeakConvolution(device, model.precision)  # the peak of the precision the network runs in
    edges = [probe.best(peak_repeats)]
    beside: list[float] = []  # GFLOP/s before the first counted frame, then after every counted frame
    memory = _GpuPeak(device)

    def between() -> None:
        memory.pause()
        beside.append(probe.best(1))
        memory.resume()

    memory.resume()
    timed = _propagate(
        model,
        frames,
        reference,
        config,
        warmup,
        False,
        on_frame,
        sample_every,
        between=between if peak_between else None,
    )
    memory.pause()
    edges.append(probe.best(peak_repeats))
    runs = edges + beside
    peak = max(runs)
    counted = len(timed.frame_seconds)
    stages = timed.timer.ms_per_frame(counted)
    gpu = memory.bytes / 2**30 if device.type == "cuda" else None
    cpu = processor(device)
    channels, height, width = PEAK_CONV
    result = BenchResult(
        hardware=cpu.describe(),
        device=str(device),
        precision=model.precision.value,
        conv=model.conv_algorithm.value,
        conv_choices=_conv_choices(),
        frame_size=tuple(frames[0].shape[:2]),
        processing_size=config.size,
        objects=timed.objects,
        frames=counted,
        fps=counted / timed.seconds,
        ms_per_frame=1000 * timed.seconds / counted,
        stages=stages,
        peak_rss_gib=peak_rss_bytes() / 2**30,
        peak_gpu_gib=gpu,
        timeline=timed.timeline,
        extensions=list(cpu.extensions),
        peak_gflops=peak,
        peak_range=(min(runs), peak),
        peak_between_gflops=len(beside) / sum(1 / rate for rate in beside) if beside else None,
        peak_kernel=f"conv 3x3 {channels}->{channels} at {height}x{width}, channels-last, {model.precision.value}",
        threads=torch.get_num_threads(),
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        xmempp_version=__version__,
        torch_version=torch.__version__,
    )
    if counting is not None:
        _add_rates(result, counting, timed, peak)
    return result


def _conv_choices() -> list[dict]:
    """What `auto` measured per convolution shape so far: milliseconds per path (direct, F2, F4) and the choice."""
    names = {0: "direct", 2: "F(2x2,3x3)", 4: "F(4x4,3x3)"}
    return [
        {
            "in": key[0],
            "out": key[1],
            "batch": key[2],
            "height": key[3],
            "width": key[4],
            "threads": key[5],
            "ms": {names[path]: 1000 * seconds for path, seconds in timing.seconds.items()},
            "chosen": names[timing.chosen],
        }
        for key, timing in timing_table().items()
    ]


def _add_rates(result: BenchResult, counting: _Pass, timed: _Pass, peak: float) -> None:
    """FLOPs per frame, achieved GFLOP/s and fraction of the peak, per stage and for the whole frame."""
    counted = len(timed.frame_seconds)
    flops = {name: total / counted for name, total in counting.timer.flops.items() if total}
    flops["frame"] = sum(flops.values())
    times = {**result.stages, "frame": result.ms_per_frame}
    for name, per_frame in flops.items():
        rate = per_frame / (times[name] / 1000) / 1e9 if times.get(name) else 0.0
        result.gflop_per_frame[name] = per_frame / 1e9
        result.gflops[name] = rate
        result.fraction_of_peak[name] = rate / peak
    rates = [flops / seconds / 1e9 for flops, seconds in zip(counting.frame_flops, timed.frame_seconds)]
    result.best_frame_fraction = max(rates) / peak if rates else None
    if result.peak_between_gflops:
        result.fraction_of_peak_between = result.gflops["frame"] / result.peak_between_gflops


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
    return (
        f"long-term cap ({cap} elements) reached by frame {first['frame']}: RSS {first['rss_mib']:.0f} MiB "
        f"then at most {peak:.0f} MiB ({100 * (peak / first['rss_mib'] - 1):+.1f} %); frame time "
        f"{early:.1f} ms in the first half after the cap, {late:.1f} ms in the second half"
    )


def review_ms_per_frame(frames: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> float:
    """Milliseconds the review (`xmempp.review`, both passes) spends per frame of `frames` with its index mask."""
    from xmempp.review import Reviewer

    if not frames:
        raise InputError("need at least one frame to time the review")
    reviewer = Reviewer()
    started = time.perf_counter()
    for index, (frame, ids) in enumerate(zip(frames, masks)):
        reviewer.add(index, str(index), frame, ids)
    reviewer.finish()
    return 1000 * (time.perf_counter() - started) / len(frames)
