"""Fast guided filter (He & Sun 2015) in torch, with a colour guide: fit at low resolution, apply at full.

The linear coefficients `a` (3 per pixel) and `b` that explain the coarse matte as `a . I + b` in each
window are fitted on the plate shrunk by area averaging (each low-resolution pixel is the mean of the plate
pixels it covers, as the coarse matte's own pixels are), smoothed with a box filter, upsampled bilinearly
and applied to the full-resolution plate. Box filters are `avg_pool2d` with border-normalised counts, so
the filter runs on any torch device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "GuidedCoefficients",
    "apply_coefficients",
    "block_max",
    "block_mean",
    "box_mean",
    "fit_coefficients",
    "upsample_crop",
]


@dataclass
class GuidedCoefficients:
    """Box-averaged guided-filter coefficients at the fitting resolution.

    `a` is Kx3xhxw (one colour weight per object and channel), `b` is Kx1xhxw.
    """

    a: torch.Tensor
    b: torch.Tensor

    def blend(self, previous: GuidedCoefficients, keep: float) -> GuidedCoefficients:
        """Exponential average with the previous frame's coefficients (`keep` = weight of the past)."""
        return GuidedCoefficients(torch.lerp(self.a, previous.a, keep), torch.lerp(self.b, previous.b, keep))


#: Above this radius box filters use running sums (constant cost per pixel) instead of shifted sums.
_SHIFT_MAX_RADIUS = 8


def _window_count(n: int, radius: int, dim: int, like: torch.Tensor) -> torch.Tensor:
    """Pixels inside the image of each 1-D window of `radius` along `dim` (shaped to broadcast)."""
    idx = torch.arange(n, device=like.device)
    count = (torch.clamp(idx + radius + 1, max=n) - torch.clamp(idx - radius, min=0)).to(like.dtype)
    shape = [1] * like.dim()
    shape[dim] = n
    return count.view(shape)


