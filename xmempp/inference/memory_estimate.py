"""Estimate a job's peak memory before it runs, and refuse a run the machine cannot hold.

The estimate adds what a run allocates on top of what the process holds already (the network, the
runtime): the networks' activations at the processing size, the memory stores at their largest
(permanent + temporary + long-term elements, as the memory settings allow), the memory read's
similarity matrix (query positions x memory elements, the usual culprit at native 4K), the
full-resolution probabilities and frames queued for the writers, and on the CPU the copies of the
convolution weights in oneDNN's layout (one per input shape: `xmempp.model.fused.FusedConv2d`).
The coefficients were calibrated by measuring peak RSS on the CPU (see docs/benchmarks.md, "Memory guard
calibration").
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from xmempp.errors import Remedy, RemedyKind, ResourceError
from xmempp.inference.job_spec import ShotJob
from xmempp.inference.preprocess import Geometry
from xmempp.io.frame_capabilities import size_of
from xmempp.io.frames import Frames
from xmempp.model.fused import packed_weight_bytes
from xmempp.model.network import XMemNetwork
from xmempp.model.winograd import ConvAlgorithm

__all__ = ["MemoryEstimate", "available_memory", "check_job_memory", "estimate_job_memory"]

# Calibrated on the CPU (bytes per unit, see docs/benchmarks.md). The activation figures come from
# peak RSS over 3 native-size frames of 1280x720 with 1, 2 and 4 objects (508, 847, 1607 MB: about 366 MB
# per extra object) and of 854x480 with one object (147 MB); the estimate is 1.07-1.6x those.
_ACTIVATION_PER_PIXEL = 60  # key encoder + decoder, per processing pixel
_ACTIVATION_PER_OBJECT_PIXEL = 330  # value encoder, readout and decoder, per object and processing pixel
_SIMILARITY_COPIES = 4.2  # (query x memory) float32 matrices alive during a memory read
_STORE_COPIES = 3  # stores' spare capacity + the read layout's concatenated copy
_OUTPUT_COPIES = 5  # full-resolution (1+K) float32 probabilities in flight to the writers
_FRAME_COPIES = 6  # full-resolution RGB frames (prefetch, writer queue, float conversion)
# Winograd's transformed tiles and products (`--conv winograd`, or `auto`, which may pick them), per object and
# processing pixel: peak RSS over 3 native 1280x720 frames with 2 objects was 1.23 GB direct, 2.30 GB winograd and
# 2.60-2.70 GB auto with its first-use timing runs, Intel Xeon 2.8 GHz. The figure sits between the two ends, so the
# estimate stays within 2x of the peak whether auto's recorded choices are all direct or all Winograd.
_WINOGRAD_PER_OBJECT_PIXEL = 500


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory a job is expected to add, and what the machine has.

    Attributes:
        parts: bytes per part ("activations", "memory read", "memory stores", "outputs").
        device: "cpu" or the accelerator ("cuda:0", ...).
        device_parts: names of the parts that live on the accelerator (empty on the CPU).
        available: bytes available to this process on the CPU side.
        device_available: bytes free on the accelerator (None on the CPU).
        processing: (height, width) the frames are processed at.
        memory_elements: largest number of memory elements read at once.
    """

    parts: dict[str, int]
    device: str
    device_parts: tuple[str, ...]
    available: int
    device_available: int | None
    processing: tuple[int, int]
    memory_elements: int

    @property
    def total(self) -> int:
        """Bytes of every part together."""
        return sum(self.parts.values())

    @property
    def host(self) -> int:
        """Bytes needed in the machine's RAM."""
        return sum(v for k, v in self.parts.items() if k not in self.device_parts)

    @property
    def on_device(self) -> int:
        """Bytes needed on the accelerator (0 on the CPU)."""
        return sum(v for k, v in self.parts.items() if k in self.device_parts)

    def shortfall(self) -> str | None:
        """A sentence saying what does not fit, or None when the run fits."""
        if self.device_available is not None and self.on_device > self.device_available:
            return (
                f"needs about {_gib(self.on_device)} on {self.device} but {_gib(self.device_available)} is free there"
            )
        if self.host > self.available:
            return f"needs about {_gib(self.host)} more memory but {_gib(self.available)} is available"
        return None

    def breakdown(self) -> str:
        """The parts in words, largest first."""
        return ", ".join(f"{name} {_gib(size)}" for name, size in sorted(self.parts.items(), key=lambda p: -p[1]))


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def _memory_elements(job: ShotJob, per_frame: int) -> int:
    """Largest number of memory elements one read sees (permanent + temporary + long-term)."""
    config = job.config
    total = len(job.frames)
    references = len(job.references)
    permanent = references if job.mode == "xmempp" else 1
    writes = (total - 1) // config.mem_every + (references - 1 if job.mode == "xmem" else 0)
    temporary = min(config.max_mid_term_frames, writes)
    long_term = 0
    if config.enable_long_term and writes >= config.max_mid_term_frames:
        consolidations = 1 + (writes - config.max_mid_term_frames) // (
            config.max_mid_term_frames - config.min_mid_term_frames
        )
        long_term = min(config.max_long_term_elements, consolidations * config.num_prototypes)
    return (permanent + temporary) * per_frame + long_term


