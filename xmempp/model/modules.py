"""Building blocks of the XMem network that work on per-object features.

Per-object ("group") features are kept as 4-D (B*K, C, H, W) tensors, objects of
one frame next to each other, so every convolution sees one contiguous batch and
channels-last layout survives from layer to layer (no 5-D reshapes in the hot path).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xmempp.model.fused import conv_act, split_input_channels


def repeat_per_object(x: torch.Tensor, objects: int) -> torch.Tensor:
    """Repeat per-frame features (B, C, H, W) for each of `objects` objects -> (B*K, C, H, W), channels-last.

    One broadcast copy into a channels-last tensor (`repeat_interleave` gives NCHW through a slow
    strided copy, which every convolution then copied back)."""
    if objects == 1:
        return x
    out = torch.empty(
        (x.shape[0] * objects, *x.shape[1:]), dtype=x.dtype, device=x.device, memory_format=torch.channels_last
    )
    out.unflatten(0, (x.shape[0], objects)).copy_(x.unsqueeze(1))
    return out


def add_per_object(g: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
    """Every object's features g (B*K, C, H, W) plus its frame's `shared` (B, C, H, W), broadcast:
    the repeated copy of `shared` is never made (one pass instead of three at 1/4 scale).

    One object per frame is a plain sum: the broadcast sum's result then has a batch stride with which
    PyTorch no longer takes it for channels-last, and pooling and upsampling took their slow generic
    paths (pooling one object's 1/4 features at 480p: 43 instead of 2 ms, with a copy of them first)."""
    frames = shared.shape[0]
    if g.shape[0] == frames:
        return g + shared
    return (g.unflatten(0, (frames, g.shape[0] // frames)) + shared.unsqueeze(1)).flatten(0, 1)


def resize(x: torch.Tensor, scale: float, mode: str) -> torch.Tensor:
    """Resize (N, C, H, W) by `scale`: bilinear (align_corners=False) or area."""
    if mode == "bilinear":
        return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    return F.interpolate(x, scale_factor=scale, mode=mode)


class GroupResBlock(nn.Module):
    """Pre-activation residual block on group tensors; a 3x3 conv adapts the shortcut width."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.downsample = None if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)

    def forward(self, g: torch.Tensor, owns_input: bool = False) -> torch.Tensor:
        """owns_input: nothing else uses `g` afterwards, so the result may overwrite it."""
        shortcut = g if self.downsample is None else conv_act(self.downsample, g)
        return conv_act(
            self.conv2,
            conv_act(self.conv1, F.relu(g), relu=True),
            add=shortcut,
            reuse_add=owns_input or self.downsample is not None,
        )


class ChannelGate(nn.Module):
    """CBAM channel attention: a shared MLP over average- and max-pooled channels."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels, channels // reduction),
            nn.ReLU(),
            nn.Linear(channels // reduction, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        linear = self.mlp[1]
        assert isinstance(linear, nn.Linear)
        dtype = linear.weight.dtype  # the MLP in its weights' dtype (tiny): bf16 activations too
        attention = self.mlp(x.mean(dim=(2, 3)).to(dtype)) + self.mlp(x.amax(dim=(2, 3)).to(dtype))
        return x * torch.sigmoid(attention).to(x.dtype)[:, :, None, None]


class _SpatialConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SpatialGate(nn.Module):
    """CBAM spatial attention from channel-wise max and mean maps."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial = _SpatialConv()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The (N, 1, H, W) attention map that multiplies `x`."""
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(conv_act(self.spatial.conv, pooled))


class CBAM(nn.Module):
    """Convolutional block attention (channel gate, then spatial gate) with its residual sum."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.ChannelGate = ChannelGate(channels)
        self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x plus its attended self (as XMem's fusion block uses it): the spatial gate's product and the
        sum in one pass."""
        channel = self.ChannelGate(x)
        return torch.addcmul(x, channel, self.SpatialGate(channel))


class FeatureFusionBlock(nn.Module):
    """Fuse per-frame features `x` (B, C, H, W) into every object's features `g` (B*K, Cg, H, W)."""

    def __init__(self, x_ch: int, g_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.x_ch = x_ch
        self.block1 = GroupResBlock(x_ch + g_ch, mid_ch)
        self.attention = CBAM(mid_ch)
        self.block2 = GroupResBlock(mid_ch, out_ch)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        objects = g.shape[0] // x.shape[0]
        g = self.block1(torch.cat([x, g], dim=1)) if objects == 1 else self._block1_shared(x, g, objects)
        return self.block2(self.attention(g), owns_input=True)

    def _block1_shared(self, x: torch.Tensor, g: torch.Tensor, objects: int) -> torch.Tensor:
        """block1 on cat(x, g) without repeating x: the x part of its two input convolutions
        (a linear map) is computed once per frame and added to every object's g part."""
        block = self.block1

        def split_conv(conv: nn.Conv2d, x_in: torch.Tensor, g_in: torch.Tensor, relu: bool = False) -> torch.Tensor:
            if torch.compiler.is_compiling():  # a form torch.compile traces (it makes its own kernels)
                shared = F.conv2d(x_in, conv.weight[:, : self.x_ch], conv.bias, padding=conv.padding)
                out = F.conv2d(g_in, conv.weight[:, self.x_ch :], None, padding=conv.padding)
                out = add_per_object(out, shared)
                return F.relu(out) if relu else out
            on_x, on_g = split_input_channels(conv, self.x_ch)
            return conv_act(on_g, g_in, add=repeat_per_object(conv_act(on_x, x_in), objects), relu=relu, reuse_add=True)

        out = split_conv(block.conv1, F.relu(x), F.relu(g), relu=True)
        return conv_act(block.conv2, out, add=split_conv(block.downsample, x, g), reuse_add=True)


def gated_hidden_update(values: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """GRU-style update: split `values` into forget, update and candidate parts, in the hidden state's dtype
    (fp32 also where the convolutions run in bf16: the state carries over from frame to frame)."""
    dim = hidden.shape[1]
    values = values.to(hidden.dtype)
    forget = torch.sigmoid(values[:, :dim])
    update = torch.sigmoid(values[:, dim : 2 * dim])
    candidate = torch.tanh(values[:, 2 * dim :])
    return forget * hidden * (1 - update) + update * candidate


class HiddenReinforcer(nn.Module):
    """Deep update of the hidden state from freshly encoded value features."""

    def __init__(self, g_ch: int, hidden_dim: int) -> None:
        super().__init__()
        self.transform = nn.Conv2d(g_ch + hidden_dim, hidden_dim * 3, 3, padding=1)

    def forward(self, g: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        return gated_hidden_update(conv_act(self.transform, torch.cat([g, hidden.to(g.dtype)], dim=1)), hidden)


def pool_quarter(g4: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """The decoder's 1/4 features and logits pooled to 1/16 and concatenated, for `HiddenUpdater`: the
    same numbers as pooling their concatenation, at 1/16 of the copy."""
    return torch.cat([resize(g4, 0.25, "area"), resize(logits, 0.25, "area")], dim=1)


class HiddenUpdater(nn.Module):
    """Update the hidden state from the decoder's 1/16, 1/8 and 1/4 features."""

    def __init__(self, g_dims: tuple[int, int, int], mid_ch: int, hidden_dim: int) -> None:
        super().__init__()
        self.g16_conv = nn.Conv2d(g_dims[0], mid_ch, 1)
        self.g8_conv = nn.Conv2d(g_dims[1], mid_ch, 1)
        self.g4_conv = nn.Conv2d(g_dims[2], mid_ch, 1)
        self.transform = nn.Conv2d(mid_ch + hidden_dim, hidden_dim * 3, 3, padding=1)

    def forward(self, g16: torch.Tensor, g8: torch.Tensor, g4: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """g4: the decoder's last features and its logits, each pooled from 1/4 to 1/16 (`pool_quarter`)."""
        g = conv_act(self.g8_conv, resize(g8, 0.5, "area"), add=conv_act(self.g16_conv, g16), reuse_add=True)
        g = conv_act(self.g4_conv, g4, add=g, reuse_add=True)
        return gated_hidden_update(conv_act(self.transform, torch.cat([g, hidden.to(g.dtype)], dim=1)), hidden)


class UpsampleBlock(nn.Module):
    """Upsample group features x2 and add a projected skip connection."""

    def __init__(self, skip_ch: int, up_ch: int, out_ch: int) -> None:
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_ch, up_ch, 3, padding=1)
        self.out_conv = GroupResBlock(up_ch, out_ch)

    def forward(self, skip: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """skip (B, C, 2h, 2w) per frame, g (B*K, C', h, w) per object."""
        if g.shape[0] == skip.shape[0]:
            return self.out_conv(
                conv_act(self.skip_conv, skip, add=resize(g, 2.0, "bilinear"), reuse_add=True), owns_input=True
            )
        return self.with_projected_skip(conv_act(self.skip_conv, skip), g)

    def with_projected_skip(self, projected: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """The block for objects `g` (B*K, C', h, w) given the frames' skip features already through
        `skip_conv` (B, C, 2h, 2w), so that they can be projected once for objects run in parts."""
        return self.out_conv(add_per_object(resize(g, 2.0, "bilinear"), projected), owns_input=True)
