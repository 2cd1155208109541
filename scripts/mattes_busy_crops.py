"""The crops of docs/mattes_busy.png: hair over a busy background (a pale post and a rail behind it).

Panels, left to right: the plate, the network-like coarse matte upsampled bilinearly (`process --alpha`),
`--refine guided` as it was in round 1 (the colour model trusted everywhere), the refine stage's defaults
now, and the exact alpha. Run from the repository root:

    python scripts/mattes_busy_crops.py [--out docs/mattes_busy.png] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from xmempp.evaluation.coarse import DisplacementField, network_matte
from xmempp.evaluation.composites import make_busy_scene
from xmempp.refine import Refiner, RefineSettings, colour


def _refine(plate: np.ndarray, coarse: np.ndarray, trusted: bool) -> np.ndarray:
    """The refined matte, with the colour model's trust on or (as in round 1) off: trusted everywhere."""
    keep = colour.BUSY, colour.KNOWN_ERROR
    if not trusted:
        colour.BUSY, colour.KNOWN_ERROR = 1e30, 1e30
    try:
        return np.asarray(Refiner(RefineSettings(mode="guided"))(plate, np.stack([1 - coarse, coarse])))[1]
    finally:
        colour.BUSY, colour.KNOWN_ERROR = keep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/mattes_busy.png"))
    parser.add_argument("--seed", type=int, default=0, help="busy scene seed (0: posts, still background)")
    args = parser.parse_args()
    frame = make_busy_scene("hair", 1080, 1920, 1, seed=args.seed)[0]
    coarse = network_matte(frame.alpha, 480, DisplacementField(args.seed), 0, 0.8)
    before, after = _refine(frame.plate, coarse, False), _refine(frame.plate, coarse, True)
    # the crop: the 360x260 window with the most difference between the two refinements inside the hair
    soft = ((frame.alpha > 0.02) & (frame.alpha < 0.98)).astype(np.float64)
    score = np.abs(after - before).astype(np.float64) * soft + 0.01 * soft
    sums = cv2.integral(score)  # window sums of 260x360 for every top-left corner
    windows = sums[260:, 360:] - sums[:-260, 360:] - sums[260:, :-360] + sums[:-260, :-360]
    wy, wx = np.unravel_index(int(np.argmax(windows)), windows.shape)
    cy, cx = wy + 130, wx + 180
    y0 = int(np.clip(cy - 130, 0, 1080 - 260))
    x0 = int(np.clip(cx - 180, 0, 1920 - 360))
    crop = (slice(y0, y0 + 260), slice(x0, x0 + 360))

    def grey(a: np.ndarray) -> np.ndarray:
        return np.repeat(np.rint(np.clip(a[crop], 0, 1) * 255).astype(np.uint8)[..., None], 3, 2)

    panels = [
        np.rint(frame.plate[crop][..., ::-1] * 255).astype(np.uint8),
        grey(coarse),
        grey(before),
        grey(after),
        grey(frame.alpha),
    ]
    gap = np.full((260, 6, 3), 255, np.uint8)
    row = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), row)
    print(f"wrote {args.out} (crop at x {x0}, y {y0})")


if __name__ == "__main__":
    main()
