"""Test oracle: the DAVIS 2017 semi-supervised J and F, written independently of xmempp's metrics.

It follows the published protocol (davis2017-evaluation, `evaluation.py` / `metrics.py`) by its
description, with other algorithms than xmempp uses, so that the two can check each other:

* the objects of a sequence are ids 1..N, N the highest id in the first ground-truth frame;
* the first and last ground-truth frames are not scored; the others are, in sorted order;
* J = |P & G| / |P | G| (1 when both are empty);
* boundary map: a pixel is on it when it differs from one of its east, south and south-east
  neighbours that lie inside the image;
* F: a boundary pixel is matched when a pixel of the other boundary lies within Euclidean distance
  r = ceil(0.008 * image diagonal) (here with an exact distance transform instead of a dilation);
  precision and recall give F; no boundary on either side gives 1, on one side only 0.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def oracle_boundary(seg: np.ndarray) -> np.ndarray:
    """Boundary map of a binary mask (see the module docstring)."""
    seg = np.asarray(seg, dtype=bool)
    h, w = seg.shape
    out = np.zeros((h, w), dtype=bool)
    for dy, dx in ((0, 1), (1, 0), (1, 1)):
        here = seg[: h - dy, : w - dx]
        there = seg[dy:, dx:]
        out[: h - dy, : w - dx] |= here != there
    return out


def _within(points: np.ndarray, other: np.ndarray, radius: float) -> int:
    """How many `points` pixels lie within `radius` (Euclidean) of a pixel of `other`."""
    distance = cv2.distanceTransform((~other).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return int(np.count_nonzero(points & (distance <= radius + 1e-3)))


def oracle_jf(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> tuple[float, float]:
    """(J, F) of one binary prediction against one binary ground truth."""
    p, g = np.asarray(pred, bool), np.asarray(gt, bool)
    union = np.logical_or(p, g).sum()
    j = 1.0 if union == 0 else float(np.logical_and(p, g).sum() / union)
    radius = math.ceil(bound_th * math.sqrt(g.shape[0] ** 2 + g.shape[1] ** 2))
    pb, gb = oracle_boundary(p), oracle_boundary(g)
    n_p, n_g = int(pb.sum()), int(gb.sum())
    if n_p == 0 and n_g == 0:
        return j, 1.0
    if n_p == 0 or n_g == 0:
        return j, 0.0
    precision = _within(pb, gb, radius) / n_p
    recall = _within(gb, pb, radius) / n_g
    f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return j, f


def oracle_sequence(pred_dir: Path, gt_dir: Path) -> dict[int, tuple[float, float]]:
    """Per-object mean (J, F) of a sequence: {object id: (J, F)} (DAVIS semi-supervised)."""
    names = sorted(p.name for p in Path(gt_dir).glob("*.png"))
    first = np.array(Image.open(Path(gt_dir) / names[0]))
    objects = range(1, int(first.max()) + 1)
    scores: dict[int, list[tuple[float, float]]] = {o: [] for o in objects}
    for name in names[1:-1]:
        g = np.array(Image.open(Path(gt_dir) / name))
        p = np.array(Image.open(Path(pred_dir) / name))
        for o in objects:
            scores[o].append(oracle_jf(p == o, g == o))
    return {o: (float(np.mean([s[0] for s in v])), float(np.mean([s[1] for s in v]))) for o, v in scores.items()}


def perturbed_prediction(ids: np.ndarray, index: int) -> np.ndarray:
    """A plausible wrong prediction for frame `index` of a ground-truth id mask.

    The objects are eroded or dilated by a frame-dependent amount and shifted by a few pixels;
    every 7th frame loses its objects altogether and every 5th gains a false blob of object 1, so
    that the empty-boundary cases of F are exercised too.
    """
    size = 3 + 2 * (index % 4)
    kernel = np.ones((size, size), np.uint8)
    out = cv2.erode(ids, kernel) if index % 2 else cv2.dilate(ids, kernel)
    dy, dx = index % 5 - 2, index % 3 - 1
    out = np.roll(out, (dy, dx), axis=(0, 1))
    if index % 7 == 3:
        out[:] = 0
    if index % 5 == 1:
        out[10:40, 10:60] = 1
    return out
