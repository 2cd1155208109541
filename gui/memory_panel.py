"""The Memory tab: how full temporary, long-term and permanent memory are, device memory, and the
memory settings (mem_every, working-memory frames, long-term cap, prototypes, ...)."""

from __future__ import annotations

import dataclasses

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from xmempp.errors import ConfigError

from .project import Project
from .remedies import CONTROLS

__all__ = ["MemoryPanel", "human_bytes"]


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


# (config field, label, minimum, maximum, tooltip)
_INT_FIELDS = (
    ("size", "Processing size", -1, 8192, "Shorter side frames are resized to before the network (-1: native)"),
    ("mem_every", "Memory every", 1, 1000, "Write a frame to working memory every N frames (mem_every)"),
    (
        "max_mid_term_frames",
        "Working frames, max",
        2,
        1000,
        "When working memory holds this many frames, the oldest move to long-term memory",
    ),
    ("min_mid_term_frames", "Working frames, min", 1, 999, "Frames that stay in working memory after consolidation"),
    (
        "max_long_term_elements",
        "Long-term cap",
        2,
        1_000_000,
        "Most elements long-term memory keeps, in key positions (least used ones are dropped)",
    ),
    ("num_prototypes", "Prototypes", 1, 10_000, "Elements each consolidation turns the oldest working memory into"),
    ("top_k", "Top-k", 1, 1000, "Memory elements each query pixel reads from"),
)


class SizeSpinBox(QSpinBox):
    """Processing size: -1 ("native") or at least 16 pixels; the arrows skip the invalid 0..15."""

    def stepBy(self, steps: int) -> None:
        value = self.value()
        if value == -1 and steps > 0:
            self.setValue(480)
        elif 0 <= value + steps * self.singleStep() < 16:
            self.setValue(-1 if steps < 0 else 16)
        else:
            super().stepBy(steps)


