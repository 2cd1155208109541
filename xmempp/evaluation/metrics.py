"""DAVIS-style evaluation: region similarity J, boundary accuracy F, and J&F.

* J is the intersection over union of the predicted and ground-truth object regions (1 when both
  are empty).
* F is the F-measure of boundary pixels: each boundary is the DAVIS one-pixel boundary map, and a
  boundary pixel counts as matched when the other boundary lies within a disk of radius
  `ceil(bound_th * image diagonal)` pixels (bound_th = 0.008, as in the DAVIS benchmark).

Scores are computed per object and frame, averaged over frames per object, then over objects.
J&F is the mean of J and F.

Which frames are scored follows the DAVIS 2017 semi-supervised protocol: the first and the last
ground-truth frame (in natural frame order) are not scored, nor are the annotated frames (the masks
the propagation started from); `include_ends=True` and an empty `annotated` score them too. The
objects are every id found in any ground-truth mask, scored frames or not (an object absent from
both masks of a frame scores J = F = 1 there), so an object seen only on an annotated frame still
counts, as in DAVIS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from xmempp.errors import InputError, Remedy, RemedyKind
from xmempp.io.images import IMAGE_EXTENSIONS, is_hidden, natural_key
from xmempp.io.masks import ColorTable, mask_frame_index, present_ids, read_mask
from xmempp.types import PathLike

__all__ = [
    "BOUND_TH",
    "EvalResult",
    "ObjectScore",
    "boundary_f_measure",
    "boundary_map",
    "disk",
    "evaluate_folders",
    "evaluate_masks",
    "excluded_frames",
    "region_similarity",
]

#: DAVIS boundary tolerance, as a fraction of the image diagonal.
BOUND_TH = 0.008


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary of a binary mask, as the DAVIS benchmark defines it.

    A pixel is on the boundary when it differs from its east, south or south-east neighbour
    (outside the image counts as background); on the last row only the east neighbour is compared,
    on the last column only the south one, and the bottom-right corner is never a boundary.

    Arguments:
        mask: HxW array, non-zero = object.
    Returns:
        HxW bool boundary map.
    """
    seg = np.asarray(mask) != 0
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    bmap = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    bmap[-1, :] = seg[-1, :] ^ east[-1, :]
    bmap[:, -1] = seg[:, -1] ^ south[:, -1]
    bmap[-1, -1] = False
    return bmap


def disk(radius: int) -> np.ndarray:
    """Disk-shaped structuring element: pixels with x^2 + y^2 <= radius^2.

    Arguments:
        radius: disk radius in pixels (>= 0).
    Returns:
        (2r+1)x(2r+1) uint8 array of 0/1.
    """
    r = int(radius)
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return ((x * x + y * y) <= r * r).astype(np.uint8)


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> float:
    """J: intersection over union of two binary masks (1.0 when both are empty).

    Arguments:
        pred: HxW predicted mask (non-zero = object).
        gt: HxW ground-truth mask.
    Returns:
        J in [0, 1].
    """
    p = np.asarray(pred) != 0
    g = np.asarray(gt) != 0
    union = np.count_nonzero(p | g)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(p & g)) / float(union)


