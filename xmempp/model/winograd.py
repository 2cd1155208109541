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

Which path a convolution takes is its `algorithm` (`FusedConv2d`'s): `direct` (oneDNN), `winograd`
(F(4x4,3x3) wherever it applies) or `auto`, which takes the fastest of the direct path, F(2x2,3x3) and
F(4x4,3x3) per input shape (input and output channels, batch, height, width and thread count), chosen once
per machine: a shape this process has not seen is looked up in the file of recorded choices
(`xmempp.model.conv_timings`: ``conv_timings.json`` in ``$XMEMPP_HOME`` or the user cache, keyed by the CPU,
torch version, thread count and shape), and only a shape recorded nowhere is measured (`measure`) and its
choice recorded, or another process's choice recorded meanwhile adopted. So every process on a machine makes
the same choices and gives the same bytes (a resumed run, a retried worker, a restarted server); deleting the
file measures again. `timing_table` is what this process uses. `direct_convolutions()` forces the direct path
(the benchmark's FLOP count and the peak convolution).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import torch

from xmempp.errors import ConfigError, Remedy, RemedyKind
from xmempp.model.conv_timings import Timing, machine_key, read_choice, record_choice

__all__ = [
    "CONV_ALGORITHMS",
    "TILES",
    "ConvAlgorithm",
    "ConvForm",
    "Timing",
    "WinogradConv",
    "applies",
    "choose_tile",
    "direct_convolutions",
    "measure",
    "resolve_conv_algorithm",
    "timing_table",
    "winograd_conv",
]


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
        raise ConfigError(
            f"unknown convolution algorithm {algorithm!r}",
            remedy=Remedy(RemedyKind.SET, "conv", choices=CONV_ALGORITHMS),
        ) from None


class ConvForm(Protocol):
    """The form of a 2-d convolution (an `nn.Conv2d` has it)."""

    @property
    def kernel_size(self) -> tuple[int, ...]: ...
    @property
    def stride(self) -> tuple[int, ...]: ...
    @property
    def padding(self) -> str | tuple[int, ...]: ...
    @property
    def dilation(self) -> tuple[int, ...]: ...
    @property
    def groups(self) -> int: ...
    @property
    def in_channels(self) -> int: ...
    @property
    def out_channels(self) -> int: ...


class WinogradConv(ConvForm, Protocol):
    """What Winograd needs of a convolution (`xmempp.model.fused.FusedConv2d` has it): its parameters, its
    algorithm, and a place to keep copies derived from its weight (`derived`, `forget`)."""

    @property
    def weight(self) -> torch.Tensor: ...
    @property
    def bias(self) -> torch.Tensor | None: ...
    @property
    def algorithm(self) -> ConvAlgorithm: ...

    def derived(self, name: str, variant: Any, make: Callable[[], Any]) -> Any:
        """What `make()` derives from the weight, kept under `name` (made again when the weight changes)."""

    def forget(self, name: str) -> None:
        """Drop what `derived` keeps under `name`."""


@contextlib.contextmanager
def direct_convolutions() -> Iterator[None]:
    """Run every convolution on the direct path inside this block (this thread / context only)."""
    token = _FORCE_DIRECT.set(True)
    try:
        yield
    finally:
        _FORCE_DIRECT.reset(token)


def applies(conv: ConvForm) -> bool:
    """Whether `conv` has the form Winograd computes here: 3x3, stride 1, padding 1, no dilation or groups,
    more than one output channel (one-output convolutions take `conv_act`'s own path)."""
    return (
        conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.out_channels > 1
    )


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
    f2 = _Transform(
        2,
        torch.tensor([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=f64),
        torch.tensor([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=f64),
        torch.tensor([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=f64),
    )
    # Lavin & Gray's points 0, +-1, +-2, infinity
    f4 = _Transform(
        4,
        torch.tensor(
            [
                [4, 0, -5, 0, 1, 0],
                [0, -4, -4, 1, 1, 0],
                [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0],
                [0, 4, 0, -5, 0, 1],
            ],
            dtype=f64,
        ),
        torch.tensor(
            [
                [1 / 4, 0, 0],
                [-1 / 6, -1 / 6, -1 / 6],
                [-1 / 6, 1 / 6, -1 / 6],
                [1 / 24, 1 / 12, 1 / 6],
                [1 / 24, -1 / 12, 1 / 6],
                [0, 0, 1],
            ],
            dtype=f64,
        ),
        torch.tensor([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], dtype=f64),
    )
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


def _prepare(conv: WinogradConv, m: int) -> _Prepared:
    """`conv`'s filter transformed for F(m x m, 3x3) (in float64, stored float32), made once per weight."""

    def make() -> _Prepared:
        t = _TRANSFORMS[m]
        weight = conv.weight.detach().double()
        u = torch.einsum("xi,kcij,yj->xykc", t.g, weight, t.g).reshape(t.a * t.a, weight.shape[0], weight.shape[1])
        bias = None if conv.bias is None else conv.bias.detach().float()
        return _Prepared(
            m,
            u.transpose(1, 2).float().contiguous(),
            torch.kron(t.bt, t.bt).float(),
            torch.kron(t.at, t.at).float(),
            bias,
        )

    return conv.derived(f"winograd{m}", None, make)


def winograd_conv(
    conv: WinogradConv,
    x: torch.Tensor,
    m: int,
    add: torch.Tensor | None = None,
    relu: bool = False,
    reuse_add: bool = False,
) -> torch.Tensor:
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
                buffers[count] = (
                    x.new_empty(a, a, count, cols, c),
                    x.new_empty(a2, tiles, c),
                    x.new_empty(a2, tiles, k),
                    x.new_empty(m, m, count, cols, k),
                )
            gathered, transformed, products, outputs = buffers[count]
            # tile (s, t)'s point (i, j) is padded pixel (m s + i, m t + j)
            gathered.copy_(
                padded[image, m * top :].as_strided(
                    (a, a, count, cols, c), (pitch[1], pitch[2], m * pitch[1], m * pitch[2], 1)
                )
            )
            torch.mm(p.bk, gathered.view(a2, -1), out=transformed.view(a2, -1))
            torch.bmm(transformed, p.u, out=products)
            if p.bias is not None:  # the same sums whether the residual is written into or not (equal bits)
                products[_BIAS_POINT * a + _BIAS_POINT].add_(p.bias)
            torch.mm(p.ak, products.view(a2, -1), out=outputs.view(m * m, -1))
            result = outputs.permute(2, 0, 3, 1, 4)  # (count, m, cols, m, k)
            target = tiles_out[image, top : top + count]
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
    out[:, h + 1 :].zero_()
    out[:, 1 : h + 1, 0].zero_()
    out[:, 1 : h + 1, w + 1 :].zero_()
    out[:, 1 : h + 1, 1 : w + 1].copy_(x.permute(0, 2, 3, 1))
    return out


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


_TABLE: dict[tuple, Timing] = {}
_TABLE_LOCK = threading.Lock()

#: Timed runs per path when `auto` measures a shape (interleaved: direct, F2, F4, direct, ...): at least `_ROUNDS`,
#: then more, up to `_MAX_ROUNDS`, until each path's two quickest runs agree within `_STEADY`: on a busy machine a
#: run waits for descheduled threads, and only a repeated quick run shows the path's own time (the choice is
#: recorded for the machine, so a choice made on one noisy run would stay).
_ROUNDS = 2
_MAX_ROUNDS = 8
_STEADY = 1.15


def timing_table() -> dict[tuple, Timing]:
    """A copy of what `auto` uses so far in this process (measured here or recorded by an earlier process),
    keyed by (C, K, N, H, W, threads)."""
    with _TABLE_LOCK:
        return dict(_TABLE)


def choose_tile(
    conv: WinogradConv,
    x: torch.Tensor,
    direct: Callable[[], torch.Tensor],
    clock: Callable[[], float] = time.perf_counter,
) -> int:
    """The path `conv` takes for input `x`: 0 (direct) or a tile size m (see `ConvAlgorithm`).

    `auto` takes a shape's choice from this process's table, else from the machine's file of recorded choices
    (`xmempp.model.conv_timings`); a shape recorded nowhere is measured (`measure`, outside any lock) and its
    choice recorded, or, where another process recorded one meanwhile, that one adopted.
    """
    if _FORCE_DIRECT.get() or conv.algorithm is ConvAlgorithm.direct or not applies(conv):
        return 0
    if conv.algorithm is ConvAlgorithm.winograd:
        return _FORCED_TILE
    shape = (conv.in_channels, conv.out_channels, *x.shape[:1], *x.shape[2:])
    threads = torch.get_num_threads()
    key = (*shape, threads)
    timing = _TABLE.get(key)
    if timing is None:
        paths = (0, *TILES)
        recorded_key = machine_key(shape, threads)
        timing = read_choice(recorded_key, paths)
        if timing is None:
            timing = record_choice(recorded_key, measure(conv, x, direct, clock), paths)
        with _TABLE_LOCK:
            timing = _TABLE.setdefault(key, timing)
    _release_unused(conv, timing.chosen)
    return timing.chosen


def measure(
    conv: WinogradConv,
    x: torch.Tensor,
    direct: Callable[[], torch.Tensor],
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """Time the direct path and every tile size of `TILES` on `x` (interleaved, after a warm-up run; `_ROUNDS` to
    `_MAX_ROUNDS` runs each, until every path's two quickest agree) and return their best times with the fastest
    chosen."""

    def direct_only() -> torch.Tensor:
        with direct_convolutions():  # never measures again from inside
            return direct()

    paths: dict[int, Callable[[], torch.Tensor]] = {0: direct_only}
    for m in TILES:
        paths[m] = functools.partial(winograd_conv, conv, x, m)
    runs: dict[int, list[float]] = {path: [] for path in paths}
    for run in paths.values():  # warm-up: filter transforms, oneDNN's packed weight
        run()
    for rounds in range(1, _MAX_ROUNDS + 1):
        for path, run in paths.items():
            start = clock()
            run()
            runs[path].append(clock() - start)
        if rounds >= _ROUNDS and all(_steady(times) for times in runs.values()):
            break
    best = {path: min(times) for path, times in runs.items()}
    chosen = min(best, key=lambda path: best[path])
    return Timing(best, chosen)


def _steady(times: list[float]) -> bool:
    """Whether the two quickest of `times` agree within `_STEADY`."""
    first, second = sorted(times)[:2]
    return second <= _STEADY * first


def _release_unused(conv: WinogradConv, chosen: int) -> None:
    """Drop the transformed filters `auto` made for its measurement that `conv` does not use (each is up
    to 4x the weight's size), keeping those of tile sizes chosen for any of its shapes."""
    used = conv.derived("winograd_used", None, set)
    used.add(chosen)
    for m in TILES:
        if m not in used:
            conv.forget(f"winograd{m}")
