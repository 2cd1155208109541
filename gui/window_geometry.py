"""The main window's size and layout rules: open within the screen, keep Export in reach on a narrow window
(whatever the tool and the view add to the options bar), give the side dock its width on first show."""

from __future__ import annotations

from collections.abc import Sequence

from PyQt5.QtCore import QMargins, QRect, Qt
from PyQt5.QtWidgets import QAction, QApplication, QDockWidget, QMainWindow, QToolBar

__all__ = ["FRAME_ALLOWANCE", "WINDOW_SIZE", "fit_options_bar", "fit_to_screen", "size_dock"]

#: Size of a new window.
WINDOW_SIZE = (1560, 940)
#: Room a window manager's frame (title bar, borders) takes around a window not shown yet, when it cannot be
#: measured: the window is made that much smaller than the screen's free area, so its status bar stays on screen.
FRAME_ALLOWANCE = QMargins(8, 40, 8, 8)


def fit_to_screen(window: QMainWindow, available: QRect | None = None, frame: QMargins | None = None) -> None:
    """Open `window` at `WINDOW_SIZE`, or, on a smaller screen (a 1280x720 laptop), as large as the screen's free
    area holds with the window manager's frame around it, centred there.

    Arguments:
        window: the main window.
        available: the screen's free area (default: the primary screen's).
        frame: the frame's width on each side (default: measured on a shown window, else `FRAME_ALLOWANCE`).
    """
    if available is None:
        screen = QApplication.primaryScreen()
        if screen is None:
            window.resize(*WINDOW_SIZE)
            return
        available = screen.availableGeometry()
    if frame is None:
        outer, inner = window.frameGeometry(), window.geometry()
        measured = QMargins(
            inner.left() - outer.left(),
            inner.top() - outer.top(),
            outer.right() - inner.right(),
            outer.bottom() - inner.bottom(),
        )
        frame = measured if window.isVisible() and not measured.isNull() else FRAME_ALLOWANCE
    room = available.marginsRemoved(frame)
    width, height = min(WINDOW_SIZE[0], room.width()), min(WINDOW_SIZE[1], room.height())
    window.resize(width, height)
    window.move(available.left() + (room.width() - width) // 2, available.top() + (room.height() - height) // 2)


def fit_options_bar(bar: QToolBar, width: int, droppable: Sequence[QAction] = ()) -> None:
    """Keep the whole options bar, Export at its end, within a window `width` wide: icons only when the text does
    not fit (tooltips name them), then without the `droppable` controls, in order, until it fits."""
    for action in droppable:
        action.setVisible(True)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    if bar.sizeHint().width() <= width:
        return
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    for action in droppable:
        if bar.sizeHint().width() <= width:
            return
        action.setVisible(False)


def size_dock(window: QMainWindow, dock: QDockWidget, width: int) -> None:
    """Give the side dock its opening width (once, when the window is first shown)."""
    if not dock.property("xmempp_sized"):
        dock.setProperty("xmempp_sized", True)
        window.resizeDocks([dock], [width], Qt.Orientation.Horizontal)