def boundary_f_measure(pred: np.ndarray, gt: np.ndarray, bound_th: float = BOUND_TH) -> float:
    """F: boundary F-measure of two binary masks with the DAVIS tolerance.

    Arguments:
        pred: HxW predicted mask (non-zero = object).
        gt: HxW ground-truth mask.
        bound_th: tolerance as a fraction of the image diagonal (< 1) or in pixels (>= 1).
    Returns:
        F in [0, 1] (1.0 when neither mask has a boundary).
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise InputError(f"mask shapes differ: {pred.shape} vs {gt.shape}")
    radius = bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(*gt.shape[:2]))
    pred_b = boundary_map(pred)
    gt_b = boundary_map(gt)
    n_pred = int(np.count_nonzero(pred_b))
    n_gt = int(np.count_nonzero(gt_b))
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0  # precision or recall is 0
    kernel = disk(int(radius))
    pred_dil = cv2.dilate(pred_b.astype(np.uint8), kernel) != 0
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), kernel) != 0
    precision = np.count_nonzero(pred_b & gt_dil) / n_pred
    recall = np.count_nonzero(gt_b & pred_dil) / n_gt
    if precision + recall == 0:
        return 0.0
    return float(2.0 * precision * recall / (precision + recall))


@dataclass
class ObjectScore:
    """Scores of one object, averaged over the evaluated frames.

    Attributes:
        object_id: the object's id in the ground truth.
        J: mean region similarity.
        F: mean boundary F-measure.
        JF: (J + F) / 2.
        frames: number of frames averaged.
    """

    object_id: int
    J: float
    F: float
    JF: float
    frames: int


@dataclass
class EvalResult:
    """Result of an evaluation.

    Attributes:
        objects: per-object scores, by id.
        J: mean of the objects' J.
        F: mean of the objects' F.
        JF: (J + F) / 2.
        frames: number of ground-truth frames evaluated.
        stems: the evaluated frame stems.
        extra_ids: ids found in predictions but not in the ground truth (ignored).
        excluded: ground-truth frames not scored, stem -> why ("first", "last" or "annotated").
    """

    objects: list[ObjectScore]
    J: float
    F: float
    JF: float
    frames: int
    stems: list[str] = field(default_factory=list)
    extra_ids: list[int] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dictionary (`J&F` spelled as in DAVIS)."""
        return {
            "frames": self.frames,
            "J": self.J,
            "F": self.F,
            "J&F": self.JF,
            "objects": [{"id": o.object_id, "J": o.J, "F": o.F, "J&F": o.JF, "frames": o.frames} for o in self.objects],
            "extra_ids": list(self.extra_ids),
            "excluded": dict(self.excluded),
        }


def _frame_scores(pred: np.ndarray, gt: np.ndarray, bound_th: float) -> dict[int, tuple[float, float]]:
    """(J, F) of every id present in `pred` or `gt` on one frame."""
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    scores = {}
    for o in sorted(set(present_ids(gt)) | set(present_ids(pred))):
        p, g = pred == o, gt == o
        scores[o] = (region_similarity(p, g), boundary_f_measure(p, g, bound_th))
    return scores


def _summarise(
    frames: list[tuple[str, dict[int, tuple[float, float]]]], object_ids: Sequence[int], excluded: dict[str, str]
) -> EvalResult:
    """Average per-frame scores of `object_ids`: an object absent from both masks of a frame scores J = F = 1."""
    n = len(frames)
    all_ids = set().union(*(set(sc) for _, sc in frames))
    objects = []
    for o in object_ids:
        j = sum(sc.get(o, (1.0, 1.0))[0] for _, sc in frames) / n
        f = sum(sc.get(o, (1.0, 1.0))[1] for _, sc in frames) / n
        objects.append(ObjectScore(o, j, f, (j + f) / 2.0, n))
    if objects:
        j_mean = float(np.mean([o.J for o in objects]))
        f_mean = float(np.mean([o.F for o in objects]))
    else:  # the ground truth is all background: any predicted object is wrong
        j_mean = float(np.mean([min((v[0] for v in sc.values()), default=1.0) for _, sc in frames]))
        f_mean = float(np.mean([min((v[1] for v in sc.values()), default=1.0) for _, sc in frames]))
    stems = [s for s, _ in frames]
    return EvalResult(
        objects, j_mean, f_mean, (j_mean + f_mean) / 2.0, n, stems, sorted(all_ids - set(object_ids)), excluded
    )


