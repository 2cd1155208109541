"""Winograd minimal filtering for the network's 3x3 stride-1 convolutions on the CPU (fp32).

F(m x m, 3x3) computes an m x m output tile from an (m+2) x (m+2) input tile with (m+2)^2 multiplications
per input and output channel instead of 9 m^2: 2.25x fewer for F(2x2,3x3), 4x fewer for F(4x4,3x3).
Per convolution:

- the filter transform U = G w G^T is made once per weight and tile size (on first use, kept with the
  weight as a `FusedConv2d.derived` copy: (a^2, C, K) for a = m+2);
- the input tiles are gathered from the channels-last input (a^2 strided copies of whole channel rows,
  the zero padding left in place), transformed by one small matrix product (B^T (x) B^T on the a^2 tile
  points), multiplied by U as a^2 batched matrix products (`torch.bmm`, the bulk of the work), and
  transformed back by one more product (A^T (x) A^T); the bias is added at the one transform point that
  reaches every output pixel, the residual sum and ReLU on the way into the channels-last output;
- the tiles run in row blocks of a few MB, so a block's transforms stay in the caches and every buffer
  stays under the allocator's 32 MiB mapping threshold (see `reuse_freed_memory`).

Which path a convolution takes is its `FusedConv2d.algorithm`: `direct` (oneDNN), `winograd` (F(4x4,3x3)
wherever it applies) or `auto`, which times the direct path, F(2x2,3x3) and F(4x4,3x3) on the first input of
each shape (per input and output channels, batch, height, width and thread count; a process-wide table
shared by convolutions of the same shape) and keeps the fastest of what it measured (`timing_table`).
`direct_convolutions()` forces the direct path (the benchmark's FLOP count and the peak convolution).
"""
from __future__ import annotations

import contextlib
import functools
import contextvars
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Callable, Iterator

import torch
from torch import nn

from xmempp.errors import ConfigError, Remedy, RemedyKind

if TYPE_CHECKING:
    from xmempp.model.fused import FusedConv2d

__all__ = ["ConvAlgorithm", "CONV_ALGORITHMS", "resolve_conv_algorithm", "set_conv_algorithm", "applies",
           "winograd_conv", "choose_tile", "timing_table", "Timing", "direct_convolutions", "TILES"]


class ConvAlgorithm(str, Enum):
    """How the 3x3 stride-1 convolutions run on the CPU (`auto`: the fastest measured per shape)."""

    auto = "auto"
    direct = "direct"
    winograd = "winograd"


#: The names accepted wherever a convolution algorithm is given.
CONV_ALGORITHMS = tuple(a.value for a in ConvAlgorithm)

#: Output tile sizes m of F(m x m, 3x3) on offer; 0 stands for the direct path.
TILES = (2, 4)

#: The tile size `winograd` uses everywhere it applies.
_FORCED_TILE = 4

#: Bytes of one transformed block's input (a^2 x tiles x channels floats) aimed at: under the allocator's
#: 32 MiB mapping threshold, and large, since on a loaded machine every operation's thread barrier costs.
_BLOCK_BYTES = 24 << 20

_FORCE_DIRECT: contextvars.ContextVar[bool] = contextvars.ContextVar("xmempp_force_direct", default=False)


def resolve_conv_algorithm(algorithm: str | ConvAlgorithm) -> ConvAlgorithm:
    """`algorithm` as a `ConvAlgorithm` (`ConfigError`, remedy: conv auto, for an unknown name)."""
    try:
        return ConvAlgorithm(algorithm.strip().lower() if isinstance(algorithm, str) else algorithm)
    except ValueError:
        raise ConfigError(f"unknown convolution algorithm {algorithm!r}",
                          remedy=Remedy(RemedyKind.SET, "conv", choices=CONV_ALGORITHMS)) from None


def set_conv_algorithm(module: nn.Module, algorithm: str | ConvAlgorithm) -> ConvAlgorithm:
    """Give every `FusedConv2d` of `module` the convolution algorithm `algorithm` (in place).

    Returns:
        The algorithm as a `ConvAlgorithm`.
    """
    from xmempp.model.fused import FusedConv2d

    chosen = resolve_conv_algorithm(algorithm)
    for conv in module.modules():
        if isinstance(conv, FusedConv2d):
            conv.algorithm = chosen
    return chosen


@contextlib.contextmanager
def direct_convolutions() -> Iterator[None]:
    """Run every convolution on the direct path inside this block (this thread / context only)."""
    token = _FORCE_DIRECT.set(True)
    try:
        yield
    finally:
        _FORCE_DIRECT.reset(token)


def applies(conv: nn.Conv2d) -> bool:
    """Whether `conv` has the form Winograd computes here: 3x3, stride 1, padding 1, no dilation or groups,
    more than one output channel (one-output convolutions take `conv_act`'s own path)."""
    return conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1) \
        and conv.dilation == (1, 1) and conv.groups == 1 and conv.out_channels > 1


