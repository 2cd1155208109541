"""A second generator of composites with exact alpha, written apart from `composites`, for validation.

Refine defaults are tuned on `composites.make_scene`; this generator only checks that what was tuned there
holds on scenes drawn another way (never tune on it). Same kinds, different drawing:

* `hair`: clumps of cubic Bezier strands that taper and fade from root to tip, flyaway strands, per-strand
  shade;
* `fabric`: a scarf crossing the frame between two wavy edges, tassels along one edge, short fibres along
  the other, sheer in a twill or lace weave (holes) in some scenes;
* `motion`: a hard blob with an optional hole, blurred by averaging sub-frame renders along a curved,
  rotating path (true motion blur, not a line kernel).

Seeds cycle through dark foregrounds on light backgrounds, light on dark, and low contrast (the
background's hue, a little darker or lighter). Backgrounds are crops of the given frames, defocused or
with fine texture, their brightness set by that contrast; or procedural (stripes, a gradient and small
blobs). The foreground is drawn on a supersampled 8-bit canvas (4x, 3x above 1300 lines) and area-averaged.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from xmempp.evaluation.composites import SCENE_KINDS, Composite, check_scene_request, composite_sequence

__all__ = ["make_heldout_scene"]

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth noise in 0..1 (linear interpolation of a coarse grid, blurred)."""
    grid = rng.random((cells + 2, max(2, cells * w // max(h, 1)) + 2), dtype=np.float32)
    out = cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(out, (0, 0), max(0.5, h / cells / 3))


def _bezier(p: np.ndarray, n: int) -> np.ndarray:
    """n points along the cubic Bezier curve with control points p (4x2)."""
    s = np.linspace(0, 1, n)[:, None]
    return ((1 - s) ** 3) * p[0] + 3 * ((1 - s) ** 2) * s * p[1] + 3 * (1 - s) * s**2 * p[2] + s**3 * p[3]


def _background(rng: np.random.Generator, h: int, w: int, frames: Sequence[np.ndarray], luma: float) -> np.ndarray:
    """A background at mean luminance `luma`: a frame crop, defocused or textured, or procedural."""
    if frames:
        src = frames[int(rng.integers(len(frames)))]
        if rng.random() < 0.5:
            src = src[:, ::-1]
        sh, sw = src.shape[:2]
        zoom = max(h / sh, w / sw) * rng.uniform(1.05, 2.0)
        big = cv2.resize(src, (int(np.ceil(sw * zoom)), int(np.ceil(sh * zoom))), interpolation=cv2.INTER_LINEAR)
        y0, x0 = int(rng.integers(0, big.shape[0] - h + 1)), int(rng.integers(0, big.shape[1] - w + 1))
        base: np.ndarray = np.ascontiguousarray(big[y0 : y0 + h, x0 : x0 + w])
        if rng.random() < 0.5:
            base = cv2.GaussianBlur(base, (0, 0), rng.uniform(0.5, 3.0) * h / 1080)
        else:
            noise = rng.normal(0, 1, (h // 2 + 1, w // 2 + 1)).astype(np.float32)
            fine = cv2.resize(noise, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
            base = np.asarray(base + fine * rng.uniform(0.02, 0.08), dtype=np.float32)
    else:
        yy, xx = np.mgrid[:h, :w].astype(np.float32)
        period = rng.uniform(0.02, 0.1) * h
        angle = rng.uniform(0, np.pi)
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
        c0, c1 = rng.uniform(0, 1, 3).astype(np.float32), rng.uniform(0, 1, 3).astype(np.float32)
        base = c0 + (c1 - c0) * stripes[..., None] * rng.uniform(0.2, 0.8)
        base = base * (0.6 + 0.8 * (xx / w))[..., None]
        for _ in range(int(rng.integers(200, 600))):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            radius = int(rng.integers(1, max(2, h // 60)))
            cv2.circle(base, centre, radius, tuple(float(v) for v in rng.uniform(0, 1, 3)), -1, cv2.LINE_AA)
    base = np.clip(base, 0, 1).astype(np.float32)
    mean = float((base @ _LUMA).mean())
    return np.clip(base * (luma / max(mean, 1e-3)), 0, 1).astype(np.float32)


class _Drawing:
    """One held-out scene: `frame(t)` gives alpha and straight colour at the output size."""

    def __init__(self, kind: str, rng: np.random.Generator, h: int, w: int, colour: np.ndarray) -> None:
        self.kind, self.rng, self.h, self.w = kind, rng, h, w
        self.ss = 4 if h <= 1300 else 3
        self.scale = h / 1080
        self.colour = colour  # the foreground's mean colour
        shade = _smooth_noise(rng, h, w, 12)[..., None] * rng.uniform(0.2, 0.6)
        self.texture = np.clip(colour * (1 - 0.3 + shade), 0, 1).astype(np.float32)
        getattr(self, f"_setup_{kind}")()

    # -- hair
    def _setup_hair(self) -> None:
        rng, h, w = self.rng, self.h, self.w
        self.head = np.array([w * rng.uniform(0.3, 0.7), h * rng.uniform(0.5, 0.75)])
        self.radii = np.array([h * rng.uniform(0.12, 0.2), h * rng.uniform(0.15, 0.25)])
        self.strands: list[tuple] = []  # (control points relative to the head centre, widths, opacities, shade)
        for _ in range(int(rng.integers(25, 70))):
            angle = rng.uniform(-np.pi, 0)
            normal = np.array([np.cos(angle), np.sin(angle)])
            length = self.radii[1] * rng.uniform(0.4, 1.6)
            droop = rng.uniform(0.2, 1.3)  # towards the bottom of the frame
            for _ in range(int(rng.integers(3, 13))):
                a = angle + rng.normal(0, 0.05)
                root = np.array([np.cos(a) * self.radii[0], np.sin(a) * self.radii[1]]) * rng.uniform(0.85, 0.98)
                d = normal + rng.normal(0, 0.12, 2)
                bend = np.array([np.sign(np.cos(angle)) * 0.4, droop]) + rng.normal(0, 0.15, 2)
                ln = length * rng.uniform(0.8, 1.2)
                pts = np.stack(
                    [root, root + d * ln / 3, root + (d + bend) * ln * 0.6, root + (d + 2 * bend) * ln * 0.8]
                )
                self._add_strand(pts, rng.uniform(0.25, 1.5))
        for _ in range(int(rng.integers(5, 25))):  # flyaways: long, thin, far from the head
            a = rng.uniform(-np.pi, 0)
            root = np.array([np.cos(a) * self.radii[0], np.sin(a) * self.radii[1]]) * 0.95
            direction = np.array([np.cos(a), np.sin(a)]) + rng.normal(0, 0.4, 2)
            ln = self.radii[1] * rng.uniform(1.2, 2.5)
            mids = rng.normal(0, 0.25, (2, 2)) * ln
            pts = np.stack(
                [
                    root,
                    root + direction * ln / 3 + mids[0],
                    root + direction * ln * 2 / 3 + mids[1],
                    root + direction * ln,
                ]
            )
            self._add_strand(pts, rng.uniform(0.2, 0.6))
        self.wind = rng.uniform(-1, 1, 2) * self.radii[1] * 0.02
        self.velocity = rng.uniform(-1, 1, 2) * h * 0.003

    def _add_strand(self, pts: np.ndarray, width: float) -> None:
        rng = self.rng
        taper = rng.uniform(0.3, 0.9)
        fade = (rng.uniform(0.85, 1.0), rng.uniform(0.2, 0.8))
        self.strands.append((pts, width * self.scale**0.5, taper, fade, rng.uniform(0.6, 1.4)))

    def _draw_hair(self, t: float, alpha: np.ndarray, shade: np.ndarray) -> None:
        ss = self.ss
        centre = self.head + self.velocity * t
        c = np.round(centre * ss).astype(int)
        axes = np.round(self.radii * ss).astype(int)
        sway = np.sin(0.4 * t + np.arange(4)[:, None] * 0.7) * self.wind * np.array([0, 0.3, 0.7, 1.0])[:, None]
        segments = []
        for pts, width, taper, (op0, op1), tone in self.strands:
            p = (centre + pts + sway) * ss
            n = max(4, int(np.linalg.norm(p[3] - p[0]) / (6 * ss)) + 2)
            curve = np.round(_bezier(p, n)).astype(int)
            for i in range(n - 1):
                u = i / (n - 2)
                thick = max(1, int(round(width * (1 - (1 - taper) * u) * ss)))
                value = int(round(255 * (op0 + (op1 - op0) * u)))
                segments.append((value, thick, tuple(curve[i]), tuple(curve[i + 1]), int(round(100 * tone))))
        for value, thick, a, b, tone in sorted(segments, key=lambda seg: seg[0]):  # where strands cross, the
            cv2.line(alpha, a, b, value, thick, cv2.LINE_8)  # more opaque one wins
            cv2.line(shade, a, b, tone, thick, cv2.LINE_8)
        cv2.ellipse(alpha, (int(c[0]), int(c[1])), (int(axes[0]), int(axes[1])), 0, 0, 360, 255, -1, cv2.LINE_AA)
        cv2.ellipse(shade, (int(c[0]), int(c[1])), (int(axes[0]), int(axes[1])), 0, 0, 360, 100, -1, cv2.LINE_8)

    # -- fabric
    def _setup_fabric(self) -> None:
        rng, h, w, s = self.rng, self.h, self.w, self.scale
        self.tilt = rng.uniform(-0.5, 0.5)
        self.middle = h * rng.uniform(0.4, 0.6)
        self.half = h * rng.uniform(0.12, 0.22)
        self.waves = (
            rng.uniform(0.5, 3, 4) / w * 2 * np.pi,
            rng.uniform(0, 2 * np.pi, 4),
            rng.uniform(0.01, 0.04, 4) * h,
        )
        self.weave = ("solid", "twill", "lace")[int(rng.integers(3))]
        self.sheer = rng.uniform(0.25, 0.7)
        self.period = rng.uniform(4, 12) * s
        self.tassels = [
            (x, rng.uniform(20, 90) * s, rng.uniform(0.5, 2.0) * s, rng.normal(0, 0.3))
            for x in np.arange(rng.uniform(0, 10 * s), w, rng.uniform(6, 18) * s) + rng.normal(0, 2 * s)
        ]
        self.fibres = [
            (rng.uniform(0, w), rng.uniform(3, 18) * s, rng.uniform(0.3, 0.9) * s**0.5, rng.uniform(-1.2, 1.2))
            for _ in range(int(rng.integers(80, 300) * max(s, 0.5)))
        ]
        self.velocity = rng.uniform(-1, 1, 2) * h * 0.004

    def _edges(self, x: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Top and bottom edge heights of the scarf at columns x (plate pixels) and time t."""
        k, phase, amp = self.waves
        centre = self.middle + self.tilt * (x - self.w / 2) + self.velocity[1] * t
        ripple = sum(amp[i] * np.sin(k[i] * (x - self.velocity[0] * t) + phase[i] + 0.3 * t) for i in range(2))
        ripple2 = sum(amp[i] * np.sin(k[i] * (x - self.velocity[0] * t) + phase[i] - 0.2 * t) for i in range(2, 4))
        return centre - self.half + ripple, centre + self.half + ripple2

    def _draw_fabric(self, t: float, alpha: np.ndarray, shade: np.ndarray) -> None:
        ss, hh, ww = self.ss, alpha.shape[0], alpha.shape[1]
        xs = np.arange(0, self.w + 1, 2.0)
        top, bottom = self._edges(xs, t)
        poly = np.concatenate([np.stack([xs, top], 1), np.stack([xs[::-1], bottom[::-1]], 1)]) * ss
        cv2.fillPoly(alpha, [np.round(poly).astype(np.int32)], 255, cv2.LINE_AA)
        shade[alpha > 0] = 100
        if self.weave != "solid":
            y0 = max(0, int(np.floor(top.min() * ss)))
            y1 = min(hh, int(np.ceil(bottom.max() * ss)) + 1)
            yy, xx = np.mgrid[y0:y1, 0:ww].astype(np.float32)
            p = self.period * ss
            if self.weave == "twill":
                pattern = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + 2 * yy) / p) * np.sin(2 * np.pi * (xx - yy) / (2 * p))
            else:
                cx = np.mod(xx + 0.5 * p * (np.floor(yy / p) % 2), p) - p / 2
                cy = np.mod(yy, p) - p / 2
                pattern = (np.hypot(cx, cy) > 0.32 * p).astype(np.float32)
            part = alpha[y0:y1].astype(np.float32)
            alpha[y0:y1] = np.round(part * self.sheer * (0.35 + 0.65 * pattern)).astype(np.uint8)
        for x, length, width, bend in self.tassels:
            xt = x + self.velocity[0] * t
            _, b = self._edges(np.array([xt]), t)
            swing = np.sin(0.5 * t + x) * 0.1
            p0 = np.array([xt, b[0] - 1])
            pts = (
                np.stack(
                    [
                        p0,
                        p0 + [0, length / 3],
                        p0 + [(bend + swing) * length / 2, 2 * length / 3],
                        p0 + [(bend + swing) * length, length],
                    ]
                )
                * ss
            )
            self._polyline(alpha, shade, pts, width, 0.95, 0.8)
        for x, length, width, angle in self.fibres:
            xt = x + self.velocity[0] * t
            top_y, _ = self._edges(np.array([xt]), t)
            p0 = np.array([xt, top_y[0] + 1])
            d = np.array([np.sin(angle), -np.cos(angle)]) * length
            pts = np.stack([p0, p0 + d / 3, p0 + d * 2 / 3 + [d[1] * 0.1, 0], p0 + d]) * ss
            self._polyline(alpha, shade, pts, width, 0.9, 0.4)

    def _polyline(
        self, alpha: np.ndarray, shade: np.ndarray, pts: np.ndarray, width: float, op0: float, op1: float
    ) -> None:
        n = max(4, int(np.linalg.norm(pts[3] - pts[0]) / (4 * self.ss)) + 2)
        curve = np.round(_bezier(pts, n)).astype(int)
        thick = max(1, int(round(width * self.ss)))
        for i in range(n - 1):
            value = int(round(255 * (op0 + (op1 - op0) * i / (n - 2))))
            cv2.line(alpha, tuple(curve[i]), tuple(curve[i + 1]), value, thick, cv2.LINE_8)
            cv2.line(shade, tuple(curve[i]), tuple(curve[i + 1]), 90, thick, cv2.LINE_8)

    # -- motion
    def _setup_motion(self) -> None:
        rng, h, w = self.rng, self.h, self.w
        u = np.linspace(0, 2 * np.pi, 96, endpoint=False)
        lobes = [rng.uniform(0, 0.2) * np.cos(k * u + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5)]
        radius = 1 + np.sum(lobes, axis=0)
        size = h * rng.uniform(0.12, 0.25)
        self.outline = np.stack([np.cos(u), np.sin(u)], 1) * radius[:, None] * size
        self.hole = size * rng.uniform(0.15, 0.35) if rng.random() < 0.5 else 0.0
        self.centre = np.array([w * rng.uniform(0.35, 0.65), h * rng.uniform(0.35, 0.65)])
        self.path = rng.uniform(-1, 1, 2) * h * rng.uniform(0.01, 0.04)  # movement during the shutter
        self.curve = rng.uniform(-1, 1, 2) * h * 0.006
        self.spin = rng.uniform(-0.25, 0.25)
        self.velocity = rng.uniform(-1, 1, 2) * h * 0.01

    def _motion_frame(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.h, self.w
        acc_a = np.zeros((h, w), np.float32)
        acc_c = np.zeros((h, w, 3), np.float32)
        steps = 24
        for i in range(steps):
            s = i / (steps - 1) - 0.5
            offset = self.centre + self.velocity * t + self.path * s + self.curve * (4 * s * s - 1 / 3)
            rot = self.spin * s + 0.05 * t
            m = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]], np.float32)
            a = np.zeros((h, w), np.float32)
            cv2.fillPoly(a, [np.round((self.outline @ m.T + offset) * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
            if self.hole > 0:
                cv2.circle(a, tuple(np.round(offset * 16).astype(int)), int(self.hole * 16), 0.0, -1, cv2.LINE_AA, 4)
            affine = np.concatenate([m, (offset - m @ self.centre)[:, None]], 1).astype(np.float32)
            colour = cv2.warpAffine(self.texture, affine, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            acc_a += a
            acc_c += colour * a[..., None]
        alpha = np.clip(acc_a / steps, 0, 1)
        fg = np.where(alpha[..., None] > 1e-4, acc_c / steps / np.maximum(alpha[..., None], 1e-4), self.texture)
        return alpha, fg

    def frame(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Alpha and straight colour (HxW, HxWx3 float32) at time t."""
        if self.kind == "motion":
            alpha, fg = self._motion_frame(t)
            return alpha.astype(np.float32), np.clip(fg, 0, 1).astype(np.float32)
        ss, h, w = self.ss, self.h, self.w
        alpha8 = np.zeros((h * ss, w * ss), np.uint8)
        shade8 = np.zeros((h * ss, w * ss), np.uint8)
        getattr(self, f"_draw_{self.kind}")(t, alpha8, shade8)
        cover = cv2.resize(alpha8.astype(np.float32) / 255, (w, h), interpolation=cv2.INTER_AREA)
        tone = cv2.resize(shade8.astype(np.float32) / 100 * (alpha8 > 0), (w, h), interpolation=cv2.INTER_AREA)
        inside = cv2.resize((alpha8 > 0).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
        tone = np.where(inside > 1e-4, tone / np.maximum(inside, 1e-4), 1.0)
        fg = self.texture * tone[..., None]
        return np.clip(cover, 0, 1).astype(np.float32), np.clip(fg, 0, 1).astype(np.float32)


def make_heldout_scene(
    kind: str,
    height: int,
    width: int,
    frames: int = 1,
    seed: int = 0,
    backgrounds: Sequence[np.ndarray] = (),
    grain: float | None = None,
    locked_off: bool = False,
) -> list[Composite]:
    """Generate a held-out composite sequence with exact alpha (the arguments of `composites.make_scene`).

    Arguments:
        kind: one of `composites.SCENE_KINDS`.
        height, width: plate size.
        frames: sequence length.
        seed: everything random follows from it (independently of `make_scene`'s seeds).
        backgrounds: real frames (RGB float 0..1) to crop backgrounds from; empty: procedural.
        grain: sensor grain standard deviation (default: random 0.002..0.02 from the seed).
        locked_off: a still camera and foreground (only the grain changes).
    Returns:
        `frames` composites.
    """
    check_scene_request(kind, height, width, frames)
    rng = np.random.default_rng([seed, 27, SCENE_KINDS.index(kind)])
    contrast = ("dark on light", "light on dark", "low contrast")[(seed + SCENE_KINDS.index(kind)) % 3]
    pad = max(2, height // 30)
    if contrast == "dark on light":
        fg_luma, bg_luma = rng.uniform(0.05, 0.25), rng.uniform(0.55, 0.85)
    elif contrast == "light on dark":
        fg_luma, bg_luma = rng.uniform(0.6, 0.9), rng.uniform(0.08, 0.3)
    else:  # the background's hue, a little darker or lighter
        bg_luma = rng.uniform(0.3, 0.6)
        fg_luma = bg_luma * (rng.uniform(0.55, 0.75) if rng.random() < 0.5 else rng.uniform(1.3, 1.6))
    big_bg = _background(rng, height + 2 * pad, width + 2 * pad, list(backgrounds), bg_luma)
    if contrast == "low contrast":
        colour = big_bg.reshape(-1, 3).mean(0) * rng.uniform(0.85, 1.15, 3)
    else:
        colour = rng.uniform(0.2, 1.0, 3)
    colour = np.clip(colour * (fg_luma / max(float(colour @ _LUMA), 1e-3)), 0.01, 1).astype(np.float32)
    drawing = _Drawing(kind, rng, height, width, colour)
    sigma = rng.uniform(0.002, 0.02) if grain is None else grain
    drift = rng.uniform(-1, 1, 2) * pad / max(frames, 1)
    return composite_sequence(drawing.frame, big_bg, pad, drift, sigma, rng, frames, locked_off)