def excluded_frames(
    gt_stems: Iterable[str], annotated: Iterable[str] = (), include_ends: bool = False
) -> dict[str, str]:
    """Ground-truth frames the DAVIS protocol does not score, and why.

    Arguments:
        gt_stems: stems of the ground-truth masks.
        annotated: names of the annotated frames (mask file stems such as `shot_a_1001`, or frame
            numbers such as `12`). Each one excludes the ground-truth frames with the same stem or,
            when none has it, those whose stem ends in the same frame number (`000012`,
            `frame_000012`). Names matching no ground-truth frame are ignored.
        include_ends: score the first and the last ground-truth frame too.
    Returns:
        {stem: "first" | "last" | "annotated"} in frame order.
    """
    ordered = sorted(set(gt_stems), key=natural_key)
    reasons: dict[str, str] = {}
    if ordered and not include_ends:
        reasons[ordered[0]] = "first"
        reasons.setdefault(ordered[-1], "last")
    by_number: dict[int, list[str]] = {}
    for stem in ordered:
        number = mask_frame_index(stem)
        if number is not None:
            by_number.setdefault(number, []).append(stem)
    stems = set(ordered)
    for name in annotated:
        name = str(name).strip()
        number = mask_frame_index(name)
        matches = [name] if name in stems else by_number.get(number, []) if number is not None else []
        for stem in matches:
            reasons.setdefault(stem, "annotated")
    return {stem: reasons[stem] for stem in ordered if stem in reasons}


def _scored(gt_stems: Iterable[str], annotated: Iterable[str], include_ends: bool) -> tuple[list[str], dict[str, str]]:
    """The ground-truth stems to score (frame order) and the excluded ones; raises when none is left."""
    ordered = sorted(gt_stems, key=natural_key)
    if not ordered:
        raise InputError("no ground-truth masks to evaluate")
    excluded = excluded_frames(ordered, annotated, include_ends)
    scored = [s for s in ordered if s not in excluded]
    if not scored:
        listed = ", ".join(f"{s} ({why})" for s, why in excluded.items())
        raise InputError(
            f"no ground-truth frame left to score: the DAVIS protocol excludes {listed}; add ground "
            f"truth for other frames",
            remedies=(Remedy(RemedyKind.ENABLE, "include_ends"), Remedy(RemedyKind.ENABLE, "include_annotated")),
        )
    return scored, excluded


def evaluate_masks(
    pred: Mapping[str, np.ndarray],
    gt: Mapping[str, np.ndarray],
    bound_th: float = BOUND_TH,
    *,
    annotated: Iterable[str] = (),
    include_ends: bool = False,
) -> EvalResult:
    """Evaluate predicted id masks against ground-truth id masks, paired by key (DAVIS protocol).

    Arguments:
        pred: {stem: HxW uint8 ids}; must hold every scored key of `gt`.
        gt: {stem: HxW uint8 ids} (0 = background); the objects are the ids found here.
        bound_th: boundary tolerance (see `boundary_f_measure`).
        annotated: annotated frames, not scored (see `excluded_frames`).
        include_ends: score the first and last ground-truth frames too.
    Returns:
        An `EvalResult`. Objects are scored on every scored frame (J = F = 1 where an object is
        absent from both masks), averaged over frames, then over objects.
    """
    scored, excluded = _scored(gt, annotated, include_ends)
    frames = []
    for stem in scored:
        if stem not in pred:
            raise InputError(f"no prediction for ground-truth frame {stem}")
        p, g = np.asarray(pred[stem]), np.asarray(gt[stem])
        if p.shape != g.shape:
            raise InputError(
                f"prediction {stem} is {p.shape[1]}x{p.shape[0]} but its ground truth is "
                f"{g.shape[1]}x{g.shape[0]}; evaluate at the ground truth's resolution"
            )
        frames.append((stem, _frame_scores(p, g, bound_th)))
    object_ids = sorted(set().union(*(present_ids(g) for g in gt.values())))
    return _summarise(frames, object_ids, excluded)


def _mask_files(folder: Path, what: str) -> dict[str, Path]:
    if not folder.exists():
        raise InputError(f"{what} folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"{what} path {folder} is not a folder of masks")
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir(), key=lambda q: q.name):
        if not p.is_file() or is_hidden(p):
            continue
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            raise InputError(f"{p} in the {what} folder is not an image; remove it or move it elsewhere")
        if p.stem in files:
            raise InputError(f"two {what} masks share the name {p.stem!r}: {files[p.stem].name} and {p.name}")
        files[p.stem] = p
    return files


