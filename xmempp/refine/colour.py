"""Local colour model: the matte re-estimated per pixel from local foreground and background colours.

The guided filter explains the matte as one linear function of the colour over a wide window, so
background texture inside that window leaks into alpha. This stage takes the guided matte `alpha0` and
estimates, around each pixel,

* the background colour `B`: the mean plate colour weighted by `(1 - alpha0)^4`, over a small window
  (about 10 px at 2K), so it follows the background's own texture;
* the foreground colour `F`: the least-squares colour of `I = alpha0 F + (1 - alpha0) B` over a wide
  window (about 100 px at 2K), which unmixes partly covered pixels (thin strands never cover a pixel);

then solves `I = alpha F + (1 - alpha) B` for alpha with `alpha0` as a prior:
`alpha = (<I - B, F - B> + lam alpha0) / (|F - B|^2 + lam)`. Where the two colours are close the prior
wins. Where the model has no support (no clean background nearby, as inside a sheer panel, or no
foreground at all) the result fades back to `alpha0`. All of it is smooth, so it is computed on a grid
`step` plate pixels coarse and reduced to three fields that are applied at full resolution:
`alpha = w * alpha0 + g . I + c`.

Given the coarse matte, the model also gets a `trust` (as it falls, the result fades to the guided matte
as far as that is trusted, and the rest of the way to the coarse matte):
low where the clean background's texture, projected on `F - B`, rivals the strands' contrast (measured
near the pixel, or over the whole region where no clean background is near, as inside a sheer panel),
and low where the model itself is wrong on the pixels whose answer is known (0 on the clean background,
1 inside the object), which also catches the guided matte's own leaks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from xmempp.refine.guided import block_mean, box_mean, upsample_crop

__all__ = ["ColourCoefficients", "apply_colour_model", "colour_step", "context", "fit_colour_model", "snap_tails"]

#: Plate pixels per cell of the background grid at 2K, and the foreground grid's cells per background cell.
STEP_2K, FOREGROUND_CELLS = 2, 4
#: Window radii in cells of the background grid (about 10 px at 2K) and of the foreground grid (~100 px).
BACKGROUND_RADIUS, FOREGROUND_RADIUS = 2, 6
#: Weight of the guided matte as a prior against the colour evidence (squared colour distance units).
PRIOR = 0.01
#: `alpha0` below CLEAN counts as clean background; the model is trusted fully where the share of clean
#: background in the background window is at least BACKGROUND_SUPPORT and the mean squared `alpha0`
#: in the foreground window at least FOREGROUND_SUPPORT.
CLEAN, BACKGROUND_SUPPORT, FOREGROUND_SUPPORT = 0.15, 0.3, 0.005
#: Values within SNAP of 0 or 1 are taken to 0 or 1 (ramping back to the value at 2 SNAP): the noise floor.
SNAP = 0.06
#: Busy background: the background's texture moves alpha by about `<dB, F - B> / |F - B|^2`; its variance
#: `v` is measured on the clean background (coarse matte below NOISE_CLEAN) around each pixel, and the model is
#: trusted by `BUSY / (BUSY + v)`: where the background's structure is as strong as the strands' contrast,
#: the result falls back (to the guided matte, see GUIDED_ERROR, or the coarse one). NOISE_CELLS: radius
#: (foreground cells) the variance is pooled over.
BUSY, NOISE_CELLS = 0.1, 3
#: The coarse matte below which a pixel counts as clean background for that variance.
NOISE_CLEAN = 0.05
#: Weight (a share of clean pixels in the pooling window) of the whole region's clean-background variance
#: against the local one: where the window holds less clean background than this, the region's stands in.
NOISE_PRIOR = 0.05
#: The model's mean squared error `e` on pixels whose alpha is known (`_known_error`) at which its trust halves,
#: and the sharpness of that fall: the trust is also divided by `1 + (e / KNOWN_ERROR)^KNOWN_POWER`.
KNOWN_ERROR, KNOWN_POWER = 0.02, 2.0
#: The same for the guided matte (`alpha0`), stricter: where the colour model is not trusted the result falls
#: back to the guided matte as far as it is trusted (its own known error and the background's variance), and
#: the rest of the way to the coarse matte.
GUIDED_ERROR = 0.005
#: Share of the noise floor's snap kept where neither the colour model nor the guided matte is trusted.
SNAP_UNTRUSTED = 0.5


def colour_step(height: int) -> int:
    """Plate pixels per cell of the background grid for a plate `height` lines high."""
    return max(1, int(round(STEP_2K * height / 1080)))


def context(step: int) -> int:
    """Plate pixels of context the model needs around the pixels it refines (the foreground window), a
    whole number of foreground cells."""
    return step * FOREGROUND_CELLS * (FOREGROUND_RADIUS + 1)


@dataclass
class ColourCoefficients:
    """`alpha = w * alpha0 + g . I + c` on a grid of `step` plate pixels, packed as Kx5xhxw (`g`, `c`, `w`);
    `origin` is the grid's first cell in cells of the whole plate."""

    fields: torch.Tensor
    step: int
    origin: tuple[int, int] = (0, 0)
    #: Kx2xhxw: the colour model's and the guided matte's trust, 1 where the background is quiet and the model
    #: right where the answer is known, towards 0 where busy or wrong
    trust: torch.Tensor | None = None

    def blend(self, previous: ColourCoefficients, keep: float) -> ColourCoefficients:
        """Exponential average with the previous frame's coefficients where the two grids overlap (`keep` =
        weight of the past); elsewhere these coefficients as they are."""
        if previous.step != self.step or previous.fields.shape[:2] != self.fields.shape[:2]:
            return self
        (oy, ox), (py, px) = self.origin, previous.origin
        h, w = self.fields.shape[-2:]
        ph, pw = previous.fields.shape[-2:]
        y0, y1 = max(oy, py), min(oy + h, py + ph)
        x0, x1 = max(ox, px), min(ox + w, px + pw)
        out = self.fields.clone()
        trust = None if self.trust is None else self.trust.clone()
        if y0 < y1 and x0 < x1:
            mine = out[..., y0 - oy : y1 - oy, x0 - ox : x1 - ox]
            mine.lerp_(previous.fields[..., y0 - py : y1 - py, x0 - px : x1 - px], keep)
            if trust is not None and previous.trust is not None:
                trust[..., y0 - oy : y1 - oy, x0 - ox : x1 - ox].lerp_(
                    previous.trust[..., y0 - py : y1 - py, x0 - px : x1 - px], keep
                )
        return ColourCoefficients(out, self.step, self.origin, trust)


