"""Matting scores of soft-matte folders against ground-truth alpha folders (see `xmempp.evaluation.matting`).

Both folders use the soft-matte layouts of `xmempp.io.matte_folders` (one object's mattes, or one
sub-folder per object id); an xmempp output folder is read through its `alpha/`. Mattes pair by object
id and frame stem; every ground-truth frame needs a prediction. MSE, gradient and connectivity errors
are scored in the ground truth's edge band (its 0 < alpha < 1 pixels dilated by `band` pixels), SAD
over the whole frame; dtSSD over consecutive ground-truth frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xmempp.errors import InputError, Remedy, RemedyKind
from xmempp.evaluation.matting import connectivity_error, dtssd, edge_region, gradient_error, mse, sad
from xmempp.io.matte_folders import find_matte_folders, read_soft_matte

__all__ = ["MATTING_METRICS", "MattingResult", "MattingScore", "evaluate_matte_folders"]

MATTING_METRICS = ("sad", "mse", "grad", "conn", "dtssd")


@dataclass
class MattingScore:
    """Mean scores of one object over its frames (lower is better)."""

    object_id: int
    frames: int
    sad: float
    mse: float
    grad: float
    conn: float
    dtssd: float


@dataclass
class MattingResult:
    """Per-object scores and their mean."""

    objects: list[MattingScore]

    def mean(self, metric: str) -> float:
        """The mean of `metric` over objects."""
        return float(np.mean([getattr(o, metric) for o in self.objects])) if self.objects else 0.0

    def to_dict(self) -> dict:
        """JSON-ready scores."""
        return {"objects": [asdict(o) for o in self.objects], "mean": {m: self.mean(m) for m in MATTING_METRICS}}


def _layout(folder: Path) -> dict[int, dict[str, Path]]:
    alpha = folder / "alpha"
    return find_matte_folders(alpha if alpha.is_dir() else folder)


def evaluate_matte_folders(
    pred_dir: str | Path, gt_dir: str | Path, band: int = 8, connectivity: bool = True
) -> MattingResult:
    """Score predicted soft mattes against ground-truth alpha.

    Arguments:
        pred_dir: predicted mattes (or an xmempp output folder holding `alpha/`).
        gt_dir: ground-truth alpha, same layout and names.
        band: dilation of the ground truth's edge band, in pixels.
        connectivity: compute the (slowest) connectivity error; 0 when False.
    Returns:
        A `MattingResult`. Raises `InputError` when an object or a frame has no prediction.
    """
    pred, gt = _layout(Path(pred_dir)), _layout(Path(gt_dir))
    if len(gt) == 1 and len(pred) == 1:
        pred = {next(iter(gt)): next(iter(pred.values()))}
    scores = []
    for oid, frames in gt.items():
        if oid not in pred:
            raise InputError(f"no predicted mattes for object {oid} in {pred_dir}")
        missing = [s for s in frames if s not in pred[oid]]
        if missing:
            raise InputError(
                f"object {oid} has no prediction for {len(missing)} ground-truth frame(s) "
                f"(first: {missing[0]}) in {pred_dir}",
                remedy=Remedy(RemedyKind.FIX_INPUT),
            )
        preds, gts, rows = [], [], []
        for stem, path in frames.items():
            g = read_soft_matte(path)
            p = read_soft_matte(pred[oid][stem])
            if p.shape != g.shape:
                raise InputError(
                    f"matte {pred[oid][stem]} is {p.shape[1]}x{p.shape[0]} but its ground truth is "
                    f"{g.shape[1]}x{g.shape[0]}"
                )
            region = edge_region(g, band)
            rows.append(
                (
                    sad(p, g),
                    mse(p, g, region),
                    gradient_error(p, g, region),
                    connectivity_error(p, g, region) if connectivity else 0.0,
                )
            )
            preds.append(p)
            gts.append(g)
        m = np.mean(rows, axis=0)
        scores.append(
            MattingScore(oid, len(rows), float(m[0]), float(m[1]), float(m[2]), float(m[3]), dtssd(preds, gts))
        )
    return MattingResult(scores)
