"""The machine's own limit: what processor this is, and the rate one large convolution reaches on it."""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from xmempp.model.device import autocast_for

#: Vector / matrix extensions worth naming, as /proc/cpuinfo spells them (x86 "flags", Arm "Features").
_EXTENSIONS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
               "amx_int8", "asimd", "asimdhp", "sve", "sve2", "bf16", "i8mm")

#: The reference kernel: a 3x3 256->256 convolution at 120x216 (the decoder's largest, at 480p).
PEAK_CONV = (256, 120, 216)


@dataclass(frozen=True)
class Processor:
    """The processor a benchmark runs on."""

    name: str
    extensions: tuple[str, ...]
    threads: int

    def describe(self) -> str:
        """One line, e.g. "Intel Xeon @ 2.50GHz, 2 threads, AVX2 AVX512F AVX512_VNNI"."""
        ext = " ".join(e.upper() for e in self.extensions) or "no vector extensions found"
        return f"{self.name}, {self.threads} threads, {ext}"


def cpu_extensions(cpuinfo: str) -> tuple[str, ...]:
    """The known vector extensions listed in the text of /proc/cpuinfo, in `_EXTENSIONS` order."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return tuple(e for e in _EXTENSIONS if e in flags)


def processor(device: torch.device) -> Processor:
    """Describe the processor behind `device`: the GPU's name, or the CPU's model and extensions."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return Processor(props.name, (f"compute capability {props.major}.{props.minor}",),
                         props.multi_processor_count)
    name, text = platform.processor() or platform.machine(), ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        text = cpuinfo.read_text()
        for line in text.splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return Processor(name, cpu_extensions(text), torch.get_num_threads())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def conv_peak_gflops(device: torch.device, repeats: int = 5, autocast: bool = True) -> float:
    """GFLOP/s of the best of `repeats` runs of the reference convolution (see PEAK_CONV).

    Channels-last fp32 on CPU (batch 1, as a frame); on a GPU a batch of 8 under the
    same autocast policy as inference, so the kernel can fill the device.
    """
    channels, height, width = PEAK_CONV
    batch = 8 if device.type == "cuda" else 1
    x = torch.randn(batch, channels, height, width, device=device).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(channels, channels, 3, 3, device=device).contiguous(memory_format=torch.channels_last)
    bias = torch.randn(channels, device=device)
    flops = 2 * batch * channels * channels * 9 * height * width
    best = float("inf")
    with autocast_for(device, autocast):
        for attempt in range(repeats + 1):
            _sync(device)
            start = time.perf_counter()
            F.conv2d(x, weight, bias, padding=1)
            _sync(device)
            if attempt:  # the first run warms up
                best = min(best, time.perf_counter() - start)
    return flops / best / 1e9
