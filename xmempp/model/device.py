"""Device selection and host transfers (never assumes CUDA); the number formats are in `precision`."""

from __future__ import annotations

import torch

from xmempp.errors import ConfigError, Remedy, RemedyKind

_CPU_OR_AUTO = Remedy(RemedyKind.SET, "device", choices=("cpu", "auto"))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Pick a torch device: "auto" prefers cuda, then mps, then cpu.

    Raises ConfigError when an explicitly requested device is not available.
    """
    if isinstance(device, torch.device):
        return device
    name = device.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available", remedy=_CPU_OR_AUTO)
    if chosen.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"device {device!r} requested but MPS is not available", remedy=_CPU_OR_AUTO)
    return chosen


def to_host(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` on the CPU. From a CUDA device it lands in page-locked memory from PyTorch's caching host
    allocator: a freed result's memory is reused by the next one (a fresh 50 MB buffer per frame, as for
    five objects' probabilities at 1080p, would be mapped and faulted in anew every time) and the copy
    runs at the bus's full rate."""
    if tensor.device.type != "cuda":
        return tensor.cpu()
    return torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True).copy_(tensor)
