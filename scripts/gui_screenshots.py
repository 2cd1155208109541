"""Render the screenshots of docs/gui.md from a workspace (offscreen, no display needed).

    python scripts/gui_screenshots.py WORKSPACE OUT_DIR [--frame N]

Writes OUT_DIR/gui.png (the window at 1280x720), gui_matte.png (the matte over a checkerboard),
gui_refined.png (raw | refined split, when the refine stage is installed) and gui_objects.png (the
object list). The workspace is changed as an artist would: a second object is added and named.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: Width the window shots are scaled to for the docs.
DOC_WIDTH = 1280
#: Zoom of the matte shots.
ZOOM = 3.0


def _shrink(path: Path) -> None:
    """Re-save a PNG with a 256-colour palette (a third of the size; the UI has few colours)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.FLOYDSTEINBERG)
    small.save(path, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--frame", type=int, default=0)
    args = parser.parse_args()

    import numpy as np
    from PyQt5.QtCore import Qt
    from PyQt5.QtWidgets import QApplication

    from xmempp.gui.app import application
    from xmempp.gui.main_window import MainWindow
    from xmempp.gui.project import Project

    app = application()
    project = Project.open(args.workspace)
    window = MainWindow(project, interactive=False)
    window.resize(1280, 720)
    window.show()
    for _ in range(10):
        app.processEvents()
    args.out.mkdir(parents=True, exist_ok=True)

    def settle() -> None:
        for _ in range(5):
            QApplication.processEvents()

    def save(widget, name: str) -> None:
        settle()
        pixmap = widget.grab()
        if pixmap.width() > DOC_WIDTH:
            pixmap = pixmap.scaledToWidth(DOC_WIDTH, Qt.SmoothTransformation)
        pixmap.save(str(args.out / name), "PNG")
        _shrink(args.out / name)
        print(args.out / name)

    def centre_on(x: float, y: float) -> None:
        """Pan the canvas so the frame point (x, y) is in the middle of the view."""
        from PyQt5.QtCore import QPointF

        spot = window.canvas.transform().map(QPointF(x, y))
        window.canvas.pan_by(window.canvas.width() / 2 - spot.x(), window.canvas.height() / 2 - spot.y())

    window.goto(args.frame)
    if project.num_objects < 2:
        second = project.add_object()
        mask = project.mask(args.frame).copy()
        h, w = mask.shape
        yy, xx = np.mgrid[:h, :w]
        mask[((yy - h * 0.78) / (h * 0.12)) ** 2 + ((xx - w * 0.5) / (w * 0.3)) ** 2 <= 1] = second
        project.edit_mask(args.frame, mask, "Brush stroke")
    project.rename_object(1, "cap on head")
    project.rename_object(2, "cap in hand")
    project.set_object_locked(1, True)
    window.select_object(1)
    window.set_overlay_mode("blend")
    save(window, "gui.png")
    save(window.ui.objects, "gui_objects.png")
    window.select_object(2)
    ys, xs = np.nonzero(project.mask(args.frame) == 2)
    if len(xs):  # zoom in on the object, as an artist checks an edge
        window.canvas.set_zoom(ZOOM)
        centre_on(float(xs.mean()), float(ys.mean()))
    window.set_overlay_mode("checker")
    save(window, "gui_matte.png")
    if window.refined.available:  # the split runs down the frame's middle: centre on an object it crosses
        mask = project.mask(args.frame)
        column = mask[:, mask.shape[1] // 2]
        crossing = sorted(
            (k for k in range(1, project.num_objects + 1) if (column == k).any()),
            key=lambda k: -int((column == k).sum()),
        )
        if crossing:
            window.select_object(crossing[0])
            centre_on(mask.shape[1] / 2, float(np.nonzero(column == crossing[0])[0].mean()))
        window.set_overlay_mode("alpha")
        window.set_compare("split")
        save(window, "gui_refined.png")
    window.set_overlay_mode("blend")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