class MemoryPanel(QWidget):
    """Memory statistics and settings.

    Signals:
        clearRequested(): "Clear working memory" was clicked.
    """

    clearRequested = pyqtSignal()

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        stats_box = QGroupBox("Memory in use", self)
        stats = QFormLayout(stats_box)
        stats.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.temporary = QLabel("—")
        self.temporary_bar = QProgressBar()
        self.long_term = QLabel("—")
        self.long_term_bar = QProgressBar()
        self.permanent = QLabel("—")
        self.device = QLabel("—")
        for field in (self.temporary, self.long_term, self.permanent, self.device):
            field.setWordWrap(True)
        for bar in (self.temporary_bar, self.long_term_bar):
            bar.setMaximumHeight(6)
            bar.setTextVisible(False)
        stats.addRow("Temporary", self.temporary)
        stats.addRow("", self.temporary_bar)
        stats.addRow("Long-term", self.long_term)
        stats.addRow("", self.long_term_bar)
        stats.addRow("Permanent", self.permanent)
        stats.addRow("Device memory", self.device)
        self.clear_button = QPushButton("Clear working memory", self)
        self.clear_button.setToolTip("Forget temporary and long-term memory; references stay")
        self.clear_button.clicked.connect(self.clearRequested)
        stats.addRow(self.clear_button)

        settings_box = QGroupBox("Settings", self)
        self.settings_box = settings_box
        form = QFormLayout(settings_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.mode = QComboBox(self)
        self.mode.addItem("XMem++", "xmempp")
        self.mode.addItem("XMem (original)", "xmem")
        self.mode.setToolTip(
            "XMem++: every reference stays in permanent memory. XMem: the original mechanism "
            "(only the first reference is permanent)"
        )
        self.mode.setCurrentIndex(0 if project.settings.mode == "xmempp" else 1)
        self.mode.currentIndexChanged.connect(lambda _i: project.update_settings(mode=self.mode.currentData()))
        form.addRow("Mode", self.mode)
        self.fields: dict[str, QSpinBox] = {}
        for name, label, low, high, tip in _INT_FIELDS:
            box = SizeSpinBox(self) if name == "size" else QSpinBox(self)
            box.setRange(low, high)
            box.setToolTip(tip)
            box.setKeyboardTracking(False)
            if name == "size":
                box.setSpecialValueText("native")
                box.setSingleStep(16)
            box.valueChanged.connect(lambda value, n=name: self._changed(n, value))
            self.fields[name] = box
            form.addRow(label, box)
        self.long_term_enabled = QCheckBox("Use long-term memory", self)
        self.long_term_enabled.toggled.connect(lambda on: self._changed("enable_long_term", bool(on)))
        form.addRow(self.long_term_enabled)
        self.force_memory = QCheckBox(CONTROLS["force"][0], self)
        self.force_memory.setToolTip(
            "Jobs the machine may not hold are refused before their first frame (as "
            "`xmempp process` does); tick to run them anyway, with a warning"
        )
        self.force_memory.setChecked(project.settings.force_memory)
        self.force_memory.toggled.connect(lambda on: project.update_settings(force_memory=bool(on)))
        form.addRow(self.force_memory)
        self.error = QLabel(self)
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        form.addRow(self.error)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(stats_box)
        layout.addWidget(settings_box)
        layout.addStretch(1)
        self.load_settings()
        self.show_stats(None)

    def load_settings(self) -> None:
        """Show the project's current settings."""
        config = self.project.config
        for name, box in self.fields.items():
            box.blockSignals(True)
            box.setValue(int(getattr(config, name)))
            box.blockSignals(False)
        self.long_term_enabled.blockSignals(True)
        self.long_term_enabled.setChecked(config.enable_long_term)
        self.long_term_enabled.blockSignals(False)

    def _changed(self, name: str, value) -> None:
        try:
            self.project.update_config(**{name: value})
            self.error.setText("")
        except ConfigError as exc:
            self.error.setText(str(exc))
            self.load_settings()

    def show_stats(self, stats) -> None:
        """Show `MemoryStats` (None: no session yet)."""
        config = self.project.config
        if stats is None:
            for field in (self.temporary, self.long_term, self.permanent):
                field.setText("— (after the first propagation)")
            self.device.setText("—")
            self.temporary_bar.setValue(0)
            self.long_term_bar.setValue(0)
            return
        s = (
            dataclasses.asdict(stats)
            if dataclasses.is_dataclass(stats) and not isinstance(stats, type)
            else dict(stats)
        )
        self.temporary.setText(
            f"{s['temporary_frames']} frames · {s['temporary_elements']:,} elements"
            f" ({s.get('temporary_capacity', 0):,} allocated)"
        )
        self.temporary_bar.setRange(0, config.max_mid_term_frames)
        self.temporary_bar.setValue(min(config.max_mid_term_frames, s["temporary_frames"]))
        self.long_term.setText(
            f"{s['long_term_elements']:,} / {config.max_long_term_elements:,} elements"
            if config.enable_long_term
            else "off"
        )
        self.long_term_bar.setRange(0, config.max_long_term_elements)
        self.long_term_bar.setValue(min(config.max_long_term_elements, s["long_term_elements"]))
        self.permanent.setText(
            f"{s['permanent_frames']} frames · {s['permanent_elements']:,} elements"
            f" ({s.get('permanent_capacity', 0):,} allocated)"
        )
        device = (
            f"{human_bytes(s['device_bytes'])} allocated: stores {human_bytes(s.get('store_bytes', 0))} "
            f"(spare room included), read cache {human_bytes(s.get('layout_bytes', 0))}, "
            f"hidden state {human_bytes(s.get('hidden_bytes', 0))}"
        )
        allocated = _cuda_allocated(self.project)
        self.device.setText(device + (f"  (GPU total {allocated})" if allocated else ""))
        self.device.setAlignment(Qt.Alignment(Qt.AlignmentFlag.AlignLeft) | Qt.AlignmentFlag.AlignVCenter)


def _cuda_allocated(project: Project) -> str:
    model = project.engine.model
    if model is None:
        return ""
    try:
        device = next(model.parameters()).device
        if device.type != "cuda":
            return ""
        import torch

        return human_bytes(int(torch.cuda.memory_allocated(device)))
    except Exception:
        return ""
