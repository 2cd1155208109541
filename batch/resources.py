"""What one shot needs from a farm host, from the job API's memory estimate: RAM, GPU memory, and how many shots
one GPU holds (a Ray task's fractional `num_gpus`, an OpenJD step's `hostRequirements`).

The estimate (`xmempp.inference.memory_estimate`) gives what a run adds on top of a loaded network; a worker
also holds the Python process with torch (`PROCESS_BYTES`, about 250 MB measured after the imports on the CPU,
doubled for the allocator's slack), the network's weights, and on a GPU the CUDA runtime (`CUDA_RUNTIME_BYTES`,
an allowance for the context and the cuDNN/cuBLAS workspaces, not measured here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from xmempp.inference.job_spec import ShotJob
from xmempp.inference.memory_estimate import estimate_job_memory
from xmempp.model.loading import load_model
from xmempp.model.network import XMemNetwork

__all__ = ["MIB", "ShotNeeds", "estimate_network", "gpu_request", "is_gpu_device", "shot_needs", "shots_per_gpu"]

MIB = 1 << 20
#: The worker process itself: Python, torch and xmempp imported (250 MB measured on the CPU), with slack.
PROCESS_BYTES = 512 * MIB
#: The CUDA context, cuDNN/cuBLAS workspaces and the caching allocator's slack on a GPU (an allowance).
CUDA_RUNTIME_BYTES = 1024 * MIB
#: Parts of the estimate that live on the GPU when a shot runs on one.
GPU_PARTS = ("activations", "memory read", "memory stores")
#: Share of a GPU's memory shots may plan to use together (the rest absorbs the estimate's error).
GPU_USABLE = 0.9
#: Most shots that share one GPU: beyond two they wait on each other's kernels more than they gain.
MAX_SHOTS_PER_GPU = 2


@dataclass(frozen=True)
class ShotNeeds:
    """What one shot's worker needs at its peak.

    Attributes:
        cpu_ram: RAM of a worker running the shot on the CPU (bytes).
        gpu_ram: RAM of a worker running the shot on a GPU (bytes; the network's work is on the GPU).
        gpu_memory: GPU memory of a worker running the shot on a GPU (bytes).
    """

    cpu_ram: int
    gpu_ram: int
    gpu_memory: int

    def ram(self, device: str | None) -> int:
        """RAM on `device` ("cpu", "cuda", "cuda:N"; None or "auto": the CPU's, the larger, as the host may have no
        GPU)."""
        if is_gpu_device(device):
            return self.gpu_ram
        return self.cpu_ram


def is_gpu_device(device: str | None) -> bool:
    """Whether a `--device` value asks for a CUDA GPU."""
    return bool(device) and str(device).split(":")[0] == "cuda"


def shot_needs(network: XMemNetwork, job: ShotJob) -> ShotNeeds:
    """A shot's needs from its memory estimate.

    Arguments:
        network: the network (on the CPU: only its widths and weights' size count).
        job: the opened shot.
    Returns:
        Its `ShotNeeds`.
    """
    estimate = estimate_job_memory(network, job)
    weights = sum(p.numel() * p.element_size() for p in network.parameters())
    on_gpu = sum(size for part, size in estimate.parts.items() if part in GPU_PARTS)
    host_on_gpu_run = sum(
        size for part, size in estimate.parts.items() if part not in GPU_PARTS and part != "packed weights"
    )  # oneDNN's weight copies exist on the CPU only
    return ShotNeeds(
        cpu_ram=PROCESS_BYTES + weights + estimate.total,
        gpu_ram=PROCESS_BYTES + weights + host_on_gpu_run,  # weights are read on the CPU first
        gpu_memory=CUDA_RUNTIME_BYTES + weights + on_gpu,
    )


def shots_per_gpu(gpu_memory: int, gpu_total: int, limit: int = MAX_SHOTS_PER_GPU) -> int:
    """How many shots needing `gpu_memory` bytes each fit together on a GPU of `gpu_total` bytes (at least 1:
    a shot larger than the GPU still gets a whole one, and its own memory check says what does not fit)."""
    if gpu_memory <= 0 or gpu_total <= 0:
        return 1
    return max(1, min(limit, int(GPU_USABLE * gpu_total // gpu_memory)))


def gpu_request(gpu_memory: int | None, gpu_total: int | None, limit: int = MAX_SHOTS_PER_GPU) -> float:
    """A Ray task's `num_gpus` for a shot: 1/n where n shots fit on one GPU (`shots_per_gpu`), or 1 when the
    shot's need or the GPU's memory is unknown."""
    if gpu_memory is None or gpu_total is None:
        return 1.0
    return 1.0 / shots_per_gpu(gpu_memory, gpu_total, limit)


def mib(size: int) -> int:
    """Bytes as whole MiB, rounded up (OpenJD's memory amounts are in MiB)."""
    return math.ceil(size / MIB)


def estimate_network(model: Path | None) -> XMemNetwork:
    """The network whose widths and weights size a batch's needs: the checkpoint `model` when this machine has
    it, else the official XMem's architecture (a farm's weights path may exist on its hosts only)."""
    if model is not None and Path(model).is_file():
        return load_model(Path(model), device="cpu")
    return XMemNetwork()
