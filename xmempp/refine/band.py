"""The clamp band: where a refined matte may differ from the coarse one.

A pixel is uncertain where the coarse matte is between `low` and `high`; the band is that zone dilated by
`band` pixels, fading to zero over `feather` more. The band is built on a grid a few plate pixels
coarse (it is a smooth weight, not an edge), so its cost does not grow with the band's width, and it
is upsampled only inside the box that holds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from xmempp.refine.guided import block_max, box_mean, upsample_crop

__all__ = ["Band", "edge_band"]


@dataclass
class Band:
    """The band of K objects on a grid of `step` plate pixels per cell, and the plate box holding it."""

    grid: torch.Tensor  # Kx1xhxw weights 0..1
    step: int
    box: tuple[int, int, int, int] | None  # (y0, y1, x0, x1) in plate pixels; None: empty band

    def weight(self) -> torch.Tensor:
        """Kx(y1-y0)x(x1-x0) plate-resolution weights inside `box` (call only when `box` is set)."""
        assert self.box is not None
        return upsample_crop(self.grid, self.step, self.box)[:, 0].clamp_(0, 1)


def _dilate(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Square dilation (separable max filters) of an Nx1xHxW map."""
    if radius <= 0:
        return x
    k = 2 * radius + 1
    x = F.max_pool2d(x, (1, k), stride=1, padding=(0, radius))
    return F.max_pool2d(x, (k, 1), stride=1, padding=(radius, 0))


#: Share of uncertain pixels around a pixel above which the coarse matte counts as soft there (hair,
#: fur, sheer cloth: the network was unsure over a wide area), and the span over which that ramps to 1.
SOFT_SHARE, SOFT_RAMP = 0.55, 0.3


def edge_band(
    coarse: torch.Tensor,
    band: float,
    feather: float,
    step: int,
    low: float = 0.05,
    high: float = 0.95,
    adaptive: bool = True,
) -> Band:
    """Weight of the refined matte: 1 on the uncertain zone and within `band` pixels of it, 0 beyond the
    feather.

    With `adaptive`, the `band` dilation applies only where the coarse matte is soft over a wide area
    (the share of uncertain pixels within 3 `band` of a pixel is high: hair, fur, frayed or sheer cloth);
    along a narrow, confident edge (a hard or motion-blurred object) the band is the uncertain zone
    itself, so background texture beside a correct edge is never carved into the matte.

    Arguments:
        coarse: KxHxW coarse mattes (0..1).
        band: dilation in plate pixels.
        feather: width of the fade in plate pixels.
        step: plate pixels per grid cell (the cell is uncertain when its values straddle the range).
        low, high: the uncertain range of the coarse matte.
        adaptive: widen the band only where the coarse matte is soft over a wide area.
    Returns:
        The `Band`.
    """
    h, w = coarse.shape[-2:]
    c = coarse.unsqueeze(1)
    top, bottom = block_max(c, step), block_max(c, step, lowest=True)
    unsure = ((top > low) & (bottom < high)).to(coarse.dtype)
    reach = int(math.ceil(band / step))
    grid = _dilate(unsure, reach)
    if adaptive and reach > 0:
        share = box_mean(unsure, 3 * reach)
        soft = ((share - SOFT_SHARE) / SOFT_RAMP).clamp_(0, 1)
        grid = torch.maximum(unsure, grid * _dilate(soft, reach))
    # one more cell: the bilinear upsampling ramps over a cell, and the uncertain zone itself gets full weight
    grid = _dilate(grid, int(math.ceil(feather / 2 / step)) + (1 if step > 1 else 0))
    ramp = feather / step
    if ramp >= 2:
        grid = box_mean(grid, int(round(ramp / 2)))
    cells = torch.nonzero(grid.amax(dim=(0, 1)) > 0)
    if cells.numel() == 0:
        return Band(grid, step, None)
    (gy0, gx0), (gy1, gx1) = cells.min(0).values.tolist(), cells.max(0).values.tolist()
    box = (max(0, (gy0 - 1) * step), min(h, (gy1 + 2) * step), max(0, (gx0 - 1) * step), min(w, (gx1 + 2) * step))
    return Band(grid, step, box)
