"""Measure the review (`xmempp.review`) on shots with injected failures: recall per kind, right frames flagged.

    python scripts/review_quality.py --seeds 34-39 [--injections 2] [--chair] [--hard] [--clean]

Shots come from `xmempp.evaluation.review_cases.make_scene` (seed s has 1 + s % 3 objects, 40 frames,
bursts of fast camera motion; `--hard` adds motion blur, an untracked bar in front, an object leaving the
picture and one sliding behind another); `--chair` adds the chair clip of ../shared/data (dense ground truth);
`--clean` reviews the shots without failures too (right frames flagged on clean shots).
Each shot gets every failure kind once per injection seed (100, 101, ...); frame 0 is the keyframe.
Prints one line per shot, then the totals (docs/review.md quotes them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from xmempp.evaluation.review_cases import ReviewScore, inject_failures, make_scene, score_review
from xmempp.review import review_sequence

CHAIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "chair"


def _shots(seeds: range, chair: bool, hard: bool):
    for seed in seeds:
        scene = make_scene(seed, objects=1 + seed % 3, hard=hard)
        yield f"seed {seed}", scene.frames, scene.masks
    if chair:
        frames = [np.array(Image.open(p).convert("RGB")) for p in sorted((CHAIR / "JPEGImages").glob("*.jpg"))]
        yield "chair", frames, [np.array(Image.open(p)) for p in sorted((CHAIR / "Annotations").glob("*.png"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="34-39", help="FIRST-LAST scene seeds")
    parser.add_argument("--injections", type=int, default=2, help="injection seeds per shot")
    parser.add_argument("--first-injection", type=int, default=100, help="the first injection seed")
    parser.add_argument("--chair", action="store_true", help="add the chair clip of ../shared/data")
    parser.add_argument("--hard", action="store_true", help="the harder scenes (make_scene(hard=True))")
    parser.add_argument("--clean", action="store_true", help="also review each shot without failures")
    args = parser.parse_args()
    first, last = (int(v) for v in args.seeds.split("-"))
    total, worst, clean_flags, clean_frames, clean_worst = ReviewScore(), 0.0, 0, 0, 0.0
    for name, frames, masks in _shots(range(first, last + 1), args.chair, args.hard):
        if args.clean:
            flags = [r.flagged for r in review_sequence(frames, masks, keyframes={0: masks[0]})][1:]
            clean_flags, clean_frames = clean_flags + sum(flags), clean_frames + len(flags)
            clean_worst = max(clean_worst, sum(flags) / max(1, len(flags)))
            print(
                f"{name} clean: right frames flagged {100 * sum(flags) / max(1, len(flags)):.1f} % "
                f"(frames {[t + 1 for t, f in enumerate(flags) if f]})",
                flush=True,
            )
        for injection in range(args.injections):
            injected = inject_failures(masks, seed=args.first_injection + injection)
            reviews = review_sequence(frames, injected.masks, keyframes={0: masks[0]})
            score = score_review([r.flagged for r in reviews], injected.failures)
            total.add(score)
            worst = max(worst, score.false_positive_rate)
            print(
                f"{name} injection {injection}: recall {score.recall:.2f}, right frames flagged "
                f"{100 * score.false_positive_rate:.1f} %",
                flush=True,
            )
    print(
        f"recall {total.recall:.3f}; right frames flagged {100 * total.false_positive_rate:.1f} % "
        f"(worst shot {100 * worst:.1f} %)"
    )
    if args.clean:
        print(
            f"clean shots: right frames flagged {100 * clean_flags / max(1, clean_frames):.1f} % "
            f"(worst shot {100 * clean_worst:.1f} %)"
        )
    print("per kind: " + ", ".join(f"{k} {total.found.get(k, 0)}/{n}" for k, n in sorted(total.failed.items())))


if __name__ == "__main__":
    main()
