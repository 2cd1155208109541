"""End-to-end `xmempp refine` against the refine stage alone, in one run: frames per second of each.

Writes `--frames` generated 2K plates (8-bit PNG) and 16-bit coarse mattes to a temporary folder, times
the stage on frames already in memory, then `refine_folders` (decode, refine, encode, the files written),
and prints both rates and their ratio. Run from the repository root:

    python scripts/refine_throughput.py [--frames 8] [--threads 2] [--height 1080 --width 2048]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from xmempp.evaluation.coarse import DisplacementField, network_matte
from xmempp.evaluation.composites import make_scene
from xmempp.refine import Refiner, RefineSettings
from xmempp.refine.folders import refine_folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--width", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    scene = make_scene("hair", args.height, args.width, args.frames, seed=0)
    field = DisplacementField(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "plate").mkdir()
        (root / "alpha").mkdir()
        plates, mattes = [], []
        for i, c in enumerate(scene):
            plate = np.rint(c.plate * 255).astype(np.uint8)
            matte = np.rint(network_matte(c.alpha, 480, field, i) * 65535).astype(np.uint16)
            cv2.imwrite(str(root / f"plate/f_{i:04d}.png"), plate[..., ::-1])
            cv2.imwrite(str(root / f"alpha/f_{i:04d}.png"), matte)
            plates.append(plate)
            mattes.append(matte.astype(np.float32) / 65535)
        settings = RefineSettings(mode="guided")
        refiner = Refiner(settings)
        refiner(plates[0], np.stack([1 - mattes[0], mattes[0]]))  # warm-up
        start = time.perf_counter()
        for plate, matte in zip(plates, mattes):
            refiner(plate, np.stack([1 - matte, matte]))
        stage = args.frames / (time.perf_counter() - start)
        report = refine_folders(root / "plate", root / "alpha", root / "out", settings)
    print(
        f"{args.width}x{args.height}, {args.frames} frames, {args.threads} threads: stage alone {stage:.2f} fps, "
        f"xmempp refine end to end {report.fps:.2f} fps ({report.fps / stage:.2f} of the stage's rate)"
    )


if __name__ == "__main__":
    main()
