"""Build an XMemNetwork from an official-format checkpoint or state dict."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch

from xmempp.errors import Remedy, RemedyKind, WeightsError
from xmempp.model.device import resolve_device
from xmempp.model.fused import fold_batchnorms
from xmempp.model.network import NetworkDims, XMemNetwork
from xmempp.model.precision import Precision, activation_dtype, resolve_precision
from xmempp.model.winograd import ConvAlgorithm, resolve_conv_algorithm
from xmempp.resources import reuse_freed_memory

_VALUE_CONV = "value_encoder.conv1.weight"


def infer_dims(state: Mapping[str, torch.Tensor]) -> NetworkDims:
    """Read key, value and hidden widths off the checkpoint tensors."""
    try:
        key_dim = state["key_proj.key_proj.weight"].shape[0]
        value_dim = state["value_encoder.fuser.block2.conv2.weight"].shape[0]
    except KeyError as exc:
        raise WeightsError(f"not an XMem checkpoint: it has no {exc.args[0]!r} tensor") from None
    transform = state.get("decoder.hidden_update.transform.weight")
    hidden_dim = 0 if transform is None else transform.shape[0] // 3
    return NetworkDims(key_dim=key_dim, value_dim=value_dim, hidden_dim=hidden_dim)


def _read_checkpoint(path: Path) -> Mapping[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}", remedy=Remedy(RemedyKind.DOWNLOAD_WEIGHTS, "model"))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's text advises weights_only=False (running the file's code): not ours
        raise WeightsError(
            f"cannot read weights file {path}: it is damaged, or it is not a checkpoint of plain "
            f"tensors (other Python objects are never loaded, for safety)",
            remedy=Remedy(RemedyKind.DOWNLOAD_WEIGHTS, "model"),
        ) from None
    except Exception as exc:  # torch raises many types for a bad file
        raise WeightsError(
            f"cannot read weights file {path}: it is damaged or incomplete ({type(exc).__name__})",
            remedy=Remedy(RemedyKind.DOWNLOAD_WEIGHTS, "model"),
        ) from None
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors; is it an XMem checkpoint?")
    return state


def _pad_value_conv(state: dict[str, torch.Tensor]) -> None:
    """Old single-object checkpoints have 4 input channels; pad to 5 with zeros."""
    weight = state.get(_VALUE_CONV)
    if weight is not None and weight.shape[1] == 4:
        pad = torch.zeros(weight.shape[0], 1, *weight.shape[2:], dtype=weight.dtype)
        state[_VALUE_CONV] = torch.cat([weight, pad], dim=1)


def load_model(
    source: str | Path | Mapping[str, torch.Tensor],
    device: str | torch.device = "auto",
    precision: str | Precision = "auto",
    conv: str | ConvAlgorithm = "auto",
) -> XMemNetwork:
    """Load XMem weights strictly and return the network in eval mode.

    Arguments:
        source: path to an official XMem checkpoint (.pth) or its state dict.
        device: "auto" (cuda, then mps, then cpu), or an explicit torch device string.
        precision: "auto", "fp32", "bf16" or "fp16" (see `xmempp.model.precision`; `ConfigError` where
            the device cannot run it).
        conv: how the 3x3 stride-1 convolutions run on the CPU in fp32: "auto" (the fastest measured per
            shape), "direct" (oneDNN) or "winograd" (see `xmempp.model.winograd`; `ConfigError` for another name).
    Returns:
        The XMemNetwork on `device`, in eval mode, dims inferred from the weights, its `precision`
        resolved, its batch norms folded into the convolutions and every convolution a `FusedConv2d`
        (inference only; see `fold_batchnorms` and `XMemNetwork.set_precision`: on the CPU their weights
        also kept in oneDNN's layout, in bf16 for the bf16 path) and, on the CPU, freed memory kept for
        the next frame (`reuse_freed_memory`). On CUDA this turns on `torch.backends.cudnn.benchmark`
        (fastest algorithm per shape).
    """
    target = resolve_device(device)
    chosen = resolve_precision(precision, target)
    algorithm = resolve_conv_algorithm(conv)
    state = dict(source) if isinstance(source, Mapping) else dict(_read_checkpoint(Path(source)))
    _pad_value_conv(state)
    network = XMemNetwork(infer_dims(state))
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise WeightsError(
            "not an XMem checkpoint: "
            + "; ".join(part for part in (_describe("missing", missing), _describe("unexpected", unexpected)) if part)
        )
    wrong = [k for k in expected if tuple(expected[k].shape) != tuple(state[k].shape)]
    if wrong:
        raise WeightsError(
            "XMem checkpoint has tensors of the wrong shape: "
            + ", ".join(f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})" for k in wrong[:5])
        )
    network.load_state_dict(state, strict=True)
    fold_batchnorms(network.eval())
    # Channels-last convolutions are markedly faster on CPU (oneDNN) and on tensor-core GPUs.
    network = network.to(target, memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch stubs lack memory_format
    network.set_precision(chosen, activation_dtype(chosen, target))
    network.set_conv_algorithm(algorithm)
    if target.type == "cpu":
        reuse_freed_memory()
    if target.type == "cuda":
        # a shot's frames all have one shape: let cuDNN time its algorithms once per shape and keep the fastest
        torch.backends.cudnn.benchmark = True
    return network


def _describe(kind: str, keys: list[str]) -> str:
    if not keys:
        return ""
    shown = ", ".join(keys[:5])
    more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    return f"{len(keys)} {kind} key(s): {shown}{more}"


def compile_network(network: XMemNetwork) -> XMemNetwork:
    """Compile the key encoder, value encoder and decoder with `torch.compile` (in place).

    Opt-in (`--compile`): the first frames are slow while kernels compile; on this
    project's CPU machine it did not pay off, on GPUs it usually does.
    """
    for name in ("key_encoder", "key_proj", "value_encoder", "decoder"):
        setattr(network, name, torch.compile(getattr(network, name), dynamic=False))
    return network
