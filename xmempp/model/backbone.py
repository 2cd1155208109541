"""ResNet stages used by the key encoder (ResNet-50) and value encoder (ResNet-18).

Parameter names follow torchvision's ResNet so that official XMem checkpoints load
unchanged; no torchvision import is needed.
"""

from __future__ import annotations

import torch
from torch import nn

from xmempp.model.fused import conv_act


def _downsample(in_ch: int, out_ch: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _downsample(in_ch, planes, stride)

    def forward(self, x: torch.Tensor, owns_input: bool = False) -> torch.Tensor:
        """owns_input: nothing else uses `x` afterwards, so the result may overwrite it."""
        out = conv_act(self.conv1, x, self.bn1, relu=True)
        return conv_act(
            self.conv2,
            out,
            self.bn2,
            add=_shortcut(self.downsample, x),
            relu=True,
            reuse_add=owns_input or self.downsample is not None,
        )


class Bottleneck(nn.Module):
    """1x1 - 3x3 (strided) - 1x1 bottleneck with a residual connection (ResNet-50)."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.downsample = _downsample(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor, owns_input: bool = False) -> torch.Tensor:
        """owns_input: nothing else uses `x` afterwards, so the result may overwrite it."""
        out = conv_act(self.conv1, x, self.bn1, relu=True)
        out = conv_act(self.conv2, out, self.bn2, relu=True)
        return conv_act(
            self.conv3,
            out,
            self.bn3,
            add=_shortcut(self.downsample, x),
            relu=True,
            reuse_add=owns_input or self.downsample is not None,
        )


def _shortcut(downsample: nn.Sequential | None, x: torch.Tensor) -> torch.Tensor:
    """The residual branch: `x` itself, or its 1x1 projection (convolution + batch norm)."""
    return x if downsample is None else conv_act(downsample[0], x, downsample[1])


class ResidualStage(nn.Sequential):
    """Residual blocks in sequence (parameter names as nn.Sequential's). Every block after the first
    owns its input, the previous block's output, which nothing else holds: its residual sum is written
    there instead of into a new tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, block in enumerate(self):
            x = block(x, owns_input=index > 0)
        return x


def make_stage(
    block: type[BasicBlock] | type[Bottleneck], in_ch: int, planes: int, blocks: int, stride: int
) -> ResidualStage:
    """A ResNet stage of `blocks` blocks; the first one may downsample."""
    layers = [block(in_ch, planes, stride)]
    layers += [block(planes * block.expansion, planes) for _ in range(blocks - 1)]
    return ResidualStage(*layers)
