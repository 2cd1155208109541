"""The one path from command-line options to a network and its settings.

Every command that runs the network (`process`, `demo`, `candidates`, `bench`) declares its weights,
device, precision, convolution algorithm, threads and inference options with the `Annotated` aliases below
and turns them into a network with
`load_network` and into an `InferenceConfig` with `build_config`, so they share flags, help texts,
the weights download bar and the config-file handling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console

from xmempp import InferenceConfig, XMemNetwork, load_model
from xmempp.inference.plan import Mode
from xmempp.model.cuda_graphs import use_cuda_graphs
from xmempp.model.loading import compile_network
from xmempp.model.precision import Precision
from xmempp.model.weights import resolve_weights
from xmempp.model.winograd import ConvAlgorithm

from .progress import download_progress

ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        help="XMem checkpoint; default: the official XMem.pth (`xmempp weights path`, downloaded on first use).",
    ),
]
DeviceOption = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="JSON file of InferenceConfig fields.")]
SizeOption = Annotated[
    int | None,
    typer.Option(
        "--size", help="Processing size: shorter side in pixels; -1 keeps the source resolution (default 480)."
    ),
]
ModeOption = Annotated[
    Mode, typer.Option("--mode", help="xmempp: every annotation in permanent memory; xmem: the original mechanism.")
]
CompileOption = Annotated[
    bool, typer.Option("--compile", help="torch.compile the network (slow start; for long shots on GPU).")
]
CudaGraphsOption = Annotated[
    bool,
    typer.Option(
        "--cuda-graphs/--no-cuda-graphs",
        help="On CUDA, replay each frame's network calls as CUDA graphs (no "
        "per-kernel launch cost: the 480p network 1.5x faster on an H200); "
        "ignored on other devices.",
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
ForceUnlockOption = Annotated[
    bool,
    typer.Option("--force-unlock", help="Take over the output folder's lock from another run (one on a lost host)."),
]
PrecisionOption = Annotated[
    Precision,
    typer.Option(
        "--precision",
        help="Number format of the network: auto (fp32 on CPU, fp16 on CUDA), fp32, bf16 (CUDA, or CPUs "
        "with AVX512-BF16 / AMX: memory read stays fp32) or fp16 (CUDA only).",
    ),
]
ConvOption = Annotated[
    ConvAlgorithm,
    typer.Option(
        "--conv",
        help="How the 3x3 convolutions run on the CPU in fp32: auto (the fastest of direct and Winograd, "
        "measured once per machine and shape, recorded in conv_timings.json in the user cache), direct "
        "(oneDNN) or winograd (F(4x4,3x3)).",
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        help="CPU threads for torch (default: torch's own choice). CPU results depend on it: "
        "a checkpoint resumes only with the same count.",
    ),
]


def set_threads(threads: int | None) -> None:
    """Give torch `threads` intra-op CPU threads (None keeps torch's default)."""
    if threads:
        torch.set_num_threads(threads)


def build_config(
    config_file: Path | None, size: int | None = None, mem_every: int | None = None, top_k: int | None = None
) -> InferenceConfig:
    """InferenceConfig from an optional JSON file, then the command-line overrides.

    Arguments:
        config_file: JSON object of InferenceConfig fields, or None for the XMem++ defaults.
        size, mem_every, top_k: flags that override the file when given.
    Returns:
        A validated InferenceConfig (`ConfigError` for a bad file or value).
    """
    config = InferenceConfig.from_json(config_file) if config_file else InferenceConfig()
    overrides = {k: v for k, v in {"size": size, "mem_every": mem_every, "top_k": top_k}.items() if v is not None}
    return config.replace(**overrides) if overrides else config


def load_network(
    model: Path | None,
    device: str,
    console: Console,
    compile: bool = False,
    random_weights: bool = False,
    cuda_graphs: bool = False,
    precision: Precision = Precision.auto,
    conv: ConvAlgorithm = ConvAlgorithm.auto,
) -> XMemNetwork:
    """Resolve the weights (downloading the official ones on first use, with a progress bar) and load the network.

    Arguments:
        model: an explicit checkpoint path, or None for the default XMem.pth.
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        console: where the download progress bar goes.
        compile: wrap the network parts in `torch.compile`.
        random_weights: skip the weights and use a randomly initialised network (speed checks only).
        cuda_graphs: on CUDA, replay the per-frame calls as CUDA graphs (`use_cuda_graphs`).
        precision: the network's number format (`ConfigError` where the device cannot run it).
        conv: how its 3x3 stride-1 convolutions run on the CPU (`xmempp.model.winograd`).
    Returns:
        The network in eval mode on the chosen device.
    """
    if random_weights:
        network = load_model(XMemNetwork().state_dict(), device=device, precision=precision, conv=conv)
    else:
        with download_progress(console) as progress:
            path = resolve_weights(model, progress=progress)
        network = load_model(path, device=device, precision=precision, conv=conv)
    if compile:
        network = compile_network(network)
    return use_cuda_graphs(network) if cuda_graphs else network
