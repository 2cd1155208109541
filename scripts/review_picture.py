"""Draw docs/review.png: the review's score strip and the worst frame of each flagged span, on the chair
clip of ../shared/data with failures injected by `xmempp.evaluation.review_cases`.

    python scripts/review_picture.py [--out docs/review.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from xmempp.evaluation.review_cases import inject_failures
from xmempp.review import review_sequence
from xmempp.review.report import flagged_spans

CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "chair"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "review.png")
    args = parser.parse_args()
    frames = [np.array(Image.open(p).convert("RGB")) for p in sorted((CLIP / "JPEGImages").glob("*.jpg"))]
    truth = [np.array(Image.open(p)) for p in sorted((CLIP / "Annotations").glob("*.png"))]
    injected = inject_failures(truth, seed=100)
    reviews = review_sequence(frames, injected.masks, [f"{i:04d}" for i in range(len(frames))], keyframes={0: truth[0]})
    width, strip_height = 960, 36
    strip = np.full((strip_height, width, 3), 40, np.uint8)
    for i, review in enumerate(reviews):
        x0, x1 = i * width // len(reviews), (i + 1) * width // len(reviews)
        hue = 0 if review.flagged else int(60 * review.score)  # OpenCV hue: 0 red .. 60 green
        colour = cv2.cvtColor(np.uint8([[[hue, 200, 220]]]), cv2.COLOR_HSV2RGB)[0, 0]
        strip[4:26, x0 : x1 - 1] = colour
        if i in injected.failures:
            strip[29:34, x0 : x1 - 1] = (230, 230, 230)  # where failures were injected
    tiles = []
    for span in flagged_spans(reviews)[:4]:
        position = span.worst_position
        image = cv2.resize(frames[position], (240, 160), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(injected.masks[position], (240, 160), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(image, contours, -1, (255, 40, 40), 2)
        card = np.full((210, 240, 3), 30, np.uint8)
        card[:160] = image
        cv2.putText(
            card,
            f"frame {span.worst} ({span.length})",
            (4, 178),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
        cv2.putText(
            card, span.reasons[0][:38], (4, 198), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 200, 120), 1, cv2.LINE_AA
        )
        tiles.append(card)
    row = np.concatenate(tiles + [np.full((210, width - 240 * len(tiles), 3), 30, np.uint8)], axis=1)
    Image.fromarray(np.concatenate([strip, row], axis=0)).save(args.out)
    print(f"wrote {args.out}: {sum(r.flagged for r in reviews)} of {len(reviews)} frames flagged")


if __name__ == "__main__":
    main()
