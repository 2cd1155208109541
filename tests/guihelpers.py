"""Helpers of the GUI tests: small synthetic workspaces (a red disc moving right), opening a window,
mouse drags in image coordinates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PyQt5.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt5.QtGui import QMouseEvent
from PyQt5.QtWidgets import QApplication

from xmempp.io.frames import FolderFrames
from xmempp.io.workspace import create_workspace

H, W, N = 72, 96, 6


def synthetic_frame(i: int, height: int = H, width: int = W) -> np.ndarray:
    """A textured background with a red disc moving right."""
    rng = np.random.default_rng(i)
    frame = np.full((height, width, 3), 90, np.uint8)
    frame += rng.integers(0, 25, (height, width, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:height, :width]
    disc = (yy - height // 2) ** 2 + (xx - (30 + 4 * i)) ** 2 <= 14**2
    frame[disc] = (220, 40, 40)
    return frame


def disc_mask(i: int, value: int = 7, height: int = H, width: int = W) -> np.ndarray:
    """The disc of frame `i` as an index mask with id `value`."""
    yy, xx = np.mgrid[:height, :width]
    return np.where((yy - height // 2) ** 2 + (xx - (30 + 4 * i)) ** 2 <= 14**2, value, 0).astype(np.uint8)


def write_frames(folder: Path, count: int = N, stem: str = "plate_", height: int = H, width: int = W) -> Path:
    """`count` synthetic PNG frames `<stem>0000.png`... in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(synthetic_frame(i, height, width)).save(folder / f"{stem}{i:04d}.png")
    return folder


def make_workspace(
    tmp_path: Path,
    name: str = "shot",
    size: int | None = None,
    count: int = N,
    stem: str = "plate_",
    height: int = H,
    width: int = W,
    masks=None,
) -> Path:
    """A workspace of synthetic frames with the frame-0 disc as reference, made by `create_workspace`."""
    src = write_frames(tmp_path / f"src_{name}", count, stem, height, width)
    masks = {0: disc_mask(0, height=height, width=width)} if masks is None else masks
    return create_workspace(tmp_path / "workspace", name, FolderFrames(src), masks, size=size)


def open_window(qtbot, workspace: Path, model=None, size=(1300, 800)):
    """The main window on `workspace`, shown and active."""
    from xmempp.gui.main_window import MainWindow
    from xmempp.gui.project import Project

    window = MainWindow(Project.open(workspace, model, "cpu"))
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    QApplication.setActiveWindow(window)
    window.canvas.setFocus()
    return window


def at(canvas, x: float, y: float) -> QPoint:
    """Widget position of image pixel (x, y)."""
    return canvas.transform().map(QPointF(x + 0.5, y + 0.5)).toPoint()


def drag(qtbot, canvas, points, button=Qt.LeftButton, modifiers=Qt.NoModifier) -> None:
    """Drag through image points with a mouse button held."""
    qtbot.mousePress(canvas, button, modifiers, at(canvas, *points[0]))
    for x, y in points[1:]:
        QApplication.sendEvent(
            canvas, QMouseEvent(QEvent.MouseMove, QPointF(at(canvas, x, y)), Qt.NoButton, button, modifiers)
        )
    qtbot.mouseRelease(canvas, button, modifiers, at(canvas, *points[-1]))
