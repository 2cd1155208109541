"""Building blocks of the XMem network that work on per-object groups.

Group tensors have shape (B, K, C, H, W): batch, objects, channels, height, width.
Convolutions run on the flattened (B*K, C, H, W) view.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def group_conv(conv: nn.Conv2d, g: torch.Tensor) -> torch.Tensor:
    """Apply a 2-D convolution to every object of a (B, K, C, H, W) group tensor."""
    out = conv(g.flatten(0, 1))
    return out.view(g.shape[0], g.shape[1], *out.shape[1:])


def resize_groups(g: torch.Tensor, scale: float, mode: str) -> torch.Tensor:
    """Resize a (B, K, C, H, W) tensor by `scale` (bilinear up, area down)."""
    flat = g.flatten(0, 1)
    if mode == "bilinear":
        out = F.interpolate(flat, scale_factor=scale, mode="bilinear", align_corners=False)
    else:
        out = F.interpolate(flat, scale_factor=scale, mode=mode)
    return out.view(g.shape[0], g.shape[1], *out.shape[1:])


class GroupResBlock(nn.Module):
    """Pre-activation residual block on group tensors; a 3x3 conv adapts the shortcut width."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.downsample = None if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        out = group_conv(self.conv1, F.relu(g))
        out = group_conv(self.conv2, F.relu(out))
        shortcut = g if self.downsample is None else group_conv(self.downsample, g)
        return out + shortcut


class ChannelGate(nn.Module):
    """CBAM channel attention: a shared MLP over average- and max-pooled channels."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, channels // reduction), nn.ReLU(),
                                 nn.Linear(channels // reduction, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attention = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))
        return x * torch.sigmoid(attention)[:, :, None, None]


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
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    """Convolutional block attention: channel gate, then spatial gate."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.ChannelGate = ChannelGate(channels)
        self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class FeatureFusionBlock(nn.Module):
    """Fuse per-frame features `x` (B, C, H, W) into every object's group features `g`."""

    def __init__(self, x_ch: int, g_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.block1 = GroupResBlock(x_ch + g_ch, mid_ch)
        self.attention = CBAM(mid_ch)
        self.block2 = GroupResBlock(mid_ch, out_ch)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        batch, objects = g.shape[:2]
        g = torch.cat([x.unsqueeze(1).expand(-1, objects, -1, -1, -1), g], dim=2)
        g = self.block1(g)
        r = self.attention(g.flatten(0, 1)).view_as(g)
        return self.block2(g + r)


def gated_hidden_update(values: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """GRU-style update: split `values` into forget, update and candidate parts."""
    dim = hidden.shape[2]
    forget = torch.sigmoid(values[:, :, :dim])
    update = torch.sigmoid(values[:, :, dim:2 * dim])
    candidate = torch.tanh(values[:, :, 2 * dim:])
    return forget * hidden * (1 - update) + update * candidate


class HiddenReinforcer(nn.Module):
    """Deep update of the hidden state from freshly encoded value features."""

    def __init__(self, g_ch: int, hidden_dim: int) -> None:
        super().__init__()
        self.transform = nn.Conv2d(g_ch + hidden_dim, hidden_dim * 3, 3, padding=1)

    def forward(self, g: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        values = group_conv(self.transform, torch.cat([g, hidden], dim=2))
        return gated_hidden_update(values, hidden)


class HiddenUpdater(nn.Module):
    """Update the hidden state from the decoder's 1/16, 1/8 and 1/4 features."""

    def __init__(self, g_dims: tuple[int, int, int], mid_ch: int, hidden_dim: int) -> None:
        super().__init__()
        self.g16_conv = nn.Conv2d(g_dims[0], mid_ch, 1)
        self.g8_conv = nn.Conv2d(g_dims[1], mid_ch, 1)
        self.g4_conv = nn.Conv2d(g_dims[2], mid_ch, 1)
        self.transform = nn.Conv2d(mid_ch + hidden_dim, hidden_dim * 3, 3, padding=1)

    def forward(self, g16: torch.Tensor, g8: torch.Tensor, g4: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        g = (group_conv(self.g16_conv, g16) + group_conv(self.g8_conv, resize_groups(g8, 0.5, "area"))
             + group_conv(self.g4_conv, resize_groups(g4, 0.25, "area")))
        values = group_conv(self.transform, torch.cat([g, hidden], dim=2))
        return gated_hidden_update(values, hidden)


class UpsampleBlock(nn.Module):
    """Upsample group features x2 and add a projected skip connection."""

    def __init__(self, skip_ch: int, up_ch: int, out_ch: int) -> None:
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_ch, up_ch, 3, padding=1)
        self.out_conv = GroupResBlock(up_ch, out_ch)

    def forward(self, skip: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        g = resize_groups(g, 2.0, "bilinear") + self.skip_conv(skip).unsqueeze(1)
        return self.out_conv(g)