def _running_mean(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """1-D border-normalised window mean along `dim` from a cumulative sum."""
    n = x.shape[dim]
    c = F.pad(torch.cumsum(x, dim=dim).movedim(dim, -1), (1, 0)).movedim(-1, dim)
    hi = torch.clamp(torch.arange(n, device=x.device) + radius + 1, max=n)
    lo = torch.clamp(torch.arange(n, device=x.device) - radius, min=0)
    return (c.index_select(dim, hi) - c.index_select(dim, lo)) / _window_count(n, radius, dim, x)


def _shifted_mean(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """1-D border-normalised window mean along `dim` (the last or second last) as a sum of shifted views."""
    n = x.shape[dim]
    pad = [radius, radius] if dim in (-1, x.dim() - 1) else [0, 0, radius, radius]
    padded = F.pad(x, pad)
    acc = padded.narrow(dim, 0, n).clone()
    for k in range(1, 2 * radius + 1):
        acc += padded.narrow(dim, k, n)
    return acc.div_(_window_count(n, radius, dim, x))


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, normalised by the pixels inside the image at the borders.

    Arguments:
        x: NxCxHxW tensor.
        radius: window radius in pixels (0 returns `x`).
    Returns:
        A tensor like `x`.
    """
    if radius <= 0:
        return x
    mean = _shifted_mean if radius <= _SHIFT_MAX_RADIUS else _running_mean
    return mean(mean(x, radius, -1), radius, -2)


def _block_reduce(x: torch.Tensor, factor: int, op: str) -> torch.Tensor:
    """Sum, max or min over factor x factor blocks of the last two dims (partial blocks at the far edges),
    by adding strided views: much faster on CPU than pooling kernels for small blocks."""
    *lead, h, w = x.shape
    h0, w0 = h // factor * factor, w // factor * factor

    def fold(acc: torch.Tensor, part: torch.Tensor) -> None:
        if op == "sum":
            acc.add_(part)
        elif op == "max":
            torch.maximum(acc, part, out=acc)
        else:
            torch.minimum(acc, part, out=acc)

    def whole(part: torch.Tensor, dim: int) -> torch.Tensor:
        if op == "sum":
            return part.sum(dim, keepdim=True)
        return part.amax(dim, keepdim=True) if op == "max" else part.amin(dim, keepdim=True)

    parts = []
    if h0:
        rows = x[..., :h0, :].reshape(*lead, h // factor, factor, w)
        acc = rows[..., 0, :].clone()
        for k in range(1, factor):
            fold(acc, rows[..., k, :])
        parts.append(acc)
    if h > h0:
        parts.append(whole(x[..., h0:, :], -2))
    acc = torch.cat(parts, -2) if len(parts) > 1 else parts[0]
    cols = []
    if w0:
        out = acc[..., 0:w0:factor].clone()
        for k in range(1, factor):
            fold(out, acc[..., k:w0:factor])
        cols.append(out)
    if w > w0:
        cols.append(whole(acc[..., w0:], -1))
    return torch.cat(cols, -1) if len(cols) > 1 else cols[0]


def block_mean(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Area average over factor x factor blocks of the last two dims; the blocks at the bottom and right
    edges average the pixels they hold (as `avg_pool2d(ceil_mode=True)`)."""
    if factor <= 1:
        return x
    h, w = x.shape[-2:]
    out = _block_reduce(x, factor, "sum")
    hh, ww = out.shape[-2:]
    rows = torch.full((hh, 1), float(factor), dtype=x.dtype, device=x.device)
    cols = torch.full((1, ww), float(factor), dtype=x.dtype, device=x.device)
    rows[-1] = h - (hh - 1) * factor
    cols[0, -1] = w - (ww - 1) * factor
    return out.div_(rows * cols)


def block_max(x: torch.Tensor, factor: int, lowest: bool = False) -> torch.Tensor:
    """Maximum (or with `lowest` the minimum) over factor x factor blocks of the last two dims."""
    return x if factor <= 1 else _block_reduce(x, factor, "min" if lowest else "max")


def fit_coefficients(guide: torch.Tensor, target: torch.Tensor, radius: int, eps: float) -> GuidedCoefficients:
    """Fit the colour guided filter's coefficients.

    Arguments:
        guide: 3xhxw plate at the fitting resolution, values about 0..1.
        target: Kxhxw coarse mattes at the same resolution.
        radius: window radius at this resolution.
        eps: regularisation (larger = smoother, closer to the coarse matte).
    Returns:
        The box-averaged coefficients.
    """
    i = guide.unsqueeze(0)  # 1x3xhxw
    p = target.unsqueeze(1)  # Kx1xhxw
    mean_i = box_mean(i, radius)
    mean_p = box_mean(p, radius)
    cov_ip = box_mean(i * p, radius) - mean_i * mean_p  # Kx3xhxw
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    prods = torch.cat([i[:, a_ : a_ + 1] * i[:, b_ : b_ + 1] for a_, b_ in pairs], dim=1)
    var = box_mean(prods, radius)[0] - torch.stack([mean_i[0, a_] * mean_i[0, b_] for a_, b_ in pairs])
    rr, rg, rb, gg, gb, bb = (var[j] for j in range(6))
    rr, gg, bb = rr + eps, gg + eps, bb + eps
    # inverse of the symmetric 3x3 covariance by cofactors (one closed form per pixel)
    c00, c01, c02 = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
    c11, c12, c22 = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    det = rr * c00 + rg * c01 + rb * c02
    inv = torch.stack([c00, c01, c02, c01, c11, c12, c02, c12, c22]).view(3, 3, *det.shape) / det
    a = torch.einsum("ijhw,kjhw->kihw", inv, cov_ip)
    b = mean_p - (a * mean_i).sum(dim=1, keepdim=True)
    return GuidedCoefficients(box_mean(a, radius), box_mean(b, radius))


def upsample_crop(grid: torch.Tensor, factor: int, box: tuple[int, int, int, int]) -> torch.Tensor:
    """Bilinearly upsample a coarse NxCxhxw grid by an integer `factor`, evaluated only inside `box`.

    Grid cell i covers plate pixels [i*factor, (i+1)*factor); the result equals the crop of the whole
    grid upsampled (align_corners=False), computed from the cells the box needs plus one on each side.

    Arguments:
        grid: the coarse tensor.
        factor: plate pixels per cell.
        box: (y0, y1, x0, x1) in plate pixels.
    Returns:
        NxCx(y1-y0)x(x1-x0) tensor.
    """
    y0, y1, x0, x1 = box
    h, w = grid.shape[-2:]
    cy0, cx0 = max(0, y0 // factor - 1), max(0, x0 // factor - 1)
    cy1, cx1 = min(h, -(-y1 // factor) + 1), min(w, -(-x1 // factor) + 1)
    part = grid[..., cy0:cy1, cx0:cx1]
    if factor > 1:
        part = F.interpolate(part, scale_factor=factor, mode="bilinear", align_corners=False)
    return part[..., y0 - cy0 * factor : y1 - cy0 * factor, x0 - cx0 * factor : x1 - cx0 * factor]


def apply_coefficients(
    coeffs: GuidedCoefficients, plate: torch.Tensor, factor: int, box: tuple[int, int, int, int]
) -> torch.Tensor:
    """Upsample the coefficients bilinearly to the plate and evaluate `a . I + b` inside `box`.

    Arguments:
        coeffs: from `fit_coefficients`, fitted on the plate pooled by `factor`.
        plate: 3xHxW full-resolution plate, values about 0..1.
        factor: plate pixels per coefficient cell.
        box: (y0, y1, x0, x1) in plate pixels.
    Returns:
        Kx(y1-y0)x(x1-x0) refined mattes (not clamped).
    """
    y0, y1, x0, x1 = box
    a = upsample_crop(coeffs.a, factor, box)
    b = upsample_crop(coeffs.b, factor, box)
    crop = plate[:, y0:y1, x0:x1]
    return torch.addcmul(b[:, 0], a[:, 0], crop[0]).addcmul_(a[:, 1], crop[1]).addcmul_(a[:, 2], crop[2])
