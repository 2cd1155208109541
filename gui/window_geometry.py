"""The main window's size and layout rules: open within the screen, keep Export in reach on a narrow window,
give the side dock its width on first show."""
from __future__ import annotations

from typing import Optional

from PyQt5.QtCore import QRect, Qt
from PyQt5.QtWidgets import QApplication, QDockWidget, QMainWindow, QToolBar

__all__ = ["WINDOW_SIZE", "fit_to_screen", "fit_options_bar", "size_dock"]

#: Size of a new window.
WINDOW_SIZE = (1560, 940)


def fit_to_screen(window: QMainWindow, available: Optional[QRect] = None) -> None:
    """Open `window` at `WINDOW_SIZE`, or at the screen's free area when that is smaller (a 1280x720 laptop).

    Arguments:
        window: the main window.
        available: the screen's free area (default: the primary screen's).
    """
    width, height = WINDOW_SIZE
    if available is None:
        screen = QApplication.primaryScreen()
        available = screen.availableGeometry() if screen is not None else None
    if available is not None:
        width, height = min(width, available.width()), min(height, available.height())
    window.resize(width, height)


def fit_options_bar(bar: QToolBar, width: int) -> None:
    """On a window `width` wide the options bar shows icons only when its text does not fit (tooltips name them),
    so Export stays in reach."""
    bar.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
    if bar.sizeHint().width() > width:
        bar.setToolButtonStyle(Qt.ToolButtonIconOnly)


def size_dock(window: QMainWindow, dock: QDockWidget, width: int) -> None:
    """Give the side dock its opening width (once, when the window is first shown)."""
    if not dock.property("xmempp_sized"):
        dock.setProperty("xmempp_sized", True)
        window.resizeDocks([dock], [width], Qt.Horizontal)
