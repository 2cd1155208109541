"""`RefineSettings`: how soft mattes are refined against the plate, with defaults that scale with its size.

Lengths given in pixels are plate pixels; left as None they scale with the plate height from their value
at 2K (1080 lines): band 16 px, feather 0 (a hard clamp). The guided filter's radius is a share of the
plate height and its coefficients are fitted on the plate shrunk to `fit_height` lines (27x at 2K).
The defaults were chosen by the worst of many generated scenes (`xmempp refine-bench`), not the mean.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from xmempp.errors import ConfigError, Remedy, RemedyKind
from xmempp.refine.pymatting_loader import missing_pymatting, pymatting_available

__all__ = ["REFERENCE_HEIGHT", "REFINE_MODES", "RefineSettings", "ResolvedSettings"]

#: `off` keeps the upsampled network matte; `guided` the fast guided filter; `matting` adds a trimap solver.
REFINE_MODES = ("off", "guided", "matting")
#: Plate height at which the pixel defaults are stated (2K).
REFERENCE_HEIGHT = 1080
#: What the `matting` mode says, and offers instead, when pymatting is not installed.
MATTING_PURPOSE, MATTING_REMEDY = "the matting refiner", Remedy(RemedyKind.SET, "refine", value="guided")


@dataclass(frozen=True)
class ResolvedSettings:
    """Settings in pixels for one plate height (see `RefineSettings.resolve`)."""

    mode: str
    band: float
    feather: float
    eps: float
    radius: float
    fit_height: int
    temporal: float
    low: float
    high: float
    adaptive: bool


@dataclass(frozen=True)
class RefineSettings:
    """Refinement of soft mattes at plate resolution.

    Attributes:
        mode: one of `REFINE_MODES`.
        band: how far (plate pixels) the refined edge may reach beyond the coarse matte's uncertain zone
            (0.05 < p < 0.95); None: 16 px at 2K, scaled with the plate height (only where the coarse
            matte is soft over a wide area, see `adaptive`).
        feather: width (plate pixels) over which the refined matte fades into the coarse one outside the
            band; None: 0 (a hard clamp), scaled.
        eps: the guided filter's regularisation ("detail": smaller keeps finer strands and more noise).
        radius: the guided filter's window radius as a share of the plate height.
        fit_height: lines of the shrunk plate the filter's coefficients are fitted on (about the decoder's
            resolution); the shrink factor is never below 1.
        temporal: weight of the previous frames in an exponential average of the coefficients
            (0 = off; 0.5-0.8 for locked-off shots, where it calms grain-driven flicker).
        low, high: the coarse matte's values between which a pixel is uncertain.
        adaptive: apply `band` only where the coarse matte is soft over a wide area (hair, fur, sheer
            cloth); along a narrow confident edge the band is the uncertain zone itself.
    """

    mode: str = "off"
    band: float | None = None
    feather: float | None = None
    eps: float = 1e-5
    radius: float = 0.06
    fit_height: int = 40
    temporal: float = 0.0
    low: float = 0.05
    high: float = 0.95
    adaptive: bool = True

    def __post_init__(self) -> None:
        if self.mode not in REFINE_MODES:
            raise ConfigError(
                f"refine mode must be one of {', '.join(REFINE_MODES)}, not {self.mode!r}",
                remedy=Remedy(RemedyKind.SET, "refine", choices=REFINE_MODES),
            )
        if self.mode == "matting" and not pymatting_available():
            raise missing_pymatting(MATTING_PURPOSE, MATTING_REMEDY)
        for name in ("band", "feather"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 4096:
                raise ConfigError(
                    f"refine {name} must be 0..4096 plate pixels, not {value}",
                    remedy=Remedy(RemedyKind.SET, f"refine_{name}"),
                )
        if not 0 < self.eps <= 1:
            raise ConfigError(
                f"refine detail (eps) must be in (0, 1], not {self.eps}",
                remedy=Remedy(RemedyKind.SET, "refine_detail", value=1e-5),
            )
        if not 0 < self.radius <= 0.5:
            raise ConfigError(
                f"refine radius must be a share of the plate height in (0, 0.5], not {self.radius}",
                remedy=Remedy(RemedyKind.SET, "refine_radius", value=0.06),
            )
        if not 8 <= self.fit_height <= 4096:
            raise ConfigError(
                f"refine fit height must be 8..4096 lines, not {self.fit_height}",
                remedy=Remedy(RemedyKind.SET, "refine_fit_height", value=40),
            )
        if not 0 <= self.temporal < 1:
            raise ConfigError(
                f"refine temporal smoothing must be in [0, 1), not {self.temporal}",
                remedy=Remedy(RemedyKind.SET, "refine_temporal", value=0.0),
            )
        if not 0 <= self.low < self.high <= 1:
            raise ConfigError(f"refine uncertain range needs 0 <= low < high <= 1, not {self.low}..{self.high}")

    @property
    def enabled(self) -> bool:
        """True unless the mode is `off`."""
        return self.mode != "off"

    def with_mode(self, mode: str) -> RefineSettings:
        """These settings with another mode."""
        return replace(self, mode=mode)

    def resolve(self, height: int) -> ResolvedSettings:
        """The settings in plate pixels for a plate `height` lines high.

        Arguments:
            height: plate height in pixels.
        Returns:
            A `ResolvedSettings`.
        """
        scale = height / REFERENCE_HEIGHT
        band = 16.0 * scale if self.band is None else float(self.band)
        feather = 0.0 if self.feather is None else float(self.feather)
        return ResolvedSettings(
            self.mode,
            band,
            feather,
            self.eps,
            self.radius * height,
            min(self.fit_height, height),
            self.temporal,
            self.low,
            self.high,
            self.adaptive,
        )
