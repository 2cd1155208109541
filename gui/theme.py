"""A dark Fusion theme, as compositing and roto tools use (colours read true against dark grey)."""

from __future__ import annotations

from PyQt5.QtGui import QColor, QPalette
from PyQt5.QtWidgets import QApplication, QStyleFactory

__all__ = ["ACCENT", "apply_theme"]

ACCENT = "#3d8ee6"

_STYLE = f"""
QMainWindow, QDialog {{ background: #26282c; }}
QToolBar {{ background: #2d3035; border: none; border-bottom: 1px solid #1b1c1f; spacing: 3px; padding: 3px 6px; }}
QToolBar::separator {{ background: #41454c; width: 1px; margin: 4px 6px; }}
QToolButton {{ color: #dfe1e5; padding: 4px 8px; border-radius: 4px; border: 1px solid transparent; }}
QToolButton:hover {{ background: #3a3e45; }}
QToolButton:checked {{ background: #24518a; border: 1px solid {ACCENT}; color: white; }}
QToolButton:disabled {{ color: #6b6f76; }}
QDockWidget {{ color: #dfe1e5; }}
QDockWidget::title {{ background: #2d3035; padding: 6px 8px; }}
QTabWidget::pane {{ border: 1px solid #1b1c1f; border-top: none; }}
QTabBar::tab {{ background: #2a2d31; color: #aeb2b8; padding: 6px 14px; border: 1px solid #1b1c1f;
               border-bottom: none; }}
QTabBar::tab:selected {{ background: #33363c; color: white; border-top: 2px solid {ACCENT}; }}
QGroupBox {{ border: 1px solid #3a3d43; border-radius: 5px; margin-top: 14px; padding-top: 6px; color: #cfd2d6; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; }}
QListWidget {{ background: #1f2124; border: 1px solid #17181a; border-radius: 4px; }}
QListWidget::item {{ color: #dfe1e5; padding: 3px; border-radius: 3px; }}
QListWidget::item:selected {{ background: #24518a; color: white; }}
QPushButton {{ background: #3a3e45; color: #e8eaed; border: 1px solid #4a4f57; border-radius: 4px;
              padding: 5px 12px; }}
QPushButton:hover {{ background: #444951; }}
QPushButton:disabled {{ color: #777b82; background: #31343a; }}
QPushButton#primaryButton {{ background: #2b6cc4; border: 1px solid {ACCENT}; color: white; font-weight: 600; }}
QPushButton#primaryButton:hover {{ background: #3479d6; }}
QProgressBar {{ background: #1f2124; border: 1px solid #17181a; border-radius: 3px; color: #dfe1e5;
               text-align: center; min-height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 2px; }}
QStatusBar {{ background: #2d3035; color: #b9bdc3; border-top: 1px solid #1b1c1f; }}
QStatusBar QLabel {{ color: #b9bdc3; padding: 0 6px; }}
QLabel#panelTitle {{ color: #e8eaed; font-weight: 600; }}
QLabel#hint {{ color: #9aa0a6; }}
QLabel#error {{ color: #ff7b72; }}
QLabel#frameCounter {{ color: #e8eaed; font-family: monospace; }}
QSpinBox, QDoubleSpinBox, QComboBox, QLineEdit {{ background: #1f2124; color: #e8eaed; border: 1px solid #44484f;
              border-radius: 3px; padding: 2px 4px; }}
QSlider::groove:horizontal {{ height: 4px; background: #1f2124; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: #cfd2d6; width: 12px; margin: -5px 0; border-radius: 6px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QHeaderView::section {{ background: #2d3035; color: #cfd2d6; border: none; padding: 4px; }}
QTableWidget {{ background: #1f2124; alternate-background-color: #24272b; color: #dfe1e5; border: none; }}
QCheckBox::indicator, QGroupBox::indicator {{ width: 12px; height: 12px; border: 1px solid #8a9099;
              border-radius: 3px; background: #1f2124; }}
QCheckBox::indicator:checked, QGroupBox::indicator:checked {{ background: {ACCENT}; border: 1px solid #9cc3f5;
              image: none; }}
QCheckBox::indicator:disabled {{ border-color: #555a61; }}
QRadioButton::indicator {{ width: 12px; height: 12px; border: 1px solid #8a9099; border-radius: 7px;
              background: #1f2124; }}
QRadioButton::indicator:checked {{ background: qradialgradient(cx:0.5, cy:0.5, radius:0.5, fx:0.5, fy:0.5,
              stop:0 white, stop:0.45 white, stop:0.55 {ACCENT}, stop:1 {ACCENT}); border: 1px solid #9cc3f5; }}
QMenu {{ background: #2d3035; color: #e8eaed; border: 1px solid #1b1c1f; }}
QMenu::item:selected {{ background: #24518a; }}
QMenuBar {{ background: #2d3035; color: #dfe1e5; }}
QMenuBar::item:selected {{ background: #3a3e45; }}
"""


def apply_theme(app: QApplication) -> None:
    """Fusion style, a dark palette and the stylesheet above."""
    app.setStyle(QStyleFactory.create("Fusion"))
    palette = QPalette()
    colours = {
        QPalette.Window: "#26282c",
        QPalette.WindowText: "#dfe1e5",
        QPalette.Base: "#1f2124",
        QPalette.AlternateBase: "#24272b",
        QPalette.ToolTipBase: "#33363c",
        QPalette.ToolTipText: "#e8eaed",
        QPalette.Text: "#e8eaed",
        QPalette.Button: "#33363c",
        QPalette.ButtonText: "#e8eaed",
        QPalette.BrightText: "#ff5555",
        QPalette.Highlight: "#24518a",
        QPalette.HighlightedText: "#ffffff",
        QPalette.Link: ACCENT,
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.Text, QPalette.ButtonText, QPalette.WindowText):
        palette.setColor(QPalette.Disabled, role, QColor("#6b6f76"))
    app.setPalette(palette)
    app.setStyleSheet(_STYLE)