@dataclass(frozen=True)
class _Transform:
    """F(m x m, 3x3)'s matrices, float64: input B^T (a x a), filter G (a x 3), output A^T (m x a)."""

    m: int
    bt: torch.Tensor
    g: torch.Tensor
    at: torch.Tensor

    @property
    def a(self) -> int:
        return self.m + 2


def _transforms() -> dict[int, _Transform]:
    f64 = torch.float64
    f2 = _Transform(2, torch.tensor([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=f64),
                    torch.tensor([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], dtype=f64),
                    torch.tensor([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=f64))
    # Lavin & Gray's points 0, +-1, +-2, infinity
    f4 = _Transform(4, torch.tensor([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                                     [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=f64),
                    torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=f64),
                    torch.tensor([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                                  [0, 1, -1, 8, -8, 1]], dtype=f64))
    return {2: f2, 4: f4}


_TRANSFORMS = _transforms()

#: The transform point whose output transform is 1 at every output pixel (A^T's column 1 is all ones in
#: both transforms): the bias is added there once per tile.
_BIAS_POINT = 1


@dataclass(frozen=True)
class _Prepared:
    """A convolution's transformed filter and the transforms, float32: u (a^2, C, K), bk (a^2, a^2) and
    ak (m^2, a^2), the bias (K) or None."""

    m: int
    u: torch.Tensor
    bk: torch.Tensor
    ak: torch.Tensor
    bias: torch.Tensor | None


def _prepare(conv: "FusedConv2d", m: int) -> _Prepared:
    """`conv`'s filter transformed for F(m x m, 3x3) (in float64, stored float32), made once per weight."""
    def make() -> _Prepared:
        t = _TRANSFORMS[m]
        weight = conv.weight.detach().double()
        u = torch.einsum("xi,kcij,yj->xykc", t.g, weight, t.g).reshape(t.a * t.a, weight.shape[0], weight.shape[1])
        bias = None if conv.bias is None else conv.bias.detach().float()
        return _Prepared(m, u.transpose(1, 2).float().contiguous(), torch.kron(t.bt, t.bt).float(),
                         torch.kron(t.at, t.at).float(), bias)
    return conv.derived(f"winograd{m}", None, make)


def winograd_conv(conv: "FusedConv2d", x: torch.Tensor, m: int, add: torch.Tensor | None = None,
                  relu: bool = False, reuse_add: bool = False) -> torch.Tensor:
    """relu?(conv(x) + add) by F(m x m, 3x3) (see the module docstring).

    Arguments:
        conv: a convolution of the form `applies` accepts.
        x: its (N, C, H, W) float32 CPU input (any layout; read as channels-last).
        m: the output tile size, 2 or 4.
        add: a tensor of the output's shape added before the ReLU (residual).
        relu: apply ReLU last.
        reuse_add: the caller gives `add` up: the result is written into it (channels-last).
    Returns:
        The (N, K, H, W) channels-last result.
    """
    p = _prepare(conv, m)
    a, a2 = m + 2, (m + 2) ** 2
    x = x.contiguous(memory_format=torch.channels_last)
    n, c, h, w = x.shape
    k = p.u.shape[2]
    rows, cols = -(-h // m), -(-w // m)
    exact = h % m == 0 and w % m == 0
    into_add = add is not None and reuse_add and exact and not _shares_memory(add, x)
    if add is not None:
        add = add.contiguous(memory_format=torch.channels_last)
    if into_add:
        assert add is not None
        out = add
    else:
        out = torch.empty((n, k, rows * m, cols * m), dtype=x.dtype, memory_format=torch.channels_last)
    tiles_out = out.permute(0, 2, 3, 1).view(n, rows, m, cols, m, k)  # NHWC by tile
    padded = _padded(x, rows * m + 2, cols * m + 2)  # (N, Hp, Wp, C)
    pitch = padded.stride()
    block = max(1, _BLOCK_BYTES // (a2 * cols * max(c, k) * 4))
    buffers: dict[int, tuple[torch.Tensor, ...]] = {}
    for image in range(n):
        for top in range(0, rows, block):
            count = min(block, rows - top)
            if count not in buffers:
                tiles = count * cols
                buffers[count] = (x.new_empty(a, a, count, cols, c), x.new_empty(a2, tiles, c),
                                  x.new_empty(a2, tiles, k), x.new_empty(m, m, count, cols, k))
            gathered, transformed, products, outputs = buffers[count]
            # tile (s, t)'s point (i, j) is padded pixel (m s + i, m t + j)
            gathered.copy_(padded[image, m * top:].as_strided(
                (a, a, count, cols, c), (pitch[1], pitch[2], m * pitch[1], m * pitch[2], 1)))
            torch.mm(p.bk, gathered.view(a2, -1), out=transformed.view(a2, -1))
            torch.bmm(transformed, p.u, out=products)
            if p.bias is not None:  # the same sums whether the residual is written into or not (equal bits)
                products[_BIAS_POINT * a + _BIAS_POINT].add_(p.bias)
            torch.mm(p.ak, products.view(a2, -1), out=outputs.view(m * m, -1))
            result = outputs.permute(2, 0, 3, 1, 4)  # (count, m, cols, m, k)
            target = tiles_out[image, top:top + count]
            if into_add:
                target.add_(result)
            else:
                target.copy_(result)
    if not exact:
        out = out[:, :, :h, :w]
    if add is not None and not into_add:
        out = torch.add(out, add) if not exact else out.add_(add)
    if relu:
        out = out.relu_() if out.is_contiguous(memory_format=torch.channels_last) else torch.relu(out)
    return out.contiguous(memory_format=torch.channels_last)


def _padded(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Channels-last `x` (N, C, H, W) as an (N, height, width, C) tensor: a one-pixel zero border on the top
    and left, zeros below and right of it."""
    n, c, h, w = x.shape
    out = x.new_empty(n, height, width, c)
    out[:, 0].zero_()
    out[:, h + 1:].zero_()
    out[:, 1:h + 1, 0].zero_()
    out[:, 1:h + 1, w + 1:].zero_()
    out[:, 1:h + 1, 1:w + 1].copy_(x.permute(0, 2, 3, 1))
    return out


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


@dataclass(frozen=True)
class Timing:
    """What `auto` measured for one input shape: seconds per path (0 = direct, else the tile size m; the
    best of its timed runs) and the path it chose, the fastest of them."""

    seconds: dict[int, float]
    chosen: int


_TABLE: dict[tuple, Timing] = {}
_TABLE_LOCK = threading.Lock()

#: Timed runs per path when `auto` measures a shape (interleaved: direct, F2, F4, direct, ...).
_ROUNDS = 2


def timing_table() -> dict[tuple, Timing]:
    """A copy of what `auto` measured so far in this process, keyed by (C, K, N, H, W, threads)."""
    with _TABLE_LOCK:
        return dict(_TABLE)


def choose_tile(conv: "FusedConv2d", x: torch.Tensor, direct: Callable[[], torch.Tensor],
                clock: Callable[[], float] = time.perf_counter) -> int:
    """The path `conv` takes for input `x`: 0 (direct) or a tile size m (see `ConvAlgorithm`).

    `auto` measures a shape not in the table yet: `direct()` and `winograd_conv` with every tile size in
    `TILES`, `_ROUNDS` interleaved runs each (without residual or ReLU, which both paths add alike), and
    records the fastest (the best run of each path counts).
    """
    from xmempp.model.fused import FusedConv2d

    if _FORCE_DIRECT.get() or not isinstance(conv, FusedConv2d) or conv.algorithm is ConvAlgorithm.direct \
            or not applies(conv):
        return 0
    if conv.algorithm is ConvAlgorithm.winograd:
        return _FORCED_TILE
    key = (conv.in_channels, conv.out_channels, *x.shape[:1], *x.shape[2:], torch.get_num_threads())
    timing = _TABLE.get(key)
    if timing is None:
        timing = measure(conv, x, direct, clock)
        with _TABLE_LOCK:
            _TABLE[key] = timing
    _release_unused(conv, timing.chosen)
    return timing.chosen


def measure(conv: "FusedConv2d", x: torch.Tensor, direct: Callable[[], torch.Tensor],
            clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Time the direct path and every tile size of `TILES` on `x` (interleaved, `_ROUNDS` runs each after a
    warm-up run) and return their best times with the fastest chosen."""
    def direct_only() -> torch.Tensor:
        with direct_convolutions():  # never measures again from inside
            return direct()

    paths: dict[int, Callable[[], torch.Tensor]] = {0: direct_only}
    for m in TILES:
        paths[m] = functools.partial(winograd_conv, conv, x, m)
    best = {path: float("inf") for path in paths}
    for run in paths.values():  # warm-up: filter transforms, oneDNN's packed weight
        run()
    for _ in range(_ROUNDS):
        for path, run in paths.items():
            start = clock()
            run()
            best[path] = min(best[path], clock() - start)
    chosen = min(best, key=lambda path: best[path])
    return Timing(best, chosen)


def _release_unused(conv: "FusedConv2d", chosen: int) -> None:
    """Drop the transformed filters `auto` made for its measurement that `conv` does not use (each is up
    to 4x the weight's size), keeping those of tile sizes chosen for any of its shapes."""
    used = conv.derived("winograd_used", None, set)
    used.add(chosen)
    for m in TILES:
        if m not in used:
            conv.forget(f"winograd{m}")
