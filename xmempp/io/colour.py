"""Colour management: plates in any colour space -> the display-referred sRGB the network was trained on.

Conversions go through OpenColorIO (the `vfx` extra). The config is `$OCIO` when set, otherwise
OCIO's built-in ACES studio config (no file needed) with one colour space added, `Cineon` (the
Kodak printing-density log curve: reference black 95, white 685, density gamma 0.6, over linear
Rec.709). A plate's colour space defaults by format:

* EXR: `Linear Rec.709 (sRGB)` (scene-linear; with `$OCIO`, the config's `scene_linear` role);
* DPX / Cineon: `Cineon` (with `$OCIO`, the `compositing_log` role);
* everything else: `sRGB Encoded Rec.709 (sRGB)` (no conversion).

The default output is the plain sRGB encoding with clipping to 0..1, no tone mapping, so a
linearised sRGB image comes back as itself. A display/view transform (e.g. display `sRGB - Display`,
view `ACES 2.0 - SDR 100 nits (Rec.709)`) can be asked for instead.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from xmempp.errors import ConfigError, InputError, Remedy, RemedyKind

__all__ = [
    "BUILTIN_CONFIG",
    "CINEON",
    "LINEAR",
    "SRGB",
    "ColourConverter",
    "ColourOptions",
    "converter_for",
    "load_config",
]

#: The built-in config used when `$OCIO` is not set.
BUILTIN_CONFIG = "ocio://studio-config-latest"
SRGB = "sRGB Encoded Rec.709 (sRGB)"
LINEAR = "Linear Rec.709 (sRGB)"
CINEON = "Cineon"
#: Names an sRGB-encoded (texture) colour space goes by in common configs, tried in order with `$OCIO`.
_SRGB_NAMES = (SRGB, "sRGB - Texture", "Utility - sRGB - Texture", "srgb_tx", "sRGB", "srgb_texture", "srgb8")
#: Format -> (built-in default colour space, role used with `$OCIO`).
_DEFAULTS = {"linear": (LINEAR, "scene_linear"), "log": (CINEON, "compositing_log"), "display": (SRGB, None)}

_lock = threading.Lock()
_configs: dict[str, object] = {}


def _ocio():
    try:
        import PyOpenColorIO as ocio
    except ImportError as exc:
        raise InputError("colour conversion of EXR/DPX plates needs OpenColorIO: pip install 'xmempp[vfx]'") from exc
    return ocio


def _add_cineon(config, ocio) -> None:
    """Add the Kodak Cineon log curve over linear Rec.709 to a (built-in) config."""
    offset = 10.0 ** ((95.0 - 685.0) * 0.002 / 0.6)
    to_linear = ocio.LogAffineTransform(
        logSideSlope=[300.0 / 1023.0] * 3,
        logSideOffset=[685.0 / 1023.0] * 3,
        linSideSlope=[1.0 - offset] * 3,
        linSideOffset=[offset] * 3,
        direction=ocio.TRANSFORM_DIR_INVERSE,
    )
    to_linear.setBase(10.0)
    reference = config.getCanonicalName("aces_interchange") or "ACES2065-1"
    group = ocio.GroupTransform([to_linear, ocio.ColorSpaceTransform(src=LINEAR, dst=reference)])
    space = ocio.ColorSpace(
        referenceSpace=ocio.REFERENCE_SPACE_SCENE,
        name=CINEON,
        description="Kodak Cineon printing density (95/685, gamma 0.6) over linear Rec.709",
    )
    space.setTransform(group, ocio.COLORSPACE_DIR_TO_REFERENCE)
    config.addColorSpace(space)


def load_config():
    """The OCIO config in use: `$OCIO` when set, else the built-in studio config plus `Cineon`.

    Returns:
        A `PyOpenColorIO.Config` (cached). Raises `ConfigError` when `$OCIO` cannot be read.
    """
    ocio = _ocio()
    source = os.environ.get("OCIO") or BUILTIN_CONFIG
    with _lock:
        if source not in _configs:
            try:
                config = ocio.Config.CreateFromFile(source)
            except (ocio.Exception, ocio.ExceptionMissingFile) as exc:
                raise ConfigError(
                    f"cannot load the OCIO config {source} ($OCIO): {exc}; fix $OCIO or unset it to "
                    f"use the built-in ACES config"
                ) from exc
            if source == BUILTIN_CONFIG:
                _add_cineon(config, ocio)
            _configs[source] = config
        return _configs[source]


@dataclass(frozen=True)
class ColourOptions:
    """How plates are converted.

    Attributes:
        colorspace: the plates' colour space (None = the default for their format).
        display, view: a display/view transform instead of the plain sRGB encoding (view alone uses
            the config's default display).
    """

    colorspace: str | None = None
    display: str | None = None
    view: str | None = None


def _find_space(config, name: str, what: str):
    space = config.getColorSpace(name)
    if space is None:
        names = list(config.getColorSpaceNames())
        close = [n for n in names if name.casefold() in n.casefold()][:5] or names[:8]
        raise ConfigError(
            f"unknown colour space {name!r} for {what}; the OCIO config "
            f"({os.environ.get('OCIO') or 'built-in'}) has e.g. {', '.join(close)}",
            remedy=Remedy(RemedyKind.SET, "colorspace", choices=tuple(close)),
        )
    return space


class ColourConverter:
    """Converts float RGB in one colour space to HxWx3 uint8 display-referred RGB.

    Attributes:
        source: the input colour space name.
        identity: True when no conversion is needed (the input is already sRGB-encoded).
        mixes_channels: True when the conversion mixes channels (a matrix or a display/view
            transform), so it cannot be done with per-channel tables.
    """

    def __init__(self, source: str, config=None, options: ColourOptions = ColourOptions()) -> None:
        """Build the OCIO processor.

        Arguments:
            source: the plate's colour space (a name or role in the config).
            config: the OCIO config (default: `load_config()`).
            options: display/view settings.
        Returns:
            None. Raises `ConfigError` for an unknown colour space, display or view.
        """
        ocio = _ocio()
        config = config or load_config()
        self.source = _find_space(config, source, "the plates").getName()
        self._luts: dict[str, np.ndarray] = {}
        self._same_curve: dict[str, bool] = {}
        if options.display or options.view:
            display = options.display or config.getDefaultDisplay()
            if display not in list(config.getDisplays()):
                raise ConfigError(f"unknown display {display!r}; the OCIO config has {', '.join(config.getDisplays())}")
            view = options.view or config.getDefaultView(display)
            if view not in list(config.getViews(display)):
                raise ConfigError(
                    f"unknown view {view!r} for display {display!r}; it has {', '.join(config.getViews(display))}"
                )
            transform = ocio.DisplayViewTransform(src=self.source, display=display, view=view)
            self.identity = False
        else:
            target = next((n for n in _SRGB_NAMES if config.getColorSpace(n) is not None), None)
            if target is None:
                raise ConfigError(
                    "the OCIO config ($OCIO) has no sRGB-encoded colour space",
                    remedies=(Remedy(RemedyKind.SET, "display"), Remedy(RemedyKind.SET, "view")),
                )
            target = config.getColorSpace(target).getName()
            self.identity = target == self.source
            transform = ocio.ColorSpaceTransform(src=self.source, dst=target)
        try:
            processor = config.getProcessor(transform)
            self._cpu = processor.getOptimizedCPUProcessor(ocio.OPTIMIZATION_DEFAULT)
            self.mixes_channels = bool(self._cpu.hasChannelCrosstalk())
        except (ocio.Exception, ocio.ExceptionMissingFile) as exc:
            raise ConfigError(f"cannot convert {self.source} for display: {exc}") from exc

    def _lut(self, dtype: np.dtype) -> np.ndarray:
        """(3, N) uint8 table of every value of a 16-bit type (half bit patterns, or uint16 codes)."""
        key = np.dtype(dtype).str
        if key not in self._luts:
            codes = np.arange(65536, dtype=np.uint16)
            values = codes.view(np.float16).astype(np.float32) if dtype == np.float16 else codes / np.float32(65535)
            ramp = np.ascontiguousarray(
                np.repeat(np.nan_to_num(values, nan=0.0, posinf=65504.0, neginf=0.0)[:, None], 3, axis=1), np.float32
            )
            self._apply(ramp[None])
            self._luts[key] = np.ascontiguousarray(_quantise(ramp).T)
            self._same_curve[key] = bool((self._luts[key] == self._luts[key][0]).all())
        return self._luts[key]

    def _apply(self, rgb: np.ndarray) -> None:
        """Run the OCIO processor in place on a contiguous HxWx3 float32 array."""
        ocio = _ocio()
        self._cpu.apply(ocio.PackedImageDesc(rgb, rgb.shape[1], rgb.shape[0], 3))

    def to_display_float(self, rgb: np.ndarray) -> np.ndarray:
        """Float RGB in the source colour space -> HxWx3 float32 display RGB in 0..1, unquantised (the
        conversion `to_display` makes, for colour written at more than 8 bits)."""
        data = np.array(rgb, dtype=np.float32, order="C")
        if not self.identity:
            self._apply(data)
        np.nan_to_num(data, copy=False, nan=0.0)
        return np.clip(data, 0.0, 1.0, out=data)

    def to_display(self, rgb: np.ndarray) -> np.ndarray:
        """Convert RGB in the source colour space to uint8 display RGB (clipped to 0..1, rounded).

        Per-channel conversions (the default sRGB encoding, log curves) use a table of every value
        of the 16-bit input, so a 4K frame costs three table look-ups; float32 input is rounded to
        half first (far finer than the 8-bit result). Conversions that mix channels (display/view
        transforms, other primaries) run OCIO on every pixel.

        Arguments:
            rgb: HxWx3 array: float16/float32 values, or uint16 / uint8 codes (full scale = 1.0).
        Returns:
            HxWx3 uint8 RGB.
        """
        if self.identity:
            if rgb.dtype == np.uint8:
                return np.ascontiguousarray(rgb)
            if rgb.dtype == np.uint16:
                return cv2.convertScaleAbs(rgb, alpha=255.0 / 65535.0)
            return _quantise(np.asarray(rgb, dtype=np.float32))
        if rgb.dtype == np.uint8:
            rgb = rgb.astype(np.uint16) * np.uint16(257)
        if self.mixes_channels:
            data = np.array(rgb, dtype=np.float32, order="C")
            if rgb.dtype == np.uint16:
                data *= np.float32(1.0 / 65535.0)
            self._apply(data)
            return _quantise(data)
        if rgb.dtype not in (np.float16, np.uint16):
            rgb = np.asarray(rgb, dtype=np.float16)
        lut = self._lut(rgb.dtype)
        codes = np.asarray(rgb).view(np.uint16)
        if self._same_curve[np.dtype(rgb.dtype).str]:
            return lut[0][codes]
        return np.stack([lut[c][codes[..., c]] for c in range(3)], axis=-1)


def _quantise(rgb: np.ndarray) -> np.ndarray:
    """Float RGB (in place) -> uint8, clipped to 0..1 and rounded; NaN becomes 0."""
    np.nan_to_num(rgb, copy=False, nan=0.0)
    np.maximum(rgb, 0.0, out=rgb)
    return cv2.convertScaleAbs(rgb, alpha=255.0)


def converter_for(kind: str, options: ColourOptions = ColourOptions()) -> ColourConverter:
    """The converter for plates of one kind, honouring `--colorspace` and the defaults.

    Arguments:
        kind: "linear" (EXR, HDR), "log" (DPX, Cineon) or "display" (PNG, TIFF, JPEG, ...).
        options: the user's colour settings.
    Returns:
        A `ColourConverter`. Raises `ConfigError` for an unknown colour space.
    """
    config = load_config()
    name = options.colorspace
    if name is None:
        default, role = _DEFAULTS[kind]
        if os.environ.get("OCIO") and role and config.getColorSpace(role) is not None:
            name = role
        elif config.getColorSpace(default) is not None:
            name = default
        else:
            raise ConfigError(
                f"the OCIO config ($OCIO) has no {role or default!r} colour space for these plates",
                remedy=Remedy(RemedyKind.SET, "colorspace"),
            )
    return ColourConverter(name, config, options)
