"""Number formats the network runs in, per device, and what each device can run natively.

`auto` keeps the measured defaults: fp32 on the CPU and on MPS, fp16 autocast on CUDA (as the
reference XMem's `torch.cuda.amp.autocast`; on an H200 with the golden clips fp16 agrees with fp32 on
every decisive pixel, max |dp| 0.009, bf16 autocast only on 99.4 % of them). `bf16` on the CPU runs the
value encoder and the decoder on bf16 activations through oneDNN's bf16 kernels (`FusedConv2d` with bf16
packed weights); what decides the memory read stays fp32: the key encoder with its projection (the
keys), the memory read itself (similarity, top-k, softmax, readout aggregation) and the decoder's fusion
of the readout with the key features; so do the hidden state's update, the soft aggregation of objects
and everything that leaves the network (see `XMemNetwork.set_precision`). It is refused on CPUs without
native bf16 (AVX512-BF16 or AMX), where oneDNN emulates it and is slower than fp32.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from enum import Enum

import torch

from xmempp.errors import ConfigError, Remedy, RemedyKind

__all__ = ["PRECISIONS", "Precision", "activation_dtype", "autocast_for", "native_cpu_bf16", "resolve_precision"]


class Precision(str, Enum):
    """The number format a network runs in (`auto` is resolved per device by `resolve_precision`)."""

    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


#: The names accepted wherever a precision is given.
PRECISIONS = tuple(p.value for p in Precision)

_DTYPES = {Precision.bf16: torch.bfloat16, Precision.fp16: torch.float16}


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX tiles), as oneDNN's bf16 kernels need
    to be faster than fp32."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_precision(precision: str | Precision, device: torch.device) -> Precision:
    """The concrete precision (never `auto`) a network on `device` runs in.

    Arguments:
        precision: "auto", "fp32", "bf16" or "fp16".
        device: the network's device.
    Returns:
        `auto`: fp16 on CUDA, else fp32. Raises `ConfigError` (remedy: precision fp32) for an unknown
        name, fp16 off CUDA, bf16 on a CPU without native bf16 and anything but fp32 on MPS.
    """
    try:
        chosen = Precision(precision.strip().lower() if isinstance(precision, str) else precision)
    except ValueError:
        raise ConfigError(
            f"unknown precision {precision!r}", remedy=Remedy(RemedyKind.SET, "precision", choices=PRECISIONS)
        ) from None
    fp32 = Remedy(RemedyKind.SET, "precision", "fp32")
    if chosen is Precision.auto:
        return Precision.fp16 if device.type == "cuda" else Precision.fp32
    if chosen is Precision.fp32 or device.type == "cuda":
        return chosen
    if device.type == "cpu" and chosen is Precision.bf16:
        if not native_cpu_bf16():
            raise ConfigError(
                "bf16 needs a CPU with native bf16 (AVX512-BF16 or AMX); this one would emulate it, slower than fp32",
                remedy=fp32,
            )
        return chosen
    raise ConfigError(f"{chosen.value} is not supported on {device.type}", remedy=fp32)


def activation_dtype(precision: Precision, device: torch.device) -> torch.dtype:
    """The dtype of the activations inside the network parts: bf16 for CPU bf16 (the network casts its own
    inputs), else float32 (on CUDA, autocast picks the dtype per operation)."""
    return torch.bfloat16 if device.type == "cpu" and precision is Precision.bf16 else torch.float32


def autocast_for(device: torch.device, precision: Precision) -> AbstractContextManager:
    """The autocast context of a network in `precision` on `device`: CUDA fp16 / bf16 only (CPU bf16 casts
    explicitly, see `activation_dtype`); otherwise none."""
    if device.type != "cuda" or precision not in _DTYPES:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=_DTYPES[precision])
