"""Convolutions with batch norm folded in and the following ReLU / residual add fused (inference).

`fold_batchnorms` folds every eval-mode BatchNorm into the convolution before it once,
at load time, and `pack_weights` has every convolution keep its weight in oneDNN's blocked
layout for the input shapes it meets (plain weights are reordered again on every call:
10-25 % of a convolution at 1/16 scale). `conv_act` then runs "convolution, + residual,
ReLU" as one oneDNN call on CPU (`torch.ops.mkldnn._convolution_pointwise`, the kernels
Inductor uses), always on the oneDNN path whatever the frame size (PyTorch's own dispatch
sends small batch-1 frames to its slow non-oneDNN fallback); elsewhere, where gradients are
needed and inside `torch.compile` (which does its own fusion), it runs the same arithmetic as
separate operations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.utils.flop_counter import conv_flop_count, register_flop_formula

_POINTWISE = getattr(torch.ops.mkldnn, "_convolution_pointwise", None) if torch.backends.mkldnn.is_available() else None
_REORDER = getattr(torch.ops.mkldnn, "_reorder_convolution_weight", None) if _POINTWISE is not None else None
_POINTWISE_INTO = getattr(torch.ops.mkldnn, "_convolution_pointwise_", None) if _POINTWISE is not None else None


def fold_batchnorms(module: nn.Module) -> int:
    """Fold every eval-mode BatchNorm2d into the convolution it follows, in place.

    A pair is a `convX` / `bnX` attribute pair of one module (torchvision's naming), or a
    two-layer `Sequential(conv, bn)`. The batch norm is replaced by `nn.Identity`, the
    convolution by one with the folded weight and bias, so the state dict loses the
    batch-norm tensors and gains the convolutions' biases (an inference-only network).

    Arguments:
        module: a network in eval mode.
    Returns:
        The number of batch norms folded.
    """
    if module.training:
        raise ValueError("fold_batchnorms needs a network in eval mode")
    folded = 0
    for parent in list(module.modules()):
        children = dict(parent.named_children())
        if isinstance(parent, nn.Sequential) and len(parent) == 2:
            pairs = [("0", "1")]
        else:
            pairs = [("conv" + name[2:], name) for name in children if name.startswith("bn")]
        for conv_name, bn_name in pairs:
            conv, bn = children.get(conv_name), children.get(bn_name)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(parent, bn_name, nn.Identity())
                folded += 1
    return folded


#: Input shapes whose packed weight a convolution keeps (a shot has one or two; older ones are dropped).
_SHAPES_KEPT = 4


@dataclass
class _Packed:
    """Weights in oneDNN's layout per input shape, valid while the plain weight is `source` (see `_identity`)."""

    source: tuple
    by_shape: dict[tuple[int, ...], torch.Tensor] = field(default_factory=dict)


def pack_weights(module: nn.Module) -> int:
    """Let every CPU fp32 convolution of `module` keep its weight in oneDNN's blocked layout (inference).

    `conv_act` then reorders a convolution's weight once per input shape (the layout oneDNN
    picks depends on it: without the shape a 1x1 convolution to 1024 channels runs 4x slower
    than with plain weights) and uses that copy while the plain weight is unchanged (same
    storage and version), so loading other weights later falls back to the plain ones safely.
    The copies are not part of the state dict; each costs as much memory as its weight.

    Arguments:
        module: a network whose weights are on the CPU.
    Returns:
        The number of convolutions that will keep packed weights.
    """
    if _REORDER is None:
        return 0
    packed = 0
    for conv in module.modules():
        weight = getattr(conv, "weight", None)
        if isinstance(conv, nn.Conv2d) and weight.device.type == "cpu" and weight.dtype == torch.float32:
            conv.onednn_weight = _Packed(_identity(weight))
            packed += 1
    return packed


def packed_weight_bytes(module: nn.Module) -> int:
    """Bytes one input shape's oneDNN copies of `module`'s convolution weights take (0 without `pack_weights`)."""
    return sum(conv.weight.numel() * conv.weight.element_size() for conv in module.modules()
               if getattr(conv, "onednn_weight", None) is not None)


def split_input_channels(conv: nn.Conv2d, at: int) -> tuple[nn.Conv2d, nn.Conv2d]:
    """`conv` as two convolutions, over its input channels [:at] (with the bias) and [at:].

    Their outputs add up to `conv`'s. Made once and kept (on the CPU with packed weights)
    while `conv`'s weight is the same, unchanged tensor; they belong to no state dict.
    """
    def make() -> tuple[nn.Conv2d, nn.Conv2d]:
        parts = []
        for weight, bias in ((conv.weight[:, :at], conv.bias), (conv.weight[:, at:], None)):
            part = nn.Conv2d(weight.shape[1], conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                             conv.dilation, conv.groups, bias=bias is not None, device=weight.device,
                             dtype=weight.dtype)
            with torch.no_grad():
                part.weight.copy_(weight)
                if bias is not None:
                    part.bias.copy_(bias)
            part = part.to(memory_format=torch.channels_last).eval().requires_grad_(False)
            pack_weights(part)
            parts.append(part)
        return parts[0], parts[1]

    return _kept(conv, "input_split", at, make)


def _kept(conv: nn.Conv2d, name: str, variant: Any, make: Callable[[], Any]) -> Any:
    """What `make()` derives from `conv`'s weight, kept on `conv` as attribute `name` and made again when
    `variant` or the weight (another tensor, or changed in place) differs from when it was made."""
    key = (variant, _identity(conv.weight))
    cached = getattr(conv, name, None)
    if cached is None or cached[0] != key:
        cached = (key, make())
        setattr(conv, name, cached)
    return cached[1]


def _weight(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """The weight for input `x`: in oneDNN's layout for that shape where `pack_weights` asked for it."""
    packed = getattr(conv, "onednn_weight", None)
    if packed is None or packed.source != _identity(conv.weight):
        return conv.weight
    shape = tuple(x.shape)
    weight = packed.by_shape.get(shape)
    if weight is None:
        if len(packed.by_shape) >= _SHAPES_KEPT:  # the oldest goes (list(): safe beside inserting threads)
            packed.by_shape.pop(list(packed.by_shape)[0], None)
        weight = _REORDER(conv.weight.detach(), list(conv.padding), list(conv.stride), list(conv.dilation),
                          conv.groups, list(shape))
        packed.by_shape[shape] = weight
    return weight


def _identity(weight: torch.Tensor) -> tuple:
    """What a copy derived from `weight` stays valid for: its device, storage and in-place modification
    counter (inference tensors, made under inference mode, have no counter)."""
    return weight.device, weight.data_ptr(), -1 if weight.is_inference() else weight._version


def _onednn(x: torch.Tensor) -> bool:
    return _POINTWISE is not None and x.device.type == "cpu" and x.dtype == torch.float32 \
        and not torch.is_grad_enabled() and not torch.compiler.is_compiling()


if _POINTWISE is not None:
    @register_flop_formula([_POINTWISE, _POINTWISE_INTO])
    def _pointwise_flop(x_shape, *args, out_shape=None, **kwargs) -> int:
        """FLOPs of a fused oneDNN convolution (its post-ops, like other element-wise work, are not counted).

        The plain overload is (x, weight, bias, ...), the binary one (x, other, weight, bias, ...), the
        in-place one (other, x, weight, bias, ...): only the batch size is taken from the first shape.
        """
        weight_shape = args[1] if len(args) >= 12 else args[0]
        return conv_flop_count(x_shape, weight_shape, out_shape, transposed=False)


def conv_act(conv: nn.Conv2d, x: torch.Tensor, bn: nn.Module | None = None, add: torch.Tensor | None = None,
             relu: bool = False, reuse_add: bool = False) -> torch.Tensor:
    """relu?(bn(conv(x)) + add): one fused oneDNN call on CPU once `bn` is folded (an Identity).

    Arguments:
        conv: the convolution.
        x: its (N, C, H, W) input; made channels-last on the oneDNN path.
        bn: the batch norm after it, if any (unfolded batch norms run unfused).
        add: a tensor of the output's shape added after the convolution (residual).
        relu: apply ReLU last.
        reuse_add: the caller gives `add` up: on the oneDNN path the result is accumulated into its
            memory (oneDNN's in-place sum: no new output to write, a third less memory traffic; a
            1x1 convolution 64->256 + residual at 120x216 takes 7.6 instead of 10.9 ms).
    Returns:
        The (N, C', H', W') result.
    """
    if (bn is None or isinstance(bn, nn.Identity)) and _onednn(x):
        x = x.contiguous(memory_format=torch.channels_last)
        if not _one_output_same_size(conv):
            args = (_weight(conv, x), conv.bias, conv.padding, conv.stride, conv.dilation, conv.groups)
            if add is None:
                return _POINTWISE(x, *args, "relu" if relu else "none", [], None)
            add = add.contiguous(memory_format=torch.channels_last)
            if reuse_add and _POINTWISE_INTO is not None and not _shares_memory(add, x):
                return _POINTWISE_INTO.binary(add, x, *args, "add", 1.0, "relu" if relu else None, [], None)
            return _POINTWISE.binary(x, add, *args, "add", None, "relu" if relu else None, [], None)
        out = _one_output_conv(conv, x)
    else:
        cast = _autocast_weights(conv, x)
        out = conv(x) if cast is None else F.conv2d(x, *cast, conv.stride, conv.padding, conv.dilation, conv.groups)
        out = out if bn is None else bn(out)
    if add is not None:
        out = out + add
    return F.relu(out) if relu else out


def _autocast_weights(conv: nn.Conv2d, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """Under autocast, `conv`'s weight and bias in autocast's dtype, cast once and kept while the weight is
    the same, unchanged tensor (autocast itself casts them on every call: on an H200 at 480p one cast kernel per
    convolution, 12 % of a frame's GPU time). None where autocast is off for `x`'s device,
    gradients are on or torch.compile traces (it makes its own kernels)."""
    device = x.device.type
    if not torch.is_autocast_enabled(device) or torch.is_grad_enabled() or torch.compiler.is_compiling():
        return None
    dtype = torch.get_autocast_dtype(device)
    return _kept(conv, "autocast_weights", dtype, lambda: (
        conv.weight.detach().to(dtype), None if conv.bias is None else conv.bias.detach().to(dtype)))


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _one_output_same_size(conv: nn.Conv2d) -> bool:
    """A convolution to one channel, stride 1, padded to keep the size (an odd kernel), from more input
    channels than kernel taps (below that the shifted sums of `_one_output_conv` cost more than they save)."""
    kh, kw = conv.kernel_size
    return conv.out_channels == 1 and conv.groups == 1 and conv.stride == (1, 1) and conv.dilation == (1, 1) \
        and kh % 2 == 1 and kw % 2 == 1 and conv.padding == (kh // 2, kw // 2) and conv.in_channels > kh * kw


def _one_output_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """`conv` (see `_one_output_same_size`) on channels-last `x`: one matrix product gives every pixel's
    contribution to each of the kh*kw output positions it reaches, then kh*kw shifted sums add them up.

    oneDNN runs a convolution to a single channel at a small fraction of its usual rate (12 ms for the
    decoder's 256->1 3x3 at 120x216, 3.5 ms this way)."""
    n, channels, height, width = x.shape
    kh, kw = conv.kernel_size
    taps = conv.weight[0].permute(1, 2, 0).reshape(kh * kw, channels)  # (tap, channel)
    per_pixel = torch.mm(x.permute(0, 2, 3, 1).reshape(-1, channels), taps.t())  # a view of channels-last x
    padded = F.pad(per_pixel.view(n, height, width, kh * kw).permute(0, 3, 1, 2),
                   (kw // 2, kw // 2, kh // 2, kh // 2))
    out = x.new_zeros(n, height, width) if conv.bias is None else conv.bias.expand(n, height, width).clone()
    for dy in range(kh):
        for dx in range(kw):
            out += padded[:, dy * kw + dx, dy:dy + height, dx:dx + width]
    return out.unsqueeze(1)