def available_memory() -> int:
    """Bytes of RAM this process can still use: the system's available memory, or less under a cgroup limit."""
    try:
        import psutil

        available = int(psutil.virtual_memory().available)
    except ImportError:
        available = _meminfo_available()
    limit = _cgroup_headroom()
    return min(available, limit) if limit is not None else available


def _meminfo_available() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _cgroup_headroom() -> int | None:
    """Limit minus usage of this process's cgroup (v2, then v1), or None when unlimited or unknown."""
    for limit_file, usage_file in (
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ):
        try:
            limit = Path("/sys/fs/cgroup", limit_file).read_text().strip()
            usage = int(Path("/sys/fs/cgroup", usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:
            return max(0, int(limit) - usage)
        return None
    return None


def estimate_job_memory(model: XMemNetwork, job: ShotJob) -> MemoryEstimate:
    """Estimate the memory a job adds at its peak (on top of the loaded network).

    Arguments:
        model: the loaded network (its widths and device count).
        job: a `ShotJob` (frame size, processing size, objects, memory settings, writer options).
    Returns:
        A `MemoryEstimate`.
    """
    height, width = _frame_size(job.frames)
    geometry = Geometry.for_frame(height, width, job.config.size)
    padded = (
        geometry.resized[0] + geometry.pad[2] + geometry.pad[3],
        geometry.resized[1] + geometry.pad[0] + geometry.pad[1],
    )
    pixels = padded[0] * padded[1]
    per_frame = pixels // 256
    objects = max(1, len(job.objects))
    dims = model.dims
    elements = _memory_elements(job, per_frame)
    element_bytes = 4 * (2 * dims.key_dim + 5 + objects * dims.value_dim)
    source = height * width
    parts = {
        "activations": int(pixels * (_ACTIVATION_PER_PIXEL + _ACTIVATION_PER_OBJECT_PIXEL * objects)),
        "memory read": int(_SIMILARITY_COPIES * 4 * per_frame * elements),
        "memory stores": int(_STORE_COPIES * element_bytes * elements),
        "outputs": int(source * (4 * (1 + objects) * _OUTPUT_COPIES + 3 * _FRAME_COPIES)),
    }
    device = next(model.parameters()).device
    on_device = device.type == "cuda"
    packed = packed_weight_bytes(model)
    if packed:  # the per-frame convolutions meet one input shape, the per-object ones a second with objects
        parts["packed weights"] = (2 if objects > 1 else 1) * packed
        if model.conv_algorithm != ConvAlgorithm.direct:
            parts["winograd tiles"] = int(_WINOGRAD_PER_OBJECT_PIXEL * pixels * objects)
    return MemoryEstimate(
        parts=parts,
        device=str(device),
        device_parts=("activations", "memory read", "memory stores") if on_device else (),
        available=available_memory(),
        device_available=int(torch.cuda.mem_get_info(device)[0]) if on_device else None,
        processing=geometry.resized,
        memory_elements=elements,
    )


def _frame_size(frames: Frames) -> tuple[int, int]:
    size = size_of(frames)
    if isinstance(size, tuple) and len(size) == 2:
        return int(size[0]), int(size[1])
    first = frames[0]
    return int(first.shape[0]), int(first.shape[1])


def check_job_memory(model: XMemNetwork, job: ShotJob, force: bool = False) -> ResourceError | None:
    """Refuse a job the machine cannot hold, before its first frame.

    Arguments:
        model: the loaded network.
        job: the `ShotJob` about to run.
        force: warn instead of refusing.
    Returns:
        None when the job fits; with `force`, the error it would have raised (for the front end to
        show as a warning). Raises `ResourceError` (what it needs, what is there, with remedies: a
        processing size that would fit, or forcing the run) otherwise.
    """
    estimate = estimate_job_memory(model, job)
    shortfall = estimate.shortfall()
    if shortfall is None:
        return None
    h, w = estimate.processing
    message = (
        f"this run {shortfall} (frames processed at {w}x{h}, {len(job.objects)} object(s), up to "
        f"{estimate.memory_elements} memory elements: {estimate.breakdown()})"
    )
    fitting = _fitting_size(model, job)
    smaller = (
        Remedy(RemedyKind.SET, "size", fitting)
        if fitting
        else Remedy(RemedyKind.SET, "size", note="lower (or lower the mem every setting)")
    )
    if force:
        return ResourceError(message, remedy=smaller)
    raise ResourceError(message, remedies=(smaller, Remedy(RemedyKind.ENABLE, "force", note="to run anyway")))


def _fitting_size(model: XMemNetwork, job: ShotJob) -> int | None:
    """The largest common processing size below the job's that fits, or None."""
    height, width = _frame_size(job.frames)
    current = min(height, width) if job.config.size == -1 else job.config.size
    for size in (2160, 1440, 1080, 720, 600, 480, 360, 240):
        smaller = dataclasses.replace(job, config=job.config.replace(size=size))
        if size < current and estimate_job_memory(model, smaller).shortfall() is None:
            return size
    return None