_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


def _background_noise(
    i: torch.Tensor, coarse: torch.Tensor, step: int, d: torch.Tensor, q: torch.Tensor
) -> torch.Tensor:
    """Variance of the alpha that the clean background's own texture would make, `d^T S d / q^2`, with `S`
    the colour covariance of the clean background (coarse matte below NOISE_CLEAN) within the background window,
    pooled over the clean pixels within NOISE_CELLS foreground cells; Kx1xhxw on the background grid."""
    # statistics pooled over tens of pixels: every other pixel of each cell samples them well enough (4x less work)
    sub = 2 if step % 2 == 0 else 1
    i, coarse, cell = i[..., ::sub, ::sub], coarse[..., ::sub, ::sub], step // sub
    wc = (1 - coarse.unsqueeze(1) / NOISE_CLEAN).clamp_(min=0)
    iw = i * wc
    prods = torch.cat([iw[:, a : a + 1] * i[:, b : b + 1] for a, b in _PAIRS], 1)
    near = box_mean(
        torch.cat([block_mean(wc, cell), block_mean(iw, cell), block_mean(prods, cell)], 1), BACKGROUND_RADIUS
    )
    norm = near[:, :1].clamp(min=1e-6)
    mean = near[:, 1:4] / norm
    cov = near[:, 4:10] / norm - torch.cat([mean[:, a : a + 1] * mean[:, b : b + 1] for a, b in _PAIRS], 1)
    weighted = torch.cat([near[:, :1], cov * near[:, :1]], 1)
    pooled = box_mean(block_mean(weighted, FOREGROUND_CELLS), NOISE_CELLS)
    # where little clean background is near (inside a sheer panel, a wide blur), the region's own statistics
    # stand in: an unmeasured background is not a quiet one
    region = weighted.mean(dim=(-2, -1), keepdim=True)
    region = region[:, 1:] / region[:, :1].clamp(min=1e-6)
    h, w = d.shape[-2:]
    pooled = upsample_crop(pooled, FOREGROUND_CELLS, (0, h, 0, w))
    s = (pooled[:, 1:] + NOISE_PRIOR * region) / (pooled[:, :1] + NOISE_PRIOR)
    v = (
        d[:, 0] * d[:, 0] * s[:, 0]
        + d[:, 1] * d[:, 1] * s[:, 3]
        + d[:, 2] * d[:, 2] * s[:, 5]
        + 2 * (d[:, 0] * d[:, 1] * s[:, 1] + d[:, 0] * d[:, 2] * s[:, 2] + d[:, 1] * d[:, 2] * s[:, 4])
    )
    return (v.unsqueeze(1) / (q * q).clamp(min=1e-8)).clamp_(min=0)


