"""Matting metrics against ground-truth alpha, as the Composition-1k / alphamatting.com evaluation code.

Alpha is 0..1 float. `sad` is the sum of absolute differences / 1000, `mse` the mean squared error,
`gradient_error` the squared difference of Gaussian-derivative gradient magnitudes (sigma 1.4) summed
/ 1000, `connectivity_error` the Composition-1k connectivity error (threshold step 0.1) / 1000, and
`dtssd` the temporal coherence error of Erofeev et al. (2015) x 100 as in the video matting
benchmarks. A `region` mask restricts a metric (Composition-1k scores its trimap's unknown region).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from xmempp.errors import InputError, Remedy, RemedyKind

__all__ = ["connectivity_error", "dtssd", "edge_region", "gradient_error", "mse", "sad"]


def _region(shape: tuple[int, ...], region: np.ndarray | None) -> np.ndarray:
    return np.ones(shape, bool) if region is None else np.asarray(region, bool)


def sad(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """Sum of absolute differences over `region` (default: the whole frame), / 1000."""
    m = _region(gt.shape, region)
    return float(np.abs(pred.astype(np.float64) - gt)[m].sum() / 1000.0)


def mse(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean squared error over `region` (default: the whole frame); 0 for an empty region."""
    m = _region(gt.shape, region)
    if not m.any():
        return 0.0
    return float(((pred.astype(np.float64) - gt) ** 2)[m].mean())


def _gauss_gradient(image: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """x and y derivatives by a Gaussian-derivative kernel (the alphamatting `gaussgradient`)."""
    epsilon = 1e-2
    half = int(math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * epsilon))))
    u = np.arange(-half, half + 1, dtype=np.float64)
    x, y = np.meshgrid(u, u)  # x along columns, y along rows

    def gauss(v: np.ndarray) -> np.ndarray:
        return np.exp(-(v**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))

    hx = gauss(y) * (-x * gauss(x) / sigma**2)  # gauss(row) * dgauss(column), as the MATLAB code
    hx /= math.sqrt((hx * hx).sum())
    hy = hx.T
    img = image.astype(np.float64)
    gx = cv2.filter2D(img, -1, hx, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(img, -1, hy, borderType=cv2.BORDER_REPLICATE)
    return gx, gy


def gradient_error(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None, sigma: float = 1.4) -> float:
    """Squared difference of gradient magnitudes (Gaussian derivatives, `sigma`) over `region`, / 1000."""
    px, py = _gauss_gradient(pred, sigma)
    tx, ty = _gauss_gradient(gt, sigma)
    err = (np.hypot(px, py) - np.hypot(tx, ty)) ** 2
    return float(err[_region(gt.shape, region)].sum() / 1000.0)


def connectivity_error(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None, step: float = 0.1) -> float:
    """Composition-1k connectivity error over `region`, / 1000.

    For each threshold, the largest 4-connected component where both mattes reach it is the source;
    a pixel's connectivity level is the last threshold at which it was in that component, and only
    the part of alpha above that level by at least 0.15 counts.
    """
    pred = pred.astype(np.float64)
    gt = gt.astype(np.float64)
    levels = np.full(gt.shape, -1.0)
    thresholds = np.arange(0, 1 + step / 2, step)
    for i in range(1, len(thresholds)):
        both = ((pred >= thresholds[i]) & (gt >= thresholds[i])).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(both, connectivity=4)
        omega = np.zeros(gt.shape, bool)
        if count > 1:
            omega = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        levels[(levels == -1) & ~omega] = thresholds[i - 1]
    levels[levels == -1] = 1.0
    pd, td = pred - levels, gt - levels
    pphi = 1 - pd * (pd >= 0.15)
    tphi = 1 - td * (td >= 0.15)
    return float(np.abs(pphi - tphi)[_region(gt.shape, region)].sum() / 1000.0)


def dtssd(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], region: np.ndarray | None = None) -> float:
    """Temporal coherence error: per frame pair, sqrt(mean(((a_t - a_t-1) - (g_t - g_t-1))^2)) x 100,
    averaged over the pairs (0 for fewer than two frames)."""
    if len(preds) != len(gts):
        raise InputError(
            f"{len(preds)} predictions for {len(gts)} ground-truth frames",
            remedy=Remedy(RemedyKind.FIX_INPUT, note="(one prediction per ground-truth frame)"),
        )
    if len(preds) < 2:
        return 0.0
    values = []
    for t in range(1, len(preds)):
        d = (preds[t].astype(np.float64) - preds[t - 1]) - (gts[t].astype(np.float64) - gts[t - 1])
        m = _region(d.shape, region)
        values.append(math.sqrt(float((d[m] ** 2).mean())) * 100 if m.any() else 0.0)
    return float(np.mean(values))


def edge_region(gt: np.ndarray, width: int) -> np.ndarray:
    """The ground truth's edge band: pixels within `width` of a pixel with 0 < alpha < 1 (a trimap's
    unknown region made from the ground truth, as Composition-1k's trimaps are)."""
    unknown = ((gt > 1e-3) & (gt < 1 - 1e-3)).astype(np.uint8)
    if width > 0:
        return cv2.dilate(unknown, np.ones((2 * width + 1, 2 * width + 1), np.uint8)).astype(bool)
    return unknown.astype(bool)
