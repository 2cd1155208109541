"""This process's memory: peak RSS on the CPU, allocator peak on a GPU, and how freed memory is kept."""

from __future__ import annotations

import ctypes
import ctypes.util
import resource
import sys

import torch


def peak_rss_bytes() -> int:
    """Peak resident set size of this process in bytes.

    On Linux the kernel's high-water mark of this process's own memory (VmHWM): `ru_maxrss` carries
    over the parent's peak into a process it starts (a worker or a test's subprocess started from a
    3 GB process reports at least 3 GB). Elsewhere `ru_maxrss`.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
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


def reuse_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Have glibc's malloc keep freed memory for reuse instead of handing it back to the system.

    A CPU frame allocates and frees the same large tensors every frame. By default glibc gives
    free memory over 64 MiB at the top of its heap back (and maps blocks over 128 KiB afresh
    until a free raises that threshold), so every frame touches new pages: about 26,000 page
    faults a 480p frame with one object, each a few microseconds in a VM. Here blocks up to
    `mmap_threshold` come from the heap and up to `trim_threshold` of free memory is kept: no
    faults in steady state at 480p with one object. Blocks over 32 MiB (several objects, large
    frames) still get their own mappings: taking them from the heap too removed their faults but
    fragmented it (peak RSS +50 % for two objects at 720p). Process-wide; a no-op off glibc.

    Returns:
        Whether the C library took both settings.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) & bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
