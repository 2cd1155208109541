"""Replay the network's per-frame calls as CUDA graphs: no Python or launch overhead per kernel.

At 480p one frame is a few hundred small kernels, and on a fast GPU launching them from
Python costs more than running them. `use_cuda_graphs` captures each distinct call of
`encode_key`, `encode_value` and `segment` (same shapes, dtypes, flags and autocast state)
once, after a warm-up run, and replays it afterwards: the inputs are copied into the
graph's own input tensors and the outputs are cloned out at once, so nothing a caller
keeps is ever overwritten by a later replay. The graphs share one memory pool. Memory
reads (whose size grows with the memory) stay eager.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import torch

from xmempp.model.network import KeyFeatures, XMemNetwork

GRAPHED_CALLS = ("encode_key", "encode_value", "segment")


def _flatten(values: Any, tensors: list[torch.Tensor]) -> Any:
    """Replace every tensor in a (nested) argument by its position in `tensors`; return the skeleton."""
    if isinstance(values, torch.Tensor):
        tensors.append(values)
        return len(tensors) - 1
    if isinstance(values, KeyFeatures):
        return KeyFeatures, tuple(_flatten(getattr(values, f.name), tensors) for f in dataclasses.fields(values))
    if isinstance(values, (tuple, list)):
        return type(values), tuple(_flatten(v, tensors) for v in values)
    return "value", values


def _unflatten(skeleton: Any, tensors: list[torch.Tensor]) -> Any:
    """Rebuild what `_flatten` took apart, with `tensors` in the tensors' places."""
    if isinstance(skeleton, int):
        return tensors[skeleton]
    kind, content = skeleton
    if kind == "value":
        return content
    parts = [_unflatten(part, tensors) for part in content]
    return KeyFeatures(*parts) if kind is KeyFeatures else kind(parts)


class GraphedCall:
    """One network method whose calls are captured once per signature and replayed."""

    def __init__(self, function: Callable[..., Any], pool: list) -> None:
        self.function = function
        self.pool = pool  # [pool handle] shared by every graph of the network
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, list[torch.Tensor], Any, list[torch.Tensor]]] = {}
        self.lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tensors: list[torch.Tensor] = []
        skeleton = _flatten((args, tuple(sorted(kwargs.items()))), tensors)
        device = tensors[0].device
        if device.type != "cuda":
            return self.function(*args, **kwargs)
        key = (
            repr(skeleton),
            tuple((t.shape, t.dtype, t.stride()) for t in tensors),
            torch.is_autocast_enabled("cuda"),
            torch.get_autocast_dtype("cuda"),
        )
        with self.lock:
            entry = self.graphs.get(key) or self._capture(key, skeleton, tensors)
            graph, inputs, out_skeleton, outputs = entry
            for static, given in zip(inputs, tensors):
                static.copy_(given)
            graph.replay()
            return _unflatten(out_skeleton, [t.clone() for t in outputs])

    def _run(self, skeleton: Any, tensors: list[torch.Tensor]) -> Any:
        args, kwargs = _unflatten(skeleton, tensors)
        # the autocast cache would keep weight casts made during capture past its end: off here
        with torch.autocast(
            "cuda",
            dtype=torch.get_autocast_dtype("cuda"),
            enabled=torch.is_autocast_enabled("cuda"),
            cache_enabled=False,
        ):
            return self.function(*args, **dict(kwargs))

    def _capture(self, key: tuple, skeleton: Any, tensors: list[torch.Tensor]) -> tuple:
        inputs = [t.clone(memory_format=torch.preserve_format) for t in tensors]
        side = torch.cuda.Stream(device=inputs[0].device)
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up: library handles, cuDNN algorithm choice
            self._run(skeleton, inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread-local: other threads (frame prefetch, writers) may use CUDA while this one captures
        with torch.cuda.graph(graph, pool=self.pool[0] if self.pool else None, capture_error_mode="thread_local"):
            result = self._run(skeleton, inputs)
        if not self.pool:
            self.pool.append(graph.pool())
        outputs: list[torch.Tensor] = []
        out_skeleton = _flatten(result, outputs)
        self.graphs[key] = (graph, inputs, out_skeleton, outputs)
        return self.graphs[key]


def use_cuda_graphs(network: XMemNetwork) -> XMemNetwork:
    """Replay `network`'s encode_key, encode_value and segment as CUDA graphs (in place; CUDA only).

    A network on another device is returned unchanged. Results are those of the eager network
    with the same kernels; each new shape, object count or flag costs one warm-up run and a capture.
    """
    if next(network.parameters()).device.type != "cuda":
        return network
    pool: list = []
    for name in GRAPHED_CALLS:
        setattr(network, name, GraphedCall(getattr(network, name), pool))
    return network
