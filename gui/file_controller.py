"""The File and Help menus: new / open / recent workspaces (opened in a new window that replaces this one),
save, export, load weights, the shortcut list."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QApplication, QFileDialog, QLabel, QMainWindow, QMenu, QMessageBox

from xmempp.errors import XMemppError

from .export_dialog import ExportDialog
from .file_actions import NewWorkspaceDialog, RecentWorkspaces
from .help_dialog import HelpDialog
from .job_controller import JobController
from .project import Project
from .remedies import gui_message
from .status_line import Messages
from .weights_loader import load_weights

__all__ = ["FileController"]


class _Canvas(Protocol):
    def refresh(self) -> None: ...


class FileController:
    """File menu actions for one window on one project."""

    def __init__(
        self,
        project: Project,
        jobs: JobController,
        recent: RecentWorkspaces,
        recent_menu: QMenu,
        messages: Messages,
        problem: Callable[[str], None],
        canvas: _Canvas,
        window: QMainWindow,
        open_window: Callable[[Project], QMainWindow],
        weights_error: Callable[[str], None],
        model_label: QLabel,
    ) -> None:
        """Arguments:
        project, jobs: the window's project and jobs.
        recent, recent_menu: the recent workspaces and File > Open Recent.
        messages, problem: where passing messages and problems go.
        canvas: redrawn after the export dialog (its refine settings drive the refined view).
        window: the window the dialogs belong to and that a newly opened workspace replaces.
        open_window: a new window on a project.
        weights_error: shows the clear message about unusable weights.
        model_label: the status bar's model line (File > Load weights updates it).
        """
        self.project, self.jobs, self.recent, self.recent_menu = project, jobs, recent, recent_menu
        self.messages, self.problem, self.canvas, self.window = messages, problem, canvas, window
        self.open_window, self.weights_error, self.model_label = open_window, weights_error, model_label
        recent.add(project.workspace.path)
        self.fill_recent()

    def show_help(self) -> None:
        """The keyboard shortcut list."""
        HelpDialog(self.window).exec_()

    def export(self) -> None:
        """The export dialog."""
        if self.jobs.busy_message(" before exporting"):
            return
        ExportDialog(self.project, self.window, on_weights_error=self.weights_error, runner=self.jobs.runner).exec_()
        self.canvas.refresh()  # the A/B view follows the refine settings the dialog remembered

    def new_workspace(self) -> None:
        """File > New: a workspace from frames, a frame pattern or a video, opened in place of this one."""
        if self.jobs.busy_message(" before opening another workspace"):
            return
        dialog = NewWorkspaceDialog(self.project.workspace.path.parent, self.window)
        if dialog.exec_() and dialog.path is not None:
            self.open_path(dialog.path)

    def open_workspace(self) -> None:
        """File > Open workspace: choose a workspace folder."""
        if self.jobs.busy_message(" before opening another workspace"):
            return
        folder = QFileDialog.getExistingDirectory(
            self.window, "Open workspace", str(self.project.workspace.path.parent)
        )
        if folder:
            self.open_path(Path(folder))

    def open_path(self, path: Path) -> QMainWindow | None:
        """Open workspace `path` in a new window with the same weights and device, and close this one.

        Returns:
            The new window, or None when `path` cannot be opened (the reason is shown).
        """
        engine = self.project.engine
        try:
            project = Project.open(path, engine.model_path, engine.device)
        except XMemppError as exc:
            self.problem(f"cannot open {path}: {gui_message(exc)}")
            return None
        project.cleanup_temp_files()
        window = self.open_window(project)
        window.resize(self.window.size())
        window.show()
        self.window.close()
        return window

    def load_weights(self, path: Path | None = None) -> bool:
        """File > Load weights: check and load an XMem checkpoint as `--model` does (asks for the file when `path`
        is None). Returns True when the network now uses it; a refused file changes nothing and says why."""
        if self.jobs.busy_message(" before loading other weights"):
            return False
        engine = self.project.engine
        if path is None:
            chosen, _filter = QFileDialog.getOpenFileName(
                self.window,
                "Load XMem weights",
                str(engine.weights_file.parent),
                "Checkpoints (*.pth *.pt);;All files (*)",
            )
            if not chosen:
                return False
            path = Path(chosen)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            load_weights(engine, path)
        except XMemppError as exc:
            QMessageBox.critical(self.window, "Weights not loaded", f"{path} cannot be used:\n\n{gui_message(exc)}")
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.model_label.setText(engine.status)
        self.messages.show(f"weights {path.name} loaded: the next propagation uses them", 6000)
        return True

    def fill_recent(self) -> None:
        """File > Open Recent: the other recent workspaces."""
        menu = self.recent_menu
        menu.clear()
        here = self.project.workspace.path.resolve()
        paths = [p for p in self.recent.paths() if p.resolve() != here]
        for path in paths:
            menu.addAction(f"{path.name}  —  {path.parent}", lambda p=path: self.open_path(p))
        if not paths:
            placeholder = menu.addAction("(no other workspace yet)")
            if placeholder is not None:
                placeholder.setEnabled(False)

    def save_all(self) -> None:
        """Write the view settings now (everything else is already saved)."""
        if self.project.save_settings():
            self.messages.show(f"everything is saved in {self.project.workspace.path}", 4000)
