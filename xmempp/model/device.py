"""Device selection and autocast policy (never assumes CUDA)."""
from __future__ import annotations

import contextlib
from typing import ContextManager

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


def autocast_for(device: torch.device, enabled: bool = True) -> ContextManager:
    """Autocast on GPU only, in fp16 as the reference XMem's `torch.cuda.amp.autocast`. CPU runs in fp32.

    fp16 rather than bf16: measured on an H200 with the golden clips, fp16 agrees with fp32 on every
    decisive pixel (max |dp| 0.009), bf16 only on 99.4 % of them (max |dp| 0.030).
    """
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.float16)


def to_host(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` on the CPU. From a CUDA device it lands in page-locked memory from PyTorch's caching host
    allocator: a freed result's memory is reused by the next one (a fresh 50 MB buffer per frame, as for
    five objects' probabilities at 1080p, would be mapped and faulted in anew every time) and the copy
    runs at the bus's full rate."""
    if tensor.device.type != "cuda":
        return tensor.cpu()
    return torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True).copy_(tensor)
