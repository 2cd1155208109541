"""Agreement of a precision with fp32 on a real clip: decisive argmax agreement and max |dp|, per frame and overall.

Usage, from the repository root:
    python scripts/precision_agreement.py --video CLIP/JPEGImages --masks CLIP/Annotations --model XMem.pth \
        [--precision bf16] [--size 480] [--threads N] [--first-mask-only]
Prints one JSON line: frames, decisive pixels, agreement (all decisive pixels pooled), the worst frame's
agreement, max |dp|, and both runs' seconds. A pixel is decisive where fp32's top two probabilities are
>= 0.01 apart (the golden fixtures' rule).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from xmempp import InferenceConfig, load_model, propagate
from xmempp.io.masks import read_mask_folder
from xmempp.io.sources import open_frames


def run(model, frames, references, config) -> tuple[list[np.ndarray], float]:
    """Every frame's probabilities and the seconds the propagation took."""
    started = time.perf_counter()
    probs = [p.numpy() for _, p in propagate(model, frames, references, config)]
    return probs, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--masks", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--size", type=int, default=480)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--first-mask-only",
        action="store_true",
        help="Use only the first annotated frame's mask (clips annotated on every frame).",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    source = open_frames(args.video)
    frames = [source[i] for i in range(len(source))]
    found = read_mask_folder(args.masks, source.names, source.size, by_index=source.is_video)
    references = {index: mask.ids for index, mask in sorted(found.items())}
    if args.first_mask_only:
        references = dict(list(references.items())[:1])
    config = InferenceConfig(size=args.size)
    base, base_s = run(load_model(args.model, device="cpu", precision="fp32"), frames, references, config)
    other, other_s = run(load_model(args.model, device="cpu", precision=args.precision), frames, references, config)
    agree = decisive_total = 0
    worst, max_dp = 1.0, 0.0
    for a, b in zip(base, other):
        top2 = np.sort(a, axis=0)[-2:]
        decisive = (top2[1] - top2[0]) >= 0.01
        same = (a.argmax(0) == b.argmax(0))[decisive]
        agree, decisive_total = agree + int(same.sum()), decisive_total + int(decisive.sum())
        if same.size:
            worst = min(worst, float(same.mean()))
        max_dp = max(max_dp, float(np.abs(a - b).max()))
    print(
        json.dumps(
            {
                "clip": str(args.video),
                "precision": args.precision,
                "size": args.size,
                "frames": len(base),
                "references": sorted(references),
                "threads": torch.get_num_threads(),
                "decisive_pixels": decisive_total,
                "agreement": agree / max(decisive_total, 1),
                "worst_frame_agreement": worst,
                "max_dp": max_dp,
                "fp32_seconds": round(base_s, 1),
                f"{args.precision}_seconds": round(other_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
