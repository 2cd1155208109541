"""Options shared by the commands that run the network: weights, device and inference settings."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.console import Console

from xmempp import InferenceConfig, XMemNetwork, load_model
from xmempp.model.loading import compile_network
from xmempp.model.weights import resolve_weights

from .progress import download_progress


def build_config(config_file: Optional[Path], size: Optional[int] = None, mem_every: Optional[int] = None,
                 top_k: Optional[int] = None) -> InferenceConfig:
    """InferenceConfig from an optional JSON file, then the command-line overrides.

    Arguments:
        config_file: JSON object of InferenceConfig fields, or None for the XMem++ defaults.
        size, mem_every, top_k: flags that override the file when given.
    Returns:
        A validated InferenceConfig.
    """
    config = InferenceConfig.from_json(config_file) if config_file else InferenceConfig()
    overrides = {k: v for k, v in {"size": size, "mem_every": mem_every, "top_k": top_k}.items() if v is not None}
    return config.replace(**overrides) if overrides else config


def load_network(model: Optional[Path], device: str, console: Console, compile: bool = False) -> XMemNetwork:
    """Resolve the weights (downloading the official ones on first use) and load the network.

    Arguments:
        model: an explicit checkpoint path, or None for the default XMem.pth.
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        console: where the download progress bar goes.
        compile: wrap the network parts in `torch.compile`.
    Returns:
        The network in eval mode on the chosen device.
    """
    with download_progress(console) as progress:
        path = resolve_weights(model, progress=progress)
    network = load_model(path, device=device)
    return compile_network(network) if compile else network
