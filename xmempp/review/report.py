"""The review's outputs: `qc.json` (every frame and object), flagged spans, and the `qc.html` contact sheet.

`qc.json`:
    {"version": 1,
     "frames": [{"frame": "<name>", "index": 0, "keyframe": false,
                 "objects": {"<id>": {"score": 0.93, "flagged": false, "reasons": []}}}, ...],
     "summary": {"frames": N, "flagged_frames": F, "objects": [...], "spans": [...]}}
A span is a run of consecutive flagged frames: its first and last frame, its length, its worst
frame and score, the objects flagged in it and their reasons.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from xmempp.io.atomic import atomic_write_bytes
from xmempp.review.reviewer import FrameReview

__all__ = ["Span", "flagged_spans", "review_to_dict", "write_qc_html", "write_qc_index", "write_qc_json"]

#: The qc.json layout's version.
QC_VERSION = 1


@dataclass
class Span:
    """Consecutive flagged frames."""

    first: str
    last: str
    start: int  # position of the first frame in the review
    length: int
    worst: str
    worst_position: int
    score: float
    objects: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The span as qc.json writes it."""
        return {
            "first": self.first,
            "last": self.last,
            "frames": self.length,
            "worst": self.worst,
            "score": self.score,
            "objects": self.objects,
            "reasons": self.reasons,
        }


def flagged_spans(frames: Sequence[FrameReview]) -> list[Span]:
    """Runs of consecutive flagged frames, worst (lowest score) first; a span's reasons are its worst frame's
    first (what its thumbnail shows), then the other frames' in order, six at most."""
    spans: list[Span] = []
    reasons: list[dict[int, list[str]]] = []  # per span: position -> its flagged objects' reasons
    current: Span | None = None
    for position, frame in enumerate(frames):
        if not frame.flagged:
            current = None
            continue
        flagged = {o: v for o, v in frame.objects.items() if v.flagged}
        if current is None:
            current = Span(frame.name, frame.name, position, 0, frame.name, position, frame.score)
            spans.append(current)
            reasons.append({})
        current.last = frame.name
        current.length += 1
        if frame.score < current.score:
            current.score, current.worst, current.worst_position = frame.score, frame.name, position
        current.objects = sorted(set(current.objects) | set(flagged))
        reasons[-1][position] = [reason for verdict in flagged.values() for reason in verdict.reasons]
    for span, by_position in zip(spans, reasons):
        ordered = by_position[span.worst_position] + [r for p, rs in by_position.items() for r in rs]
        span.reasons = list(dict.fromkeys(ordered))[:6]
    return sorted(spans, key=lambda s: (s.score, -s.length))


def review_to_dict(frames: Sequence[FrameReview], *, source: dict | None = None) -> dict:
    """The whole review as qc.json holds it (`source`: what was reviewed, for the reader)."""
    ids = sorted({o for f in frames for o in f.objects})
    per_object = []
    for o in ids:
        scores = [f.objects[o].score for f in frames if o in f.objects]
        per_object.append(
            {
                "id": o,
                "frames": len(scores),
                "flagged": sum(1 for f in frames if o in f.objects and f.objects[o].flagged),
                "min_score": min(scores),
            }
        )
    spans = flagged_spans(frames)
    return {
        "version": QC_VERSION,
        "source": source or {},
        "frames": [
            {
                "frame": f.name,
                "index": f.index,
                "keyframe": f.keyframe,
                "score": f.score,
                "objects": {
                    str(o): {"score": v.score, "flagged": v.flagged, "reasons": v.reasons} for o, v in f.objects.items()
                },
            }
            for f in frames
        ],
        "summary": {
            "frames": len(frames),
            "flagged_frames": sum(f.flagged for f in frames),
            "objects": per_object,
            "spans": [s.to_dict() for s in spans],
        },
    }


def write_qc_json(path: Path, frames: Sequence[FrameReview], *, source: dict | None = None) -> dict:
    """Write qc.json atomically; returns what was written."""
    data = review_to_dict(frames, source=source)
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())
    return data


def _strip_svg(frames: Sequence[tuple[str, float, bool, bool]]) -> str:
    """The score strip: one bar per frame (name, score, flagged, keyframe), coloured by score (green good ..
    red flagged), keyframes ticked in blue."""
    width = max(1, len(frames))
    bars = []
    for x, (name, s, flagged, keyframe) in enumerate(frames):
        colour = "#d62728" if flagged else f"hsl({int(120 * s)},70%,{45 + int(10 * (1 - s))}%)"
        title = html.escape(f"{name}: {s:.2f}" + (" (keyframe)" if keyframe else ""))
        bars.append(f'<rect x="{x}" y="0" width="1" height="20" fill="{colour}"><title>{title}</title></rect>')
        if keyframe:
            bars.append(f'<rect x="{x}" y="20" width="1" height="4" fill="#1f77b4"/>')
    return (
        f'<svg viewBox="0 0 {width} 24" preserveAspectRatio="none" width="100%" height="48">' + "".join(bars) + "</svg>"
    )


