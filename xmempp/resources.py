"""This process's memory: peak RSS on the CPU, allocator peak on a GPU, and how freed memory is kept."""
from __future__ import annotations

import ctypes
import ctypes.util
import resource
import sys

import torch


def peak_rss_bytes() -> int:
    """Peak resident set size of this process in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def peak_memory_text(model: torch.nn.Module) -> str:
    """Human-readable peak memory for the device `model` runs on."""
    device = next(model.parameters()).device
    text = f"{peak_rss_bytes() / 2**30:.2f} GiB RSS"
    if device.type == "cuda":
        text += f", {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB on {torch.cuda.get_device_name(device)}"
    return text


#: mallopt parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def reuse_freed_memory(mmap_threshold: int = 256 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Have glibc's malloc keep freed memory for reuse instead of handing it back to the system.

    A CPU frame allocates and frees the same large tensors every frame. By default glibc
    serves blocks over 32 MiB with fresh mappings and returns free memory over 64 MiB at the top
    of its heap, so every frame touches new pages: about 20,000 page faults a 480p frame, each
    a few microseconds in a VM. With blocks up to `mmap_threshold` taken from the heap and up to
    `trim_threshold` of free memory kept, the pages are reused. Peak RSS is unchanged; RSS just
    does not fall between frames. Process-wide; a no-op where the C library is not glibc.

    Returns:
        Whether the C library took both settings.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) & bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