def _by_frame_number_if_needed(pred_files: dict[str, Path], gt_files: dict[str, Path]) -> dict[str, Path]:
    """Re-key predictions by the ground-truth stem with the same trailing number, if no stem matches."""
    if set(pred_files) & set(gt_files):
        return pred_files
    by_number = {mask_frame_index(stem): path for stem, path in pred_files.items()}
    return {
        stem: by_number[mask_frame_index(stem)]
        for stem in gt_files
        if mask_frame_index(stem) is not None and mask_frame_index(stem) in by_number
    }


def _masks_of(folder: Path) -> Path:
    """`folder/masks` when `folder` is an xmempp output folder (a `masks/` and no mask images of its own)."""
    if (folder / "masks").is_dir() and not any(
        p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir() if p.is_file()
    ):
        return folder / "masks"
    return folder


def evaluate_folders(
    pred_dir: PathLike,
    gt_dir: PathLike,
    bound_th: float = BOUND_TH,
    *,
    annotated: Iterable[str] = (),
    include_ends: bool = False,
) -> EvalResult:
    """Evaluate a folder of predicted masks against a folder of ground-truth masks (DAVIS protocol).

    Masks pair by file stem; when no stem matches at all, they pair by the stems' trailing frame
    numbers (a video's `000012.png` with `frame_000012.png`). Every scored ground-truth mask needs
    a prediction (predictions without ground truth are ignored). Either folder may also be an xmempp
    output folder (its `masks/` is used). Masks are read like annotations (palette, grayscale or
    flat RGB PNGs).

    Arguments:
        pred_dir: folder of predicted index masks, or an xmempp output folder.
        gt_dir: folder of ground-truth index masks, or an xmempp output folder.
        bound_th: boundary tolerance (see `boundary_f_measure`).
        annotated: annotated frames, not scored (see `excluded_frames`).
        include_ends: score the first and last ground-truth frames too.
    Returns:
        An `EvalResult`. Raises `InputError` for missing/empty folders, missing predictions,
        unreadable masks, size mismatches, or when every ground-truth frame is excluded.
    """
    pred_dir, gt_dir = _masks_of(Path(pred_dir)), _masks_of(Path(gt_dir))
    gt_files = _mask_files(gt_dir, "ground-truth")
    if not gt_files:
        raise InputError(f"ground-truth folder {gt_dir} holds no masks")
    pred_files = _by_frame_number_if_needed(_mask_files(pred_dir, "prediction"), gt_files)
    scored, excluded = _scored(gt_files, annotated, include_ends)
    missing = [s for s in scored if s not in pred_files]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise InputError(
            f"no prediction for ground-truth frame {missing[0]}{more} in {pred_dir}; predictions "
            f"must be named like the ground-truth masks ({gt_files[missing[0]].name})"
        )
    gt_table, pred_table = ColorTable(), ColorTable()
    object_ids: set[int] = set()
    frames = []
    for stem in sorted(gt_files, key=natural_key):  # one pass: ground truth of every frame, predictions in frame order
        g = read_mask(gt_files[stem], color_table=gt_table)
        object_ids.update(g.object_ids)
        if stem not in pred_files:
            continue  # an excluded frame without prediction
        p = read_mask(pred_files[stem], color_table=pred_table)
        if p.size != g.size:
            raise InputError(
                f"prediction {pred_files[stem]} is {p.size[1]}x{p.size[0]} but ground truth "
                f"{gt_files[stem]} is {g.size[1]}x{g.size[0]}; they must have the same resolution"
            )
        if stem not in excluded:
            frames.append((stem, _frame_scores(p.ids, g.ids, bound_th)))
    return _summarise(frames, sorted(object_ids), excluded)
