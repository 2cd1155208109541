"""The machine's own limit: what processor this is, and the rate one large convolution reaches on it."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from xmempp.model.fused import FusedConv2d, conv_act
from xmempp.model.precision import Precision, activation_dtype, autocast_for
from xmempp.model.winograd import ConvAlgorithm

#: Vector / matrix extensions worth naming, as /proc/cpuinfo spells them (x86 "flags", Arm "Features").
_EXTENSIONS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "asimd",
    "asimdhp",
    "sve",
    "sve2",
    "bf16",
    "i8mm",
)

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
        return Processor(props.name, (f"compute capability {props.major}.{props.minor}",), props.multi_processor_count)
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


class PeakConvolution:
    """The reference convolution (see PEAK_CONV) in a given precision, set up once, to be timed any number of times.

    On the CPU it runs as the network's convolutions do (`conv_act` on a `FusedConv2d`: channels-last,
    oneDNN with the weight in its own layout, fp32 or bf16 activations and weights, batch 1 as a frame);
    on a GPU a batch of 8 under the precision's autocast, so the kernel can fill the device. Always the direct
    convolution (never Winograd, `xmempp.model.winograd`): the peak that effective rates are compared with.
    """

    def __init__(self, device: torch.device, precision: Precision = Precision.fp32) -> None:
        channels, height, width = PEAK_CONV
        self.device, self.precision = device, precision
        batch = 8 if device.type == "cuda" else 1
        self.flops = 2 * batch * channels * channels * 9 * height * width
        dtype = activation_dtype(precision, device)
        self.conv = (
            FusedConv2d(channels, channels, 3, padding=1, compute_dtype=dtype)
            .to(  # type: ignore[call-overload]
                device, memory_format=torch.channels_last
            )
            .eval()
        )  # torch stubs lack Module.to(memory_format=)
        self.conv.algorithm = ConvAlgorithm.direct
        self.x = (
            torch.randn(batch, channels, height, width, device=device)
            .to(dtype)
            .contiguous(memory_format=torch.channels_last)
        )

    @torch.inference_mode()
    def gflops(self) -> float:
        """GFLOP/s of one run."""
        with autocast_for(self.device, self.precision):
            _sync(self.device)
            start = time.perf_counter()
            conv_act(self.conv, self.x)
            _sync(self.device)
        return self.flops / (time.perf_counter() - start) / 1e9

    def best(self, repeats: int) -> float:
        """The best GFLOP/s of `repeats` runs after one warm-up run."""
        self.gflops()
        return max(self.gflops() for _ in range(repeats))
