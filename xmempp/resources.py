"""Peak memory of this process: RSS on the CPU, allocator peak on a GPU."""
from __future__ import annotations

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
