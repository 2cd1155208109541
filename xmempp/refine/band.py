"""The clamp band: where a refined matte may differ from the coarse one.

A pixel is uncertain where the coarse matte is between `low` and `high`; the band is that zone dilated by
`band` pixels, fading to zero over `feather` more. Dilation and feathering run on a grid a few pixels
coarse (the band is a smooth weight, not an edge), so their cost does not grow with the band's width.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from xmempp.refine.guided import box_mean

__all__ = ["band_weight"]


def _dilate(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Square dilation (separable max filters) of an Nx1xHxW map."""
    if radius <= 0:
        return x
    k = 2 * radius + 1
    x = F.max_pool2d(x, (1, k), stride=1, padding=(0, radius))
    return F.max_pool2d(x, (k, 1), stride=1, padding=(radius, 0))


def band_weight(coarse: torch.Tensor, band: float, feather: float, low: float = 0.05,
                high: float = 0.95) -> torch.Tensor:
    """Weight of the refined matte per pixel: 1 within `band` of the uncertain zone, 0 beyond the feather.

    Arguments:
        coarse: KxHxW coarse mattes (0..1).
        band: dilation in pixels.
        feather: width of the fade in pixels.
        low, high: the uncertain range of the coarse matte.
    Returns:
        KxHxW weights in 0..1.
    """
    h, w = coarse.shape[-2:]
    step = max(1, int(min(band + feather, max(h, w)) // 8))
    unsure = ((coarse > low) & (coarse < high)).to(coarse.dtype).unsqueeze(1)
    grid = F.max_pool2d(unsure, step, stride=step, ceil_mode=True) if step > 1 else unsure
    ramp = feather / step
    grid = _dilate(grid, int(math.ceil((band + feather / 2) / step)))
    if ramp >= 1:
        grid = box_mean(grid, int(round(ramp / 2)))
    if step > 1:
        grid = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False)
    return grid[:, 0].clamp_(0, 1)