def fit_colour_model(
    plate: torch.Tensor,
    alpha0: torch.Tensor,
    step: int,
    origin: tuple[int, int] = (0, 0),
    coarse: torch.Tensor | None = None,
) -> ColourCoefficients:
    """Fit the local colour model around a guided matte.

    Arguments:
        plate: 3xHxW plate (0..1), the region the mattes cover.
        alpha0: KxHxW guided mattes (0..1) on the same region.
        step: plate pixels per cell of the background grid (`colour_step`).
        origin: the region's first cell in cells of the whole plate (for temporal blending).
        coarse: KxHxW coarse mattes on the region: where the clean background around them is busy, the
            coefficients' `trust` falls (None: trusted everywhere).
    Returns:
        The coefficients on that grid (cell i covers plate pixels [i*step, (i+1)*step)).
    """
    a = alpha0.unsqueeze(1)  # Kx1xHxW
    i = plate.unsqueeze(0)  # 1x3xHxW
    wb = (1 - a).square_().square_()
    clean = (1 - a / CLEAN).clamp_(min=0)
    near = box_mean(
        torch.cat([block_mean(i * wb, step), block_mean(wb, step), block_mean(clean, step)], 1), BACKGROUND_RADIUS
    )
    back = near[:, :3] / near[:, 3:4].clamp(min=1e-6)
    support_b = (near[:, 4:5] / BACKGROUND_SUPPORT).clamp_(max=1)
    cells = torch.cat([block_mean(i * a, step), block_mean(a * (1 - a), step), block_mean(a * a, step)], 1)
    # foreground: least squares of I = a F + (1 - a) B over the wide window, with B from the fine grid
    unmixed = torch.cat([cells[:, :3] - cells[:, 3:4] * back, cells[:, 4:5]], dim=1)
    wide = box_mean(block_mean(unmixed, FOREGROUND_CELLS), FOREGROUND_RADIUS)
    h, w = back.shape[-2:]
    wide = upsample_crop(wide, FOREGROUND_CELLS, (0, h, 0, w))
    fore = (wide[:, :3] / wide[:, 3:4].clamp(min=1e-6)).clamp_(0, 1)
    support = torch.minimum(support_b, (wide[:, 3:4] / FOREGROUND_SUPPORT).clamp_(0, 1))
    d = fore - back
    q = (d * d).sum(dim=1, keepdim=True)
    gain = support / (q + PRIOR)
    fields = torch.cat([d * gain, -(d * back).sum(dim=1, keepdim=True) * gain, 1 - q * gain], 1)
    trust = None
    if coarse is not None:
        trust = BUSY / (BUSY + _background_noise(i, coarse, step, d, q))
        h, w = fields.shape[-2:]
        i_s, a_s = i[..., ::step, ::step][..., :h, :w], a[..., ::step, ::step][..., :h, :w]
        c_s = coarse.unsqueeze(1)[..., ::step, ::step][..., :h, :w]
        pred = torch.addcmul(fields[:, 3:4], fields[:, 4:5], a_s).add_((fields[:, :3] * i_s).sum(dim=1, keepdim=True))
        errors = _known_error(torch.cat([pred.clamp_(0, 1), a_s.clamp(0, 1)], 1), c_s)
        known = 1 / (1 + (errors / KNOWN_ERROR).pow_(KNOWN_POWER))
        guided = trust / (1 + (errors[:, 1:] / GUIDED_ERROR).pow_(KNOWN_POWER))
        trust = torch.cat([trust * known[:, :1], guided], 1)
    return ColourCoefficients(fields, step, origin, trust)


