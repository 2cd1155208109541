"""Synthetic composites with exactly known alpha, for testing and benchmarking matte refinement.

Three scene kinds, each a short moving sequence: `hair` (a head with strands 0.25-1.25 px wide), `fabric`
(a cloth with frayed threads and a sheer panel) and `motion` (a hard textured object, motion-blurred).
The foreground is drawn at 4x and area-averaged, so alpha is each pixel's true coverage; the plate is
`alpha * F + (1 - alpha) * B` plus sensor grain. Backgrounds are crops of the given real frames
(with fine texture added so they stay busy at 2K and 4K), or procedural when none are given. Every
scene is a function of its seed: strand counts, widths, colours, textures and motion all vary with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from xmempp.errors import InputError

__all__ = [
    "BUSY_PATTERNS",
    "SCENE_KINDS",
    "Composite",
    "busy_background",
    "check_scene_request",
    "composite_sequence",
    "load_backgrounds",
    "make_busy_scene",
    "make_scene",
]

SCENE_KINDS = ("hair", "fabric", "motion")
#: Structured backgrounds of `make_busy_scene`: pale or dark posts, foliage, text, stripes (each in the
#: foreground's own tones as well as contrasting ones).
BUSY_PATTERNS = ("posts", "foliage", "text", "stripes")
_SS = 4  # supersampling of the drawn foreground


@dataclass
class Composite:
    """One frame: plate (HxWx3 float32 0..1), exact alpha (HxW), foreground and background colours."""

    plate: np.ndarray
    alpha: np.ndarray
    foreground: np.ndarray
    background: np.ndarray


def load_backgrounds(folder: Path, count: int = 8, seed: int = 0) -> list[np.ndarray]:
    """Read up to `count` frames (RGB float 0..1) spread over a folder of images, as backgrounds.

    Arguments:
        folder: a folder of JPEG/PNG frames (e.g. a plate's frames).
        count: how many to take.
        seed: which ones (they are spread, offset by the seed).
    Returns:
        The frames; raises `InputError` when the folder holds no readable image.
    """
    names = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not names:
        raise InputError(f"no background images (JPEG/PNG) in {folder}")
    step = max(1, len(names) // count)
    picked = [names[(seed + i * step) % len(names)] for i in range(min(count, len(names)))]
    out = []
    for path in picked:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is not None:
            out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)
    if not out:
        raise InputError(f"no readable background image in {folder}")
    return out


def _noise(rng: np.random.Generator, h: int, w: int, cells: float) -> np.ndarray:
    """Smooth value noise in 0..1 with about `cells` features across the short side."""
    gh, gw = max(2, int(cells * h / min(h, w)) + 2), max(2, int(cells * w / min(h, w)) + 2)
    grid = rng.random((gh, gw), dtype=np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _texture(rng: np.random.Generator, h: int, w: int, colour: np.ndarray, contrast: float) -> np.ndarray:
    """A colour texture: `colour` modulated by noise at several scales."""
    n = np.zeros((h, w), np.float32)
    for cells, weight in ((4, 0.5), (24, 0.3), (min(h, w) / 6, 0.2)):
        n += _noise(rng, h, w, cells) * weight
    tint = _noise(rng, h, w, 3)[..., None] * 0.2 - 0.1
    return np.clip(colour[None, None] * (1 + contrast * (n[..., None] - 0.5)) + tint * contrast, 0, 1)


def _background(rng: np.random.Generator, h: int, w: int, backgrounds: Sequence[np.ndarray]) -> np.ndarray:
    """A busy background: a random crop of a real frame (or procedural), with fine texture added."""
    if backgrounds:
        src = backgrounds[int(rng.integers(len(backgrounds)))]
        sh, sw = src.shape[:2]
        zoom = max(h / sh, w / sw) * rng.uniform(1.0, 1.6)
        big = cv2.resize(src, (int(np.ceil(sw * zoom)), int(np.ceil(sh * zoom))), interpolation=cv2.INTER_CUBIC)
        y0, x0 = int(rng.integers(0, big.shape[0] - h + 1)), int(rng.integers(0, big.shape[1] - w + 1))
        base = big[y0 : y0 + h, x0 : x0 + w]
    else:
        base = _texture(rng, h, w, rng.uniform(0.2, 0.8, 3).astype(np.float32), 1.2)
        for _ in range(int(rng.integers(6, 16))):  # hard-edged shapes: busy, high-contrast structure
            colour = tuple(float(c) for c in rng.uniform(0, 1, 3))
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(h // 40 + 1, h // 5 + 2)), int(rng.integers(h // 40 + 1, h // 5 + 2)))
            cv2.ellipse(base, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
    detail = (_noise(rng, h, w, min(h, w) / rng.uniform(3, 8)) - 0.5) * rng.uniform(0.05, 0.2)
    return np.clip(base + detail[..., None], 0, 1).astype(np.float32)


def _down(x: np.ndarray, h: int, w: int) -> np.ndarray:
    return cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA)


class _Scene:
    """The drawing of one scene kind; `frame(t)` returns the supersampled alpha and colour at time t."""

    def __init__(self, kind: str, rng: np.random.Generator, h: int, w: int) -> None:
        self.kind, self.rng, self.h, self.w = kind, rng, h, w
        hh, ww = h * _SS, w * _SS
        base = rng.uniform(0.1, 0.9, 3).astype(np.float32)
        self.colour = _texture(rng, hh // 4, ww // 4, base, rng.uniform(0.4, 1.0))
        self.centre = np.array([w * rng.uniform(0.35, 0.65), h * rng.uniform(0.45, 0.7)])
        self.size = min(h, w) * rng.uniform(0.18, 0.3)
        self.velocity = rng.uniform(-1, 1, 2) * min(h, w) * 0.004
        if kind == "hair":
            self._setup_hair()
        elif kind == "fabric":
            self._setup_fabric()
        else:
            self._setup_motion()

    # -- hair: a head, and strands rooted near its top edge
    def _setup_hair(self) -> None:
        rng, h = self.rng, self.h
        scale = h / 1080
        count = int(rng.integers(120, 400) * max(scale, 0.25))
        self.strands = []
        for _ in range(count):
            angle = rng.uniform(-np.pi * 0.95, -np.pi * 0.05)  # upper half of the head
            length = self.size * rng.uniform(0.3, 1.4)
            width = rng.uniform(0.25, 1.25) * max(scale, 0.35)
            curl = rng.normal(0, 0.8) / length
            opacity = rng.uniform(0.75, 1.0)
            phase = rng.uniform(0, 2 * np.pi)
            self.strands.append((angle, length, width, curl, opacity, phase))

    def _draw_hair(self, t: float, alpha: np.ndarray) -> None:
        c = (self.centre + self.velocity * t) * _SS
        r = self.size * _SS
        cv2.ellipse(alpha, (int(c[0]), int(c[1])), (int(r * 0.8), int(r)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        for angle, length, width, curl, opacity, phase in self.strands:
            steps = 24
            s = np.linspace(0, 1, steps)
            sway = 0.15 * np.sin(0.35 * t + phase) * s**2
            theta = angle + curl * length * s + sway
            d = np.stack([np.cos(theta), np.sin(theta)], 1) * (length * _SS / steps)
            start = c + np.array([np.cos(angle) * r * 0.8, np.sin(angle) * r]) * 0.92
            pts = start + np.cumsum(d, 0)
            thick = max(1, int(round(width * _SS)))
            cv2.polylines(alpha, [np.round(pts).astype(np.int32)], False, float(opacity), thick, cv2.LINE_8)

    # -- fabric: a wavy-edged cloth, frayed threads along its edges, a sheer panel
    def _setup_fabric(self) -> None:
        rng = self.rng
        self.threads = [
            (rng.uniform(0, 1), rng.uniform(0.01, 0.08) * self.size * 3, rng.uniform(0.4, 1.5), rng.normal(0, 0.3))
            for _ in range(int(rng.integers(60, 200)))
        ]
        self.sheer = rng.uniform(0.3, 0.6)
        self.weave = rng.uniform(3, 8) * max(self.h / 1080, 0.35)

    def _outline(self, t: float) -> np.ndarray:
        c = self.centre + self.velocity * t
        u = np.linspace(0, 2 * np.pi, 360, endpoint=False)
        wave = 1 + 0.08 * np.sin(5 * u + 0.3 * t) + 0.04 * np.sin(11 * u)
        return np.stack([c[0] + 1.5 * self.size * wave * np.cos(u), c[1] + self.size * wave * np.sin(u)], 1)

    def _draw_fabric(self, t: float, alpha: np.ndarray) -> None:
        pts = self._outline(t) * _SS
        cv2.fillPoly(alpha, [np.round(pts).astype(np.int32)], 1.0, cv2.LINE_AA)
        c = (self.centre + self.velocity * t) * _SS
        hh, ww = alpha.shape
        x0, x1 = int(c[0] + 0.3 * self.size * _SS), int(c[0] + 1.6 * self.size * _SS)
        y0, y1 = int(c[1] - 0.5 * self.size * _SS), int(c[1] + 0.5 * self.size * _SS)
        ys, xs = slice(max(0, y0), min(hh, y1)), slice(max(0, x0), min(ww, x1))
        if ys.start < ys.stop and xs.start < xs.stop:
            yy, xx = np.mgrid[ys, xs].astype(np.float32)
            period = self.weave * _SS
            grid = 0.5 + 0.25 * (np.sin(2 * np.pi * xx / period) + np.sin(2 * np.pi * yy / period))
            alpha[ys, xs] = np.where(alpha[ys, xs] > 0, self.sheer * (0.6 + 0.8 * grid / 1.0) * 0.8, 0)
        n = len(pts)
        for pos, length, width, bend in self.threads:
            i = int(pos * n) % n
            p, q = pts[i], pts[(i + 1) % n]
            normal = np.array([q[1] - p[1], p[0] - q[0]])
            normal /= np.linalg.norm(normal) + 1e-9
            tangent = np.array([normal[1], -normal[0]])
            end = p + (normal + bend * tangent) * length * _SS
            thick = max(1, int(round(width * max(self.h / 1080, 0.35) * _SS)))
            cv2.line(alpha, tuple(np.round(p).astype(int)), tuple(np.round(end).astype(int)), 1.0, thick, cv2.LINE_8)

    # -- motion: a hard star-shaped object moving fast, blurred along its motion
    def _setup_motion(self) -> None:
        rng = self.rng
        k = int(rng.integers(4, 8))
        u = np.linspace(0, 2 * np.pi, 2 * k, endpoint=False)
        radius = np.where(np.arange(2 * k) % 2 == 0, 1.0, rng.uniform(0.45, 0.8))
        self.shape = np.stack([radius * np.cos(u), radius * np.sin(u)], 1) * self.size
        self.blur = rng.uniform(8, 40) * self.h / 1080
        self.direction = rng.uniform(0, np.pi)

    def _draw_motion(self, t: float, alpha: np.ndarray) -> None:
        c = (self.centre + self.velocity * t * 3) * _SS
        rot = 0.05 * t
        m = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
        pts = c + (self.shape @ m.T) * _SS
        cv2.fillPoly(alpha, [np.round(pts).astype(np.int32)], 1.0, cv2.LINE_AA)

    def frame(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Alpha and straight colour (HxW, HxWx3) at time t, at the output resolution."""
        hh, ww = self.h * _SS, self.w * _SS
        alpha = np.zeros((hh, ww), np.float32)
        getattr(self, f"_draw_{self.kind}")(t, alpha)
        colour = cv2.resize(self.colour, (ww, hh), interpolation=cv2.INTER_LINEAR)
        a = _down(alpha, self.h, self.w)
        premult = _down(colour * alpha[..., None], self.h, self.w)
        if self.kind == "motion":
            a, premult = self._motion_blur(a), self._motion_blur(premult)
        a = np.clip(a, 0, 1)
        fg = np.where(a[..., None] > 1e-4, premult / np.maximum(a[..., None], 1e-4), _down(colour, self.h, self.w))
        return a.astype(np.float32), np.clip(fg, 0, 1).astype(np.float32)

    def _motion_blur(self, x: np.ndarray) -> np.ndarray:
        n = max(3, int(round(self.blur)) | 1)
        kernel = np.zeros((n, n), np.float32)
        d = np.array([np.cos(self.direction), np.sin(self.direction)]) * (n - 1) / 2
        cv2.line(kernel, tuple(np.round(n // 2 - d).astype(int)), tuple(np.round(n // 2 + d).astype(int)), 1.0, 1)
        return cv2.filter2D(x, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def check_scene_request(kind: str, height: int, width: int, frames: int) -> None:
    """Raise `InputError` unless `kind` is a scene kind and the size is at least 16x16 pixels and one frame."""
    if kind not in SCENE_KINDS:
        raise InputError(f"scene kind must be one of {', '.join(SCENE_KINDS)}, not {kind!r}")
    if height < 16 or width < 16 or frames < 1:
        raise InputError(f"a scene needs at least 16x16 pixels and one frame, not {width}x{height}x{frames}")


def make_scene(
    kind: str,
    height: int,
    width: int,
    frames: int = 1,
    seed: int = 0,
    backgrounds: Sequence[np.ndarray] = (),
    grain: float | None = None,
    locked_off: bool = False,
) -> list[Composite]:
    """Generate a moving composite sequence with exact alpha (the `tuning` scenes).

    Arguments:
        kind: one of `SCENE_KINDS`.
        height, width: plate size.
        frames: sequence length.
        seed: everything random follows from it.
        backgrounds: real frames (RGB float 0..1) to crop backgrounds from; empty: procedural.
        grain: sensor grain standard deviation (default: random 0.004..0.015 from the seed).
        locked_off: a still camera and foreground (only the grain changes); else the foreground moves
            and the background drifts.
    Returns:
        `frames` composites.
    """
    check_scene_request(kind, height, width, frames)
    rng = np.random.default_rng(seed)
    scene = _Scene(kind, rng, height, width)
    pad = max(2, height // 40)
    big_bg = _background(rng, height + 2 * pad, width + 2 * pad, list(backgrounds))
    sigma = rng.uniform(0.004, 0.015) if grain is None else grain
    drift = rng.uniform(-1, 1, 2) * pad / max(frames, 1)
    return composite_sequence(scene.frame, big_bg, pad, drift, sigma, rng, frames, locked_off)


def composite_sequence(
    draw: Callable[[float], tuple[np.ndarray, np.ndarray]],
    big_bg: np.ndarray,
    pad: int,
    drift: np.ndarray,
    sigma: float,
    rng: np.random.Generator,
    frames: int,
    locked_off: bool,
    still_background: bool = False,
) -> list[Composite]:
    """Composite a drawn foreground over a drifting background crop, with grain, frame by frame.

    Arguments:
        draw: time -> (alpha HxW, straight colour HxWx3) of the foreground.
        big_bg: the background, `pad` pixels larger than the plate on every side.
        pad: that margin; drift: background shift per frame (x, y); sigma: grain standard deviation.
        rng: the scene's generator (the grain); frames: sequence length; locked_off: no motion at all;
        still_background: the background stays put while the foreground moves (a locked-off camera).
    Returns:
        `frames` composites.
    """
    height, width = big_bg.shape[0] - 2 * pad, big_bg.shape[1] - 2 * pad
    out = []
    for i in range(frames):
        t = 0.0 if locked_off else float(i)
        dx, dy = (0.0, 0.0) if locked_off or still_background else (drift * i)
        m = np.array([[1, 0, -(pad + dx)], [0, 1, -(pad + dy)]], np.float32)
        bg = cv2.warpAffine(big_bg, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        alpha, fg = draw(t)
        plate = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
        plate = plate + rng.normal(0, sigma, plate.shape).astype(np.float32)
        out.append(Composite(np.clip(plate, 0, 1).astype(np.float32), alpha, fg, bg))
    return out


def _tones(rng: np.random.Generator, tone: np.ndarray, n: int) -> list[np.ndarray]:
    """`n` colours: the foreground's own `tone` a little darker or lighter, and contrasting ones."""
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append(np.clip(tone * rng.uniform(0.7, 1.3) + rng.normal(0, 0.04, 3), 0, 1))
        else:
            out.append(rng.uniform(0, 1, 3))
    return [c.astype(np.float32) for c in out]


def busy_background(rng: np.random.Generator, h: int, w: int, pattern: str, tone: np.ndarray) -> np.ndarray:
    """A structured background (`BUSY_PATTERNS`) in the foreground's `tone` and contrasting colours.

    Arguments:
        rng: its random generator.
        h, w: its size.
        pattern: `posts` (pale or dark vertical bars and a rail, soft-edged), `foliage` (many small leaves),
            `text` (lines of letters at several sizes), `stripes` (fine stripes at an angle).
        tone: the foreground's mean colour (RGB 0..1).
    Returns:
        HxWx3 float32 in 0..1.
    """
    if pattern not in BUSY_PATTERNS:
        raise InputError(f"busy pattern must be one of {', '.join(BUSY_PATTERNS)}, not {pattern!r}")
    c0, c1, c2 = _tones(rng, tone, 3)
    base = _texture(rng, h, w, c0, 0.5)
    s = h / 1080
    if pattern == "posts":
        for _ in range(int(rng.integers(2, 6))):
            x, half = int(rng.integers(0, w)), max(1, int(rng.uniform(10, 60) * s))
            colour = np.float32(rng.choice([0.85, 0.1])) * np.ones(3, np.float32) + rng.normal(0, 0.05, 3)
            cv2.rectangle(base, (x - half, 0), (x + half, h), tuple(float(v) for v in np.clip(colour, 0, 1)), -1)
        y, half = int(rng.integers(0, h)), max(1, int(rng.uniform(5, 25) * s))
        cv2.rectangle(base, (0, y - half), (w, y + half), tuple(float(v) for v in c1), -1)
        base = cv2.GaussianBlur(base, (0, 0), max(0.5, 1.5 * s))
    elif pattern == "foliage":
        for _ in range(int(rng.integers(400, 1200) * max(w * h / (1920 * 1080), 0.05))):
            colour = (c1 if rng.random() < 0.5 else c2) * rng.uniform(0.6, 1.3)
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (max(1, int(rng.uniform(6, 40) * s)), max(1, int(rng.uniform(2, 12) * s)))
            cv2.ellipse(
                base,
                centre,
                axes,
                float(rng.uniform(0, 180)),
                0,
                360,
                tuple(float(v) for v in np.clip(colour, 0, 1)),
                -1,
                cv2.LINE_AA,
            )
    elif pattern == "text":
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        y = 0
        while y < h:
            scale = rng.uniform(0.6, 3.0) * s
            y += int(30 * scale) + 2
            text = "".join(rng.choice(list(letters), int(rng.integers(10, 60))))
            colour = c1 if rng.random() < 0.5 else c2
            ink = np.zeros((h, w), np.uint8)  # putText draws on 8-bit images only
            cv2.putText(
                ink,
                text,
                (int(rng.integers(-200, 50)), y),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                255,
                max(1, int(round(2 * scale))),
                cv2.LINE_AA,
            )
            cover = ink[..., None].astype(np.float32) / 255
            base = base * (1 - cover) + colour * cover
    else:
        yy, xx = np.mgrid[:h, :w].astype(np.float32)
        period, angle = rng.uniform(6, 40) * max(s, 0.25), rng.uniform(0, np.pi)
        wave = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
        stripes = np.clip(wave * rng.uniform(1, 4), -1, 1) * 0.5 + 0.5
        base = base + (c1 - c0) * stripes[..., None]
    return np.clip(base, 0, 1).astype(np.float32)


def make_busy_scene(
    kind: str,
    height: int,
    width: int,
    frames: int = 1,
    seed: int = 0,
    backgrounds: Sequence[np.ndarray] = (),
    grain: float | None = None,
) -> list[Composite]:
    """A scene of `kind` over a busy, structured background (the `busy` scenes).

    The foreground is drawn as `make_scene` draws it; the background is a `busy_background` pattern in the
    foreground's own tones (seed `s` takes pattern `s mod 4`), blended with a crop of a given frame when
    there are any. Odd seeds pan the background by 1-4 % of the plate height a frame (a moving camera:
    structure sweeps behind the foreground); even seeds keep it still while the foreground moves.

    Arguments:
        kind: one of `SCENE_KINDS`.
        height, width: plate size.
        frames: sequence length.
        seed: everything random follows from it.
        backgrounds: real frames (RGB float 0..1) blended under the pattern; empty: the pattern alone.
        grain: sensor grain standard deviation (default: random 0.004..0.015 from the seed).
    Returns:
        `frames` composites.
    """
    check_scene_request(kind, height, width, frames)
    rng = np.random.default_rng([seed, 7103])
    scene = _Scene(kind, rng, height, width)
    moving = seed % 2 == 1
    speed = rng.uniform(0.01, 0.04) * height if moving else 0.0
    pad = max(2, height // 40, int(np.ceil(speed * max(frames - 1, 1))) + 2)
    tone = scene.colour.reshape(-1, 3).mean(0)
    big_bg = busy_background(rng, height + 2 * pad, width + 2 * pad, BUSY_PATTERNS[seed % len(BUSY_PATTERNS)], tone)
    if backgrounds:
        real = _background(rng, height + 2 * pad, width + 2 * pad, list(backgrounds))
        big_bg = np.clip(0.6 * big_bg + 0.4 * real, 0, 1).astype(np.float32)
    sigma = rng.uniform(0.004, 0.015) if grain is None else grain
    angle = rng.uniform(0, 2 * np.pi)
    drift = np.array([np.cos(angle), np.sin(angle)]) * speed if moving else np.zeros(2)
    return composite_sequence(scene.frame, big_bg, pad, drift, sigma, rng, frames, False, still_background=not moving)