def _thumbnail(rgb: np.ndarray, ids: np.ndarray, objects: Sequence[int], width: int = 320) -> str:
    """A data-URI JPEG of the frame with the flagged objects' masks outlined."""
    scale = width / rgb.shape[1]
    size = (width, max(1, round(rgb.shape[0] * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    labels = cv2.resize(ids, size, interpolation=cv2.INTER_NEAREST)
    bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    for o in objects:
        contours, _ = cv2.findContours((labels == o).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(bgr, contours, -1, (0, 0, 255), 2)
        cv2.drawContours(bgr, contours, -1, (255, 255, 255), 1)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode() if ok else ""


def write_qc_html(
    path: Path,
    frames: Sequence[FrameReview],
    title: str,
    load: Callable[[int], tuple[np.ndarray, np.ndarray]],
    *,
    max_thumbnails: int = 24,
) -> None:
    """Write the self-contained contact sheet (score strip, worst frame of each flagged span with its
    masks outlined and reasons, a table of every span) atomically.

    Arguments:
        path: the .html file.
        frames: the review.
        title: the shot's name.
        load: position in `frames` -> (HxWx3 uint8 RGB frame, HxW index mask), for the thumbnails.
        max_thumbnails: spans shown with a picture (the worst ones).
    """
    spans = flagged_spans(frames)
    cards = []
    for span in spans[:max_thumbnails]:
        rgb, ids = load(span.worst_position)
        what = f"{span.first}" if span.length == 1 else f"{span.first} – {span.last} ({span.length} frames)"  # noqa: RUF001 (an en dash between frame numbers)
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in span.reasons)
        cards.append(
            f'<figure><img src="{_thumbnail(rgb, ids, span.objects)}" alt="{html.escape(span.worst)}">'
            f"<figcaption><b>{html.escape(what)}</b><br>worst {html.escape(span.worst)}, score "
            f"{span.score:.2f}, objects {', '.join(map(str, span.objects))}<ul>{reasons}</ul>"
            f"</figcaption></figure>"
        )
    rows = "".join(
        f"<tr><td>{html.escape(s.first)}</td><td>{html.escape(s.last)}</td><td>{s.length}</td>"
        f"<td>{html.escape(s.worst)}</td><td>{s.score:.2f}</td><td>{', '.join(map(str, s.objects))}</td>"
        f"<td>{html.escape('; '.join(s.reasons))}</td></tr>"
        for s in spans
    )
    flagged = sum(f.flagged for f in frames)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>QC: {html.escape(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em;background:#1e1e1e;color:#ddd}}
figure{{display:inline-block;vertical-align:top;width:330px;margin:0 1em 1em 0}}
img{{width:320px;border:1px solid #555}} table{{border-collapse:collapse}}
td,th{{border:1px solid #555;padding:2px 6px;text-align:left}} ul{{margin:.3em 0;padding-left:1.2em}}
</style></head><body>
<h1>QC: {html.escape(title)}</h1>
<p>{len(frames)} frames, {flagged} flagged in {len(spans)} spans. Strip: one bar per frame, green good, red
flagged; blue ticks mark keyframes.</p>
{_strip_svg([(f.name, f.score, f.flagged, f.keyframe) for f in frames])}
<h2>Flagged spans, worst first</h2>
{"".join(cards) or "<p>No frame flagged.</p>"}
<h2>Every span</h2>
<table><tr><th>first</th><th>last</th><th>frames</th><th>worst</th><th>score</th><th>objects</th><th>reasons</th></tr>
{rows}</table>
</body></html>
"""
    atomic_write_bytes(path, page.encode())


_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;background:#1e1e1e;color:#ddd}
table{border-collapse:collapse;width:100%} td,th{border:1px solid #555;padding:2px 6px;text-align:left}
a{color:#8cf} td.strip{width:40%}"""


def write_qc_index(path: Path, shots: Sequence[tuple[str, Path]], title: str) -> int:
    """Write one page over many shots' reviews (a batch): per shot its score strip, flagged frames, worst span
    and a link to its own qc.html; shots without a qc.json are listed as not reviewed.

    Arguments:
        path: the .html file (written atomically).
        shots: (name, output folder holding qc.json / qc.html) per shot.
        title: the page's title (the shot list).
    Returns:
        The number of shots with a review.
    """
    rows, reviewed = [], 0
    for name, folder in shots:
        qc = Path(folder) / "qc.json"
        if not qc.is_file():
            rows.append(f"<tr><td>{html.escape(name)}</td><td colspan=4>not reviewed</td></tr>")
            continue
        reviewed += 1
        data = json.loads(qc.read_text())
        summary = data["summary"]
        strip = _strip_svg(
            [
                (f["frame"], f["score"], any(o["flagged"] for o in f["objects"].values()), f.get("keyframe", False))
                for f in data["frames"]
            ]
        )
        worst = summary["spans"][0] if summary["spans"] else None
        said = (
            (
                f"{html.escape(worst['first'])}-{html.escape(worst['last'])}: "
                f"{html.escape('; '.join(worst['reasons'][:2]))}"
            )
            if worst
            else ""
        )
        link = os.path.relpath(Path(folder) / "qc.html", path.parent)
        rows.append(
            f'<tr><td><a href="{html.escape(link)}">{html.escape(name)}</a></td>'
            f"<td>{summary['flagged_frames']} of {summary['frames']}</td><td>{len(summary['spans'])}</td>"
            f'<td class="strip">{strip}</td><td>{said}</td></tr>'
        )
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>QC: {html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>QC: {html.escape(title)}</h1>"
        f"<p>{reviewed} of {len(shots)} shots reviewed. Strips: green good, red flagged, blue ticks keyframes."
        "</p><table><tr><th>shot</th><th>flagged frames</th><th>spans</th><th>score strip</th>"
        f"<th>worst span</th></tr>{''.join(rows)}</table></body></html>\n"
    )
    atomic_write_bytes(path, page.encode())
    return reviewed
