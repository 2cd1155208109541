"""The export dialog's refine controls: the core's refine stage (`xmempp.refine.RefineSettings`) as a mode
box with the core's defaults and an advanced part (band, feather, detail, temporal smoothing).

The refine stage acts on soft outputs (soft mattes, EXR layers, Cryptomatte coverage); without one ticked
the controls are off and say why. Their values are remembered with the dialog's other choices, each
checked on load (a bad or unknown value takes the core's default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard

from PyQt5.QtCore import Qt
from PyQt5.QtGui import QDoubleValidator, QStandardItem, QStandardItemModel
from PyQt5.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from xmempp.errors import ConfigError, Remedy, RemedyKind
from xmempp.refine import REFINE_MODES, RefineSettings
from xmempp.refine.pymatting_loader import pymatting_available

__all__ = ["MODE_TEXTS", "NO_SOFT_OUTPUT", "RefineControls"]

#: What the mode box shows for each refine mode.
MODE_TEXTS = {"off": "Off", "guided": "Guided filter", "matting": "Matting (slow, for hero shots)"}
#: Why the controls are off when no soft output is ticked.
NO_SOFT_OUTPUT = "Refining acts on soft mattes: tick “Soft mattes”, “EXR layers” or “Cryptomatte”."
_MODE_TIP = "Fit the soft mattes to the frames' own edges (hair, fur, motion blur), as xmempp process --refine does"
#: Spin box value that stands for the core's default (None: scaled with the plate).
_DEFAULT = -1.0
#: Largest band / feather the core accepts (plate pixels).
_MAX_PIXELS = 4096.0


def _pixels_box(parent: QWidget, default_text: str, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox(parent)
    box.setRange(_DEFAULT, _MAX_PIXELS)
    box.setDecimals(1)
    box.setSuffix(" px")
    box.setSpecialValueText(default_text)
    box.setValue(_DEFAULT)
    box.setToolTip(tip)
    return box


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class RefineControls(QGroupBox):
    """Mode box, an "Advanced" toggle and the settings under it; `settings()` is what the export uses."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Refine soft mattes", parent)
        defaults = RefineSettings()
        self.active = True
        self.mode = QComboBox(self)
        for mode in REFINE_MODES:
            self.mode.addItem(MODE_TEXTS[mode], mode)
        self.mode.setCurrentIndex(self.mode.findData(defaults.mode))
        self.mode.setToolTip(_MODE_TIP)
        if not pymatting_available():
            item = self._mode_item(self.mode.findData("matting"))
            item.setEnabled(False)
            item.setToolTip("needs pymatting: pip install 'xmempp[matting]'")
        self.advanced = QToolButton(self)
        self.advanced.setText("Advanced")
        self.advanced.setCheckable(True)
        self.advanced.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced.setArrowType(Qt.ArrowType.RightArrow)
        self.band = _pixels_box(
            self,
            "Default (16 at 2K)",
            "How far the refined edge may reach beyond the "
            "network's uncertain zone; the default scales with the frame height",
        )
        self.feather = _pixels_box(
            self, "Default (0: a hard clamp)", "Width of the fade into the network's matte beyond the band"
        )
        self.detail = QLineEdit(f"{defaults.eps:g}", self)
        validator = QDoubleValidator(0.0, 1.0, 12, self.detail)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.detail.setValidator(validator)
        self.detail.setToolTip(
            "The guided filter's eps: smaller keeps finer strands (and more noise), larger "
            "stays closer to the network's matte"
        )
        self.temporal = QDoubleSpinBox(self)
        self.temporal.setRange(0.0, 0.95)
        self.temporal.setSingleStep(0.05)
        self.temporal.setSpecialValueText("Off")
        self.temporal.setValue(defaults.temporal)
        self.temporal.setToolTip(
            "Average the filter over frames with this weight of the past (0.5-0.8 calms "
            "grain flicker on locked-off shots)"
        )
        self.details = QWidget(self)
        form = QFormLayout(self.details)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Band", self.band)
        form.addRow("Feather", self.feather)
        form.addRow("Detail (eps)", self.detail)
        form.addRow("Temporal smoothing", self.temporal)
        self.details.setVisible(False)
        self.advanced.toggled.connect(self._show_details)
        self.reason = QLabel(NO_SOFT_OUTPUT, self)
        self.reason.setObjectName("hint")
        self.reason.setWordWrap(True)
        self.reason.setVisible(False)
        top = QFormLayout()
        top.addRow("Refine", self.mode)
        top.addRow(self.advanced)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.details)
        layout.addWidget(self.reason)

    def _show_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.advanced.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def set_soft_outputs(self, ticked: bool) -> None:
        """Turn the controls on when a soft output is ticked, else off with the reason shown."""
        self.active = ticked
        for widget in (self.mode, self.advanced, self.details):
            widget.setEnabled(ticked)
        self.mode.setToolTip(_MODE_TIP if ticked else NO_SOFT_OUTPUT)
        self.reason.setVisible(not ticked)

    # ------------------------------------------------------------------ values
    def settings(self) -> RefineSettings:
        """The refinement the export applies (mode off while the controls are off); `ConfigError` names the
        control of a bad value."""
        if not self.active:
            return RefineSettings()
        try:
            detail = float(self.detail.text().strip())
        except ValueError:
            raise ConfigError(
                f"refine detail must be a number such as {RefineSettings().eps:g}, not {self.detail.text()!r}",
                remedy=Remedy(RemedyKind.SET, "refine_detail", value=RefineSettings().eps),
            ) from None
        return RefineSettings(
            mode=str(self.mode.currentData()),
            band=self._pixels(self.band),
            feather=self._pixels(self.feather),
            eps=detail,
            temporal=self.temporal.value(),
        )

    @staticmethod
    def _pixels(box: QDoubleSpinBox) -> float | None:
        return None if box.value() < 0 else box.value()

    def choices(self) -> dict[str, Any]:
        """The controls' values as saved with the export dialog's choices."""
        return {
            "refine": str(self.mode.currentData()),
            "refine_band": self._pixels(self.band),
            "refine_feather": self._pixels(self.feather),
            "refine_detail": self.detail.text().strip(),
            "refine_temporal": self.temporal.value(),
            "refine_advanced": self.advanced.isChecked(),
        }

    def _mode_item(self, row: int) -> QStandardItem:
        """The mode box's item `row` (a combo box's own model is a QStandardItemModel)."""
        model = self.mode.model()
        assert isinstance(model, QStandardItemModel)
        item = model.item(row)
        assert item is not None
        return item

    def load(self, saved: Mapping[str, Any]) -> None:
        """Restore saved choices; a value the core would refuse keeps the control's default."""
        mode = self.mode.findData(saved.get("refine"))
        if mode >= 0 and self._mode_item(mode).isEnabled():
            self.mode.setCurrentIndex(mode)
        for name, box in (("refine_band", self.band), ("refine_feather", self.feather)):
            value = saved.get(name)
            if _is_number(value) and 0 <= value <= _MAX_PIXELS:
                box.setValue(float(value))
        detail = saved.get("refine_detail")
        if isinstance(detail, str) and _valid(eps=detail):
            self.detail.setText(detail)
        temporal = saved.get("refine_temporal")
        if _is_number(temporal) and self.temporal.minimum() <= temporal <= self.temporal.maximum():
            self.temporal.setValue(float(temporal))
        if isinstance(saved.get("refine_advanced"), bool):
            self.advanced.setChecked(saved["refine_advanced"])


def _valid(eps: str) -> bool:
    """The core accepts this detail (eps) text."""
    try:
        RefineSettings(eps=float(eps))
    except (ValueError, ConfigError):
        return False
    return True