def _known_error(mattes: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
    """Mean squared error of Kxmxhxw `mattes` (sampled at one pixel a cell) where the answer is known: on the
    clean background (the Kx1xhxw coarse matte below NOISE_CLEAN: should be 0) and inside the object (above
    1 - NOISE_CLEAN: should be 1), after the noise floor's snap, pooled like the background's variance (the
    region's mean where little is known nearby); Kxmxhxw. It catches what the variance cannot: the guided
    matte's own leaks."""
    h, w = mattes.shape[-2:]
    m = snap_tails(mattes)
    zero = (1 - coarse / NOISE_CLEAN).clamp_(min=0)
    one = (1 - (1 - coarse) / NOISE_CLEAN).clamp_(min=0)
    both = torch.cat([zero + one, zero * m * m + one * (1 - m).square()], 1)
    pooled = box_mean(block_mean(both, FOREGROUND_CELLS), NOISE_CELLS)
    region = both.mean(dim=(-2, -1), keepdim=True)
    pooled = upsample_crop(pooled, FOREGROUND_CELLS, (0, h, 0, w))
    return (pooled[:, 1:] + NOISE_PRIOR * region[:, 1:] / region[:, :1].clamp(min=1e-6)) / (pooled[:, :1] + NOISE_PRIOR)


def apply_colour_model(
    coeffs: ColourCoefficients,
    plate: torch.Tensor,
    alpha0: torch.Tensor,
    box: tuple[int, int, int, int],
    fallback: torch.Tensor | None = None,
    snap: float = 0.0,
) -> torch.Tensor:
    """Evaluate the colour model inside `box` (plate pixels of the fitted region): KxHbxWb, clamped to 0..1.

    Arguments:
        coeffs: from `fit_colour_model` on `plate` and `alpha0`.
        plate: 3xHxW plate of the fitted region.
        alpha0: KxHxW guided mattes of the fitted region.
        box: (y0, y1, x0, x1) inside that region.
        fallback: Kx(y1-y0)x(x1-x0) mattes (the coarse ones): where the colour model is not trusted the
            result fades to the guided matte as far as that is trusted, and the rest of the way to these;
            None: no fade.
        snap: the noise floor (`snap_tails`); with a fallback it scales with the larger of the two trusts,
            down to SNAP_UNTRUSTED of it where neither the model nor the guided matte is trusted.
    """
    y0, y1, x0, x1 = box
    f = upsample_crop(coeffs.fields, coeffs.step, box)
    crop = plate[:, y0:y1, x0:x1]
    out = torch.addcmul(f[:, 3], f[:, 4], alpha0[:, y0:y1, x0:x1])
    out = out.addcmul_(f[:, 0], crop[0]).addcmul_(f[:, 1], crop[1]).addcmul_(f[:, 2], crop[2]).clamp_(0, 1)
    if fallback is not None and coeffs.trust is not None:
        trust = upsample_crop(coeffs.trust, coeffs.step, box).clamp_(0, 1)
        fallback = torch.lerp(fallback, alpha0[:, y0:y1, x0:x1], trust[:, 1])
        return snap_tails(torch.lerp(fallback, out, trust[:, 0]), snap * trust.amax(dim=1).clamp(min=SNAP_UNTRUSTED))
    return snap_tails(out, snap)


def snap_tails(alpha: torch.Tensor, snap: float | torch.Tensor = SNAP) -> torch.Tensor:
    """Take values within `snap` (< 0.25; a number or a tensor like `alpha`) of 0 or 1 to 0 or 1, ramping back
    to the identity at 2 `snap`."""
    if not isinstance(snap, torch.Tensor) and snap <= 0:
        return alpha
    low = ((alpha - snap) * 2).clamp_(min=0)
    high = 1 - ((1 - alpha - snap) * 2).clamp_(min=0)
    return torch.where(alpha < 2 * snap, low, torch.where(alpha > 1 - 2 * snap, high, alpha))
