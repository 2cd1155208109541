"""QApplication bootstrap: open a workspace in the main window, or render it to a screenshot and exit."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from xmempp.errors import InputError, OutputError

__all__ = ["application", "ensure_display", "run_gui"]

SCREENSHOT_SIZE = (1600, 960)


def ensure_display(screenshot: bool) -> None:
    """Make sure Qt has somewhere to draw.

    Without a display (no $DISPLAY / $WAYLAND_DISPLAY on Linux) a screenshot run uses Qt's offscreen
    platform; an interactive run raises `InputError` instead of letting Qt abort the process.
    """
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    if screenshot:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return
    raise InputError(
        "no display found ($DISPLAY is not set): run the GUI on a desktop, through X forwarding "
        "(ssh -X) or VNC, or use --screenshot PATH to render the window to a file"
    )


def application():
    """The QApplication (created once, themed)."""
    from PyQt5.QtCore import Qt
    from PyQt5.QtWidgets import QApplication

    from .theme import apply_theme

    app = QApplication.instance()
    if app is None:
        QApplication.setAttribute(Qt.ApplicationAttribute.AA_EnableHighDpiScaling, True)
        QApplication.setAttribute(Qt.ApplicationAttribute.AA_UseHighDpiPixmaps, True)
        app = QApplication(sys.argv[:1])
        app.setApplicationName("xmempp")
        app.setOrganizationName("xmempp")
    if not app.property("xmempp_themed") and isinstance(app, QApplication):
        apply_theme(app)
        app.setProperty("xmempp_themed", True)
    return app


def run_gui(
    workspace: os.PathLike | str,
    model: os.PathLike | str | None = None,
    device: str = "auto",
    size: int | None = None,
    screenshot: os.PathLike | str | None = None,
    precision: str = "auto",
) -> int:
    """Open `workspace` in the main window and run until it is closed.

    Arguments:
        workspace: a workspace folder (`xmempp import` or XMem++ layout).
        model: weights file (default: the standard XMem.pth, loaded on the first propagation).
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        precision: "auto", "fp32", "bf16" or "fp16" (as `xmempp process --precision`).
        size: processing size to use and remember (shorter side; -1 native); None keeps the saved one.
        screenshot: render the window to this PNG once the first frame is shown, then exit.
    Returns:
        The exit status (0 on success). Raises `XMemppError` for an unusable workspace.
    """
    ensure_display(screenshot is not None)
    app = application()
    from PyQt5.QtCore import QTimer

    from .main_window import MainWindow
    from .project import Project

    project = Project.open(workspace, Path(model) if model is not None else None, device, precision=precision)
    project.cleanup_temp_files()
    if size is not None:
        project.update_config(size=int(size))
    window = MainWindow(project, interactive=screenshot is None)
    if screenshot is None:
        window.show()
        return int(app.exec_())

    target = Path(screenshot).expanduser()
    result: dict[str, int | str] = {"code": 1}

    def shoot() -> None:
        app.processEvents()
        pixmap = window.grab()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            result["error"] = f"cannot create {target.parent}: {exc.strerror or exc}"
        if "error" not in result:
            if pixmap.isNull() or not pixmap.save(str(target), "PNG"):
                result["error"] = f"cannot write the screenshot {target}"
            else:
                result["code"] = 0
        window.close()
        app.exit(int(result["code"]))

    window.resize(*SCREENSHOT_SIZE)
    window.show()
    QTimer.singleShot(400, shoot)
    app.exec_()
    if "error" in result:
        raise OutputError(str(result["error"]))
    return int(result["code"])
