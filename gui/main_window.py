"""The main window: canvas and timeline in the middle, objects and the References / Candidates /
Memory tabs on the right, tools and propagation in the toolbar. It wires the panels to the project
and runs the workers; it holds no model code."""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np
from PyQt5.QtCore import QEvent, QObject, QSize, Qt, QTimer
from PyQt5 import sip
from PyQt5.QtGui import QKeySequence
from PyQt5.QtWidgets import (QAbstractSpinBox, QAction, QActionGroup, QApplication, QComboBox, QDockWidget,
                             QLabel, QLineEdit, QMainWindow, QMessageBox, QProgressBar, QSizePolicy, QSlider,
                             QSpinBox, QTabWidget, QToolBar, QVBoxLayout, QWidget)

from xmempp.errors import InputError, WeightsError

from .candidates_panel import CandidatesPanel
from .canvas import Canvas
from .export_dialog import ExportDialog
from .help_dialog import HelpDialog
from .icons import icon
from .memory_panel import MemoryPanel
from .objects import ObjectsPanel
from .overlay import OVERLAY_LABELS, OVERLAY_MODES
from .project import Project
from .references_panel import ReferencesPanel
from .segment_backends import SegmentBackend, available_backends
from .settings import TOOLS
from .shortcuts import create_actions, shortcut
from .thumbnails import ThumbnailCache
from .timeline import Timeline
from .workers import PropagationWorker, SavedMasks, SuggestWorker, plan_propagation, start_worker

__all__ = ["MainWindow"]

_TOOL_ICONS = {"brush": "brush", "eraser": "eraser", "polygon": "polygon", "lasso": "lasso", "segment": "segment"}
_TOOL_TEXT = {"brush": "Brush", "eraser": "Eraser", "polygon": "Polygon", "lasso": "Lasso", "segment": "Segment"}
_SEGMENT_MODES = {"box": "Box", "strokes": "Strokes", "points": "Clicks"}


class MainWindow(QMainWindow):
    """The xmempp annotation window for one project."""

    def __init__(self, project: Project, parent: Optional[QWidget] = None, interactive: bool = True) -> None:
        """Arguments:
            project: the opened workspace.
            parent: parent widget.
            interactive: show message boxes for problems (False for --screenshot: status bar only).
        """
        super().__init__(parent)
        self.project = project
        self.interactive = interactive
        self.setWindowTitle(f"xmempp — {project.workspace.path.name}")
        self.resize(1560, 940)
        self.job: Optional[str] = None
        self.worker: Optional[QObject] = None
        self.thread = None
        self._following = True
        self._last_follow = 0.0
        self._last_propagated: Optional[int] = None
        self._last_problem = ("", 0.0)
        self.last_suggestion_result = None
        self.thumbnails = ThumbnailCache(project)
        self.backends: list[SegmentBackend] = available_backends()

        self.canvas = Canvas(project, self)
        self.timeline = Timeline(project.labels, project.workspace.info.get("fps"), self)
        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.canvas, 1)
        column.addWidget(self.timeline)
        self.setCentralWidget(central)

        self.objects = ObjectsPanel(project, self)
        self.references_panel = ReferencesPanel(project, self.thumbnails, self)
        self.candidates_panel = CandidatesPanel(project, self.thumbnails, self)
        self.memory_panel = MemoryPanel(project, self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.references_panel, "References")
        self.tabs.addTab(self.candidates_panel, "Candidates")
        self.tabs.addTab(self.memory_panel, "Memory")
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.objects)
        side_layout.addWidget(self.tabs, 1)
        dock = QDockWidget("Project", self)
        dock.setObjectName("projectDock")
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        dock.setWidget(side)
        dock.setTitleBarWidget(QWidget(dock))
        dock.setMinimumWidth(370)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)
        self.dock = dock

        self.actions = create_actions(self, self._handlers())
        self._build_toolbar()
        self._build_menus()
        self._build_statusbar()
        self._connect()
        self._restore()
        self._filtering = True
        QApplication.instance().installEventFilter(self)

    # ------------------------------------------------------------------ construction
    def _handlers(self) -> dict[str, Callable]:
        return {
            "prev_frame": lambda: self.goto(self.current - 1),
            "next_frame": lambda: self.goto(self.current + 1),
            "back_10": lambda: self.goto(self.current - 10),
            "forward_10": lambda: self.goto(self.current + 10),
            "first_frame": lambda: self.goto(0),
            "last_frame": lambda: self.goto(len(self.project) - 1),
            "prev_reference": lambda: self._jump_in(self.project.references, -1),
            "next_reference": lambda: self._jump_in(self.project.references, +1),
            "next_suggestion": lambda: self._jump_suggestion(+1),
            "prev_suggestion": lambda: self._jump_suggestion(-1),
            "toggle_pause": self.toggle_pause,
            "tool_brush": lambda on: on and self.set_tool("brush"),
            "tool_eraser": lambda on: on and self.set_tool("eraser"),
            "tool_polygon": lambda on: on and self.set_tool("polygon"),
            "tool_lasso": lambda on: on and self.set_tool("lasso"),
            "tool_segment": lambda on: on and self.set_tool("segment"),
            "brush_smaller": lambda: self.set_brush_size(max(1, int(round(self.canvas.brush_size / 1.25)))),
            "brush_larger": lambda: self.set_brush_size(max(self.canvas.brush_size + 1,
                                                             int(round(self.canvas.brush_size * 1.25)))),
            "select_object": self.select_object,
            "undo": self.undo,
            "redo": self.redo,
            "clear_object": self.clear_object,
            "accept": self.accept_shape,
            "remove_point": lambda: self.canvas.tool.remove_point(),
            "cancel": self.cancel,
            "save_reference": self.save_reference,
            "delete_reference": self.delete_reference,
            "propagate_forward": lambda: self.propagate("forward"),
            "propagate_backward": lambda: self.propagate("backward"),
            "propagate_full": lambda: self.propagate("full"),
            "suggest": self.suggest,
            "cycle_overlay": self.cycle_overlay,
            "toggle_mask": lambda on: self.set_mask_visible(on),
            "zoom_fit": self.canvas.fit,
            "zoom_actual": lambda: self.canvas.set_zoom(1.0),
            "zoom_in": lambda: self.canvas.zoom_by(1.25),
            "zoom_out": lambda: self.canvas.zoom_by(1 / 1.25),
            "help": self.show_help,
            "save": self.save_all,
            "export": self.export,
            "quit": self.close,
        }

    def _build_toolbar(self) -> None:
        tools = QToolBar("Tools", self)
        tools.setObjectName("toolsBar")
        tools.setMovable(False)
        tools.setToolButtonStyle(Qt.ToolButtonTextUnderIcon)
        tools.setIconSize(QSize(22, 22))
        self.addToolBar(Qt.LeftToolBarArea, tools)
        group = QActionGroup(self)
        group.setExclusive(True)
        for name in TOOLS:
            action = self.actions[f"tool_{name}"]
            action.setIcon(icon(_TOOL_ICONS[name]))
            action.setIconText(_TOOL_TEXT[name])
            group.addAction(action)
            tools.addAction(action)
        self.tool_group = group

        bar = QToolBar("Options", self)
        bar.setObjectName("optionsBar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.addToolBar(Qt.TopToolBarArea, bar)
        for name in ("undo", "redo"):
            self.actions[name].setIcon(icon(name))
            bar.addAction(self.actions[name])
            bar.widgetForAction(self.actions[name]).setToolButtonStyle(Qt.ToolButtonIconOnly)
        bar.addSeparator()
        self.size_label = QLabel(" Size ", self)
        bar.addWidget(self.size_label)
        self.size_slider = QSlider(Qt.Horizontal, self)
        self.size_slider.setRange(1, 150)
        self.size_slider.setFixedWidth(110)
        self.size_slider.setToolTip("Brush / eraser size in image pixels ([ and ])")
        self.size_box = QSpinBox(self)
        self.size_box.setRange(1, 500)
        self.size_box.setSuffix(" px")
        self.size_box.setToolTip(self.size_slider.toolTip())
        self.size_slider.valueChanged.connect(self.set_brush_size)
        self.size_box.valueChanged.connect(self.set_brush_size)
        bar.addWidget(self.size_slider)
        bar.addWidget(self.size_box)
        self.backend_box = QComboBox(self)
        for backend in self.backends:
            self.backend_box.addItem(backend.name)
        self.backend_box.setToolTip("Click-to-segment method (Segment Anything when installed with a checkpoint)")
        self.backend_box.currentIndexChanged.connect(self._backend_changed)
        self.segment_mode_box = QComboBox(self)
        self.segment_mode_box.setToolTip("Box: drag a box around the object. Strokes: left = object, right = "
                                         "background. Clicks: left = object, right = background.")
        self.segment_mode_box.currentIndexChanged.connect(self._segment_mode_changed)
        self.backend_action = bar.addWidget(self.backend_box)
        self.segment_mode_action = bar.addWidget(self.segment_mode_box)
        bar.addSeparator()
        self.overlay_box = QComboBox(self)
        for mode in OVERLAY_MODES:
            self.overlay_box.addItem(OVERLAY_LABELS[mode], mode)
        self.overlay_box.setToolTip(f"How the mask is drawn ({shortcut('cycle_overlay').key_label} cycles)")
        self.overlay_box.currentIndexChanged.connect(lambda i: self.set_overlay_mode(self.overlay_box.itemData(i)))
        self.opacity_slider = QSlider(Qt.Horizontal, self)
        self.opacity_slider.setRange(5, 95)
        self.opacity_slider.setFixedWidth(80)
        self.opacity_slider.setToolTip("Overlay opacity")
        self.opacity_slider.valueChanged.connect(lambda v: self.set_opacity(v / 100.0))
        bar.addWidget(self.overlay_box)
        bar.addWidget(self.opacity_slider)
        self.actions["toggle_mask"].setIconText("Mask")
        bar.addAction(self.actions["toggle_mask"])
        spacer = QWidget(self)
        spacer.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        bar.addWidget(spacer)
        for name, glyph, text in (("propagate_backward", "backward", "Backward"),
                                  ("propagate_forward", "forward", "Forward"),
                                  ("propagate_full", "full", "Whole shot")):
            action = self.actions[name]
            action.setIcon(icon(glyph))
            action.setIconText(text)
        self.pause_action = QAction(icon("pause"), "Pause", self)
        self.pause_action.setCheckable(True)
        self.pause_action.setToolTip("Pause / resume the propagation (Space)")
        self.pause_action.triggered.connect(lambda _c: self.toggle_pause())
        self.stop_action = QAction(icon("stop"), "Stop", self)
        self.stop_action.setToolTip("Stop the running job (Esc); finished frames are kept")
        self.stop_action.triggered.connect(self.stop_job)
        self.timeline.add_actions([self.actions["propagate_backward"], self.actions["propagate_forward"],
                                   self.actions["propagate_full"], None, self.pause_action, self.stop_action],
                                  icon_only=(self.pause_action, self.stop_action))
        self.actions["save_reference"].setIcon(icon("reference"))
        self.actions["save_reference"].setIconText("Save reference")
        bar.addAction(self.actions["save_reference"])
        bar.addSeparator()
        self.actions["suggest"].setIcon(icon("suggest"))
        self.actions["suggest"].setIconText("Suggest frames")
        bar.addAction(self.actions["suggest"])
        self.actions["export"].setIcon(icon("export"))
        self.actions["export"].setIconText("Export")
        bar.addAction(self.actions["export"])

    def _build_menus(self) -> None:
        menus = {
            "&File": ["save", "export", None, "quit"],
            "&Edit": ["undo", "redo", None, "save_reference", "delete_reference", "clear_object", None,
                      "tool_brush", "tool_eraser", "tool_polygon", "tool_lasso", "tool_segment", None,
                      "brush_smaller", "brush_larger"],
            "&Frame": ["prev_frame", "next_frame", "back_10", "forward_10", "first_frame", "last_frame", None,
                       "prev_reference", "next_reference", "prev_suggestion", "next_suggestion"],
            "&Propagate": ["propagate_forward", "propagate_backward", "propagate_full", None, "suggest"],
            "&View": ["cycle_overlay", "toggle_mask", None, "zoom_fit", "zoom_actual", "zoom_in", "zoom_out"],
            "&Help": ["help"],
        }
        bar = self.menuBar()
        for title, names in menus.items():
            menu = bar.addMenu(title)
            for name in names:
                if name is None:
                    menu.addSeparator()
                else:
                    menu.addAction(self.actions[name])
            if title == "&Propagate":
                menu.insertAction(self.actions["suggest"], self.pause_action)
                menu.insertAction(self.actions["suggest"], self.stop_action)

    def _build_statusbar(self) -> None:
        status = self.statusBar()
        self.job_label = QLabel(self)
        self.progress = QProgressBar(self)
        self.progress.setFixedWidth(220)
        self.progress.setVisible(False)
        self.cursor_label = QLabel(self)
        self.cursor_label.setMinimumWidth(190)
        self.zoom_label = QLabel(self)
        self.model_label = QLabel(self)
        self.saved_label = QLabel("✓ saved", self)
        self.saved_label.setToolTip(f"Every edit is written to {self.project.workspace.path} as you work")
        status.addPermanentWidget(self.job_label)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cursor_label)
        status.addPermanentWidget(self.zoom_label)
        status.addPermanentWidget(self.model_label)
        status.addPermanentWidget(self.saved_label)

    def _connect(self) -> None:
        p = self.project
        p.maskChanged.connect(self._mask_changed)
        p.referencesChanged.connect(self._references_changed)
        p.suggestionsChanged.connect(self._suggestions_changed)
        p.objectsChanged.connect(self._objects_changed)
        p.settingsChanged.connect(self._settings_changed)
        p.frameRequested.connect(self.goto)
        p.problem.connect(self.report_problem)
        p.undo_stack.canUndoChanged.connect(self._undo_state_changed)
        p.undo_stack.canRedoChanged.connect(self._undo_state_changed)
        p.undo_stack.indexChanged.connect(self._undo_state_changed)
        self.timeline.frameRequested.connect(self.goto)
        self.canvas.cursorMoved.connect(self._cursor_moved)
        self.canvas.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.canvas.objectPicked.connect(self.select_object)
        self.canvas.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.objects.objectSelected.connect(self.select_object)
        self.objects.addRequested.connect(self.add_object)
        self.references_panel.jumpRequested.connect(self.goto)
        self.references_panel.saveRequested.connect(self.save_reference)
        self.references_panel.deleteRequested.connect(self._delete_reference_confirmed)
        self.candidates_panel.suggestRequested.connect(self.suggest)
        self.candidates_panel.cancelRequested.connect(self.stop_job)
        self.candidates_panel.jumpRequested.connect(self.goto)
        self.memory_panel.clearRequested.connect(self._clear_memory)

    def _restore(self) -> None:
        s = self.project.settings
        self.canvas.segment_backend = self.backends[0] if self.backends else None
        self._fill_segment_modes()
        mode_index = self.segment_mode_box.findData(s.segment_mode)
        if mode_index >= 0:
            self.segment_mode_box.setCurrentIndex(mode_index)
        self.set_brush_size(s.brush_size)
        self.overlay_box.setCurrentIndex(OVERLAY_MODES.index(s.overlay_mode))
        self.opacity_slider.setValue(int(round(s.opacity * 100)))
        self.canvas.set_overlay(s.overlay_mode, s.opacity, s.show_mask)
        self.actions["toggle_mask"].setChecked(s.show_mask)
        self.actions[f"tool_{s.tool}"].setChecked(True)
        self.set_tool(s.tool)
        self.select_object(s.current_object)
        self.timeline.set_references(self.project.references)
        self.timeline.set_suggestions(s.suggestions)
        self.timeline.set_masked(self.project.masked_frames)
        self.model_label.setText(self.project.engine.status)
        self._show(s.current_frame)
        self._update_enabled()
        self._update_undo_text()
        self.statusBar().showMessage("Paint with the brush (B), save the frame as a reference (R), propagate (F); "
                                     "F1 lists every shortcut.", 15000)
        if self.project.problems:
            QTimer.singleShot(0, lambda: self.report_problem(self.project.problems[-1]))

    # ------------------------------------------------------------------ frames
    @property
    def current(self) -> int:
        """The frame on screen."""
        return self.canvas.frame_index

    def goto(self, index: int) -> None:
        """Show frame `index` (clamped); a manual jump during a propagation stops following it."""
        if self.job == "propagation":
            self._following = False
        self._show(index)

    def _show(self, index: int) -> None:
        index = max(0, min(len(self.project) - 1, int(index)))
        if index == self.current:
            return
        self.canvas.show_frame(index)
        self.timeline.set_current(index)
        self.project.update_view(current_frame=index)
        self.references_panel.select_frame(index)
        self._frame_info_changed()

    def _frame_info_changed(self) -> None:
        index = self.current
        self.canvas.badge = "REFERENCE" if self.project.is_reference(index) else ""
        if index in self.project.settings.suggestions:
            rank = self.project.settings.suggestions.index(index) + 1
            self.canvas.badge = (self.canvas.badge + "  ·  " if self.canvas.badge else "") + f"SUGGESTED #{rank}"
        self.canvas.update()
        self._update_areas()

    def _update_areas(self) -> None:
        mask = self.canvas.work_mask
        counts = np.bincount(mask.ravel(), minlength=self.project.num_objects + 1)
        total = float(mask.size)
        self.objects.set_areas({k: 100.0 * counts[k] / total for k in range(1, len(counts)) if counts[k]})

    def _jump_in(self, frames: list[int], step: int) -> None:
        frames = sorted(frames)
        if not frames:
            self.statusBar().showMessage("no frames to jump to", 3000)
            return
        if step > 0:
            after = [f for f in frames if f > self.current]
            self.goto(after[0] if after else frames[0])
        else:
            before = [f for f in frames if f < self.current]
            self.goto(before[-1] if before else frames[-1])

    def _jump_suggestion(self, step: int) -> None:
        suggestions = self.project.settings.suggestions
        if not suggestions:
            self.statusBar().showMessage("no suggested frames yet (Ctrl+G suggests some)", 4000)
            return
        if self.current in suggestions:
            i = (suggestions.index(self.current) + step) % len(suggestions)
        else:
            i = 0 if step > 0 else len(suggestions) - 1
        self.goto(suggestions[i])

    # ------------------------------------------------------------------ tools and view
    def set_tool(self, name: str) -> None:
        """Activate a tool."""
        self.canvas.set_tool(name)
        self.actions[f"tool_{name}"].setChecked(True)
        segment = name == "segment"
        self.backend_action.setVisible(segment)
        self.segment_mode_action.setVisible(segment)
        self.project.update_view(tool=name)
        if segment and self.canvas.segment_backend is not None:
            self.statusBar().showMessage(f"{self.canvas.segment_backend.name}: "
                                         f"{self.segment_mode_box.toolTip()}", 6000)

    def _fill_segment_modes(self) -> None:
        backend = self.canvas.segment_backend
        current = self.segment_mode_box.currentData() or self.project.settings.segment_mode
        self.segment_mode_box.blockSignals(True)
        self.segment_mode_box.clear()
        for mode in (backend.modes if backend is not None else ()):
            self.segment_mode_box.addItem(_SEGMENT_MODES[mode], mode)
        index = self.segment_mode_box.findData(current)
        self.segment_mode_box.setCurrentIndex(max(0, index))
        self.segment_mode_box.blockSignals(False)
        self.canvas.segment_mode = self.segment_mode_box.currentData() or "box"

    def _backend_changed(self, index: int) -> None:
        if 0 <= index < len(self.backends):
            self.canvas.tool.reset()
            self.canvas.segment_backend = self.backends[index]
            self._fill_segment_modes()

    def _segment_mode_changed(self, _index: int) -> None:
        mode = self.segment_mode_box.currentData()
        if mode:
            self.canvas.tool.reset()
            self.canvas.segment_mode = mode
            self.project.update_view(segment_mode=mode)

    def set_brush_size(self, size: int) -> None:
        """Brush / eraser diameter in image pixels."""
        size = max(1, min(500, int(size)))
        self.canvas.brush_size = size
        for widget in (self.size_slider, self.size_box):
            widget.blockSignals(True)
            widget.setValue(size)
            widget.blockSignals(False)
        self.project.update_view(brush_size=size)
        self.canvas.update()

    def set_overlay_mode(self, mode: str) -> None:
        """Colour blend, fade background, or object only."""
        self.canvas.set_overlay(mode=mode)
        index = OVERLAY_MODES.index(mode)
        if self.overlay_box.currentIndex() != index:
            self.overlay_box.setCurrentIndex(index)
        self.project.update_view(overlay_mode=mode)

    def cycle_overlay(self) -> None:
        """Next overlay mode."""
        i = OVERLAY_MODES.index(self.canvas.overlay_mode)
        self.set_overlay_mode(OVERLAY_MODES[(i + 1) % len(OVERLAY_MODES)])
        self.statusBar().showMessage(f"overlay: {OVERLAY_LABELS[self.canvas.overlay_mode]}", 2000)

    def set_opacity(self, opacity: float) -> None:
        """Overlay opacity (blend mode)."""
        self.canvas.set_overlay(opacity=opacity)
        self.project.update_view(opacity=round(float(opacity), 3))

    def set_mask_visible(self, visible: bool) -> None:
        """Show or hide the mask overlay."""
        self.canvas.set_overlay(visible=bool(visible))
        self.actions["toggle_mask"].setChecked(bool(visible))
        self.project.update_view(show_mask=bool(visible))

    # ------------------------------------------------------------------ objects
    def select_object(self, object_id: int) -> None:
        """Make `object_id` (1..K) the object tools paint."""
        if not 1 <= object_id <= self.project.num_objects:
            self.statusBar().showMessage(f"there is no object {object_id}; add objects in the object list", 4000)
            return
        if object_id != self.canvas.object_id:
            self.canvas.tool.reset()
        self.canvas.object_id = object_id
        self.objects.set_current(object_id)
        self.project.update_view(current_object=object_id)
        self.canvas.update()

    def add_object(self) -> None:
        """Add an object and select it."""
        try:
            new = self.project.add_object()
        except InputError as exc:
            self.report_problem(str(exc))
            return
        self.select_object(new)

    def _objects_changed(self) -> None:
        self.objects.rebuild()
        self.objects.set_current(self.canvas.object_id)
        self._update_areas()

    # ------------------------------------------------------------------ edits
    def undo(self) -> None:
        """Undo the last edit."""
        if self.job == "propagation":
            self.statusBar().showMessage("undo is paused while the propagation runs", 3000)
            return
        self.canvas.tool.reset()
        self.project.undo_stack.undo()

    def redo(self) -> None:
        """Redo the edit undone last."""
        if self.job == "propagation":
            return
        self.canvas.tool.reset()
        self.project.undo_stack.redo()

    def clear_object(self) -> None:
        """Remove the current object from the current frame."""
        if self.job == "propagation":
            return
        if not self.project.clear_object(self.current, self.canvas.object_id):
            self.statusBar().showMessage(f"object {self.canvas.object_id} is not on this frame", 3000)

    def accept_shape(self) -> None:
        """Enter: finish the polygon / keep the segmentation."""
        self.canvas.tool.accept()

    def cancel(self) -> None:
        """Esc: cancel the shape being drawn, else stop the running job, else stop playback."""
        if self.canvas.tool.cancel():
            return
        if self.job is not None:
            self.stop_job()
        elif self.timeline.playing:
            self.timeline.stop()

    def save_reference(self) -> None:
        """Save the current frame as a reference."""
        if self.job == "propagation":
            self.statusBar().showMessage("references can be changed when the propagation has finished", 4000)
            return
        self.canvas.tool.accept()
        try:
            message = self.project.save_reference(self.current)
        except InputError as exc:
            self.statusBar().showMessage(str(exc), 6000)
            return
        self.statusBar().showMessage(message, 4000)

    def delete_reference(self) -> None:
        """Delete the current frame's reference (asks first)."""
        if self.job == "propagation":
            return
        if not self.project.is_reference(self.current):
            self.statusBar().showMessage("this frame is not a reference", 3000)
            return
        self.references_panel.confirm_delete(self.current)

    def _delete_reference_confirmed(self, frame: int) -> None:
        if self.job == "propagation":
            self.statusBar().showMessage("references can be changed when the propagation has finished", 4000)
            return
        self.project.delete_reference(frame)
        self.statusBar().showMessage(f"{self.project.labels[frame]} is no longer a reference (Ctrl+Z undoes)", 4000)

    # ------------------------------------------------------------------ project signals
    def _mask_changed(self, index: int) -> None:
        if index == self.current:
            self.canvas.reload_mask()
            self._update_areas()
        if self.project.has_mask(index):
            self.timeline.add_masked(index)
        else:
            self.timeline.set_masked(self.project.masked_frames)
        if self.project.is_reference(index):
            self.references_panel.update_frame(index)
        self._mark_saved()

    def _references_changed(self) -> None:
        self.timeline.set_references(self.project.references)
        self.references_panel.refresh()
        self.references_panel.select_frame(self.current)
        self._frame_info_changed()
        self._mark_saved()

    def _suggestions_changed(self) -> None:
        self.timeline.set_suggestions(self.project.settings.suggestions)
        self.candidates_panel.refresh()
        self._frame_info_changed()

    def _settings_changed(self) -> None:
        self.memory_panel.load_settings()
        if self.project.engine.session is None:
            self.memory_panel.show_stats(None)
        self._mark_saved()

    def _mark_saved(self) -> None:
        unsaved = sorted(self.project.unsaved)
        if unsaved:
            self.saved_label.setText("⚠ not saved")
            self.saved_label.setStyleSheet("color: #ff7b72;")
            self.saved_label.setToolTip("The last write failed for: " + ", ".join(unsaved[:10]) +
                                        (" …" if len(unsaved) > 10 else "") + ". They are kept in memory; the next "
                                        "edit of each writes it again.")
        else:
            self.saved_label.setText("✓ saved")
            self.saved_label.setStyleSheet("")
            self.saved_label.setToolTip(f"Every edit is written to {self.project.workspace.path} as you work")

    def report_problem(self, message: str) -> None:
        """Something could not be saved or read: tell the user (a dialog at most every few seconds)."""
        self._mark_saved()
        self.statusBar().showMessage(message, 10000)
        last, when = self._last_problem
        if self.interactive and (message != last or time.monotonic() - when > 10):
            self._last_problem = (message, time.monotonic())
            QMessageBox.warning(self, "xmempp", message)

    def _cursor_moved(self, info) -> None:
        if info is None:
            self.cursor_label.setText("")
            return
        x, y, object_id = info
        self.cursor_label.setText(f"x {x}  y {y}" + (f"  ·  object {object_id}" if object_id else ""))

    def _undo_state_changed(self, *_args) -> None:
        if sip.isdeleted(self) or sip.isdeleted(self.project.undo_stack):
            return  # the window or the project is being torn down
        self._update_enabled()
        self._update_undo_text()

    def _update_undo_text(self) -> None:
        stack = self.project.undo_stack
        self.actions["undo"].setToolTip(f"Undo {stack.undoText()} (Ctrl+Z)" if stack.canUndo() else "Nothing to undo")
        self.actions["redo"].setToolTip(f"Redo {stack.redoText()} (Ctrl+Shift+Z)" if stack.canRedo()
                                        else "Nothing to redo")

    def _update_enabled(self) -> None:
        running = self.job is not None
        propagating = self.job == "propagation"
        stack = self.project.undo_stack
        self.actions["undo"].setEnabled(stack.canUndo() and not propagating)
        self.actions["redo"].setEnabled(stack.canRedo() and not propagating)
        for name in ("save_reference", "delete_reference", "clear_object"):
            self.actions[name].setEnabled(not propagating)
        for name in ("propagate_forward", "propagate_backward", "propagate_full", "suggest", "export"):
            self.actions[name].setEnabled(not running)
        self.pause_action.setEnabled(propagating)
        self.stop_action.setEnabled(running)
        self.references_panel.save_button.setEnabled(not propagating)
        self.memory_panel.settings_box.setEnabled(not propagating)
        self.memory_panel.clear_button.setEnabled(not running)
        self.canvas.set_editable(not propagating)

    # ------------------------------------------------------------------ weights
    def show_weights_error(self, message: str) -> None:
        """The clear message about missing / unusable weights."""
        QMessageBox.critical(self, "XMem weights needed", message)
        self.model_label.setText(self.project.engine.status)

    def _weights_ready(self) -> bool:
        try:
            self.project.engine.check_weights()
        except WeightsError as exc:
            self.show_weights_error(str(exc))
            return False
        return True

    def _usable_references(self) -> list[int]:
        return [f for f in self.project.references if self.project.mask(f).any()]

    # ------------------------------------------------------------------ propagation
    def propagate(self, direction: str, limit: Optional[int] = None) -> bool:
        """Start a propagation ("forward", "backward", "full") in a worker thread.

        Arguments:
            direction: which way.
            limit: step at most this many frames per pass (None: to the end of the shot).
        Returns:
            True when it started.
        """
        if self.job is not None:
            self.statusBar().showMessage(f"wait for the {self.job} to finish (Esc stops it)", 4000)
            return False
        self.canvas.tool.accept()
        refs = self._usable_references()
        if not refs:
            QMessageBox.information(self, "No reference yet",
                                    "Paint the object on a frame and save it as a reference (R) before "
                                    "propagating.")
            return False
        if not self._weights_ready():
            return False
        plan = plan_propagation(direction, self.current, len(self.project), refs, limit)
        if not plan.passes:
            self.statusBar().showMessage("nothing to propagate from here", 4000)
            return False
        touched = {f for frames in plan.passes for f in frames}
        edited = sorted(f for f in self.project.settings.edited if f in touched and not self.project.is_reference(f)
                        and self.project.mask(f).any())
        if edited and not self._confirm_overwrite(edited):
            return False
        project = self.project
        worker = PropagationWorker(project.engine, project.workspace, plan, project.reference_snapshot(),
                                   project.config, project.settings.mode, project.palette)
        worker.frameDone.connect(self._propagated_frame)
        worker.progress.connect(self._job_progress)
        worker.memoryStats.connect(self.memory_panel.show_stats)
        worker.status.connect(self._job_status)
        worker.failed.connect(lambda message, weights: self._job_failed("Propagation", message, weights))
        worker.finished.connect(lambda outcome, p=plan: self._propagation_finished(outcome, p))
        self._following = True
        self._last_follow = 0.0
        self._last_propagated = None
        self.timeline.set_running(plan.span)
        self._start_job("propagation", worker, plan.total)
        return True

    def _confirm_overwrite(self, frames: list[int]) -> bool:
        names = ", ".join(self.project.labels[f] for f in frames[:6]) + (" …" if len(frames) > 6 else "")
        box = QMessageBox(QMessageBox.Question, "Edited frames",
                          f"You edited {len(frames)} frame(s) that are not references ({names}). The propagation "
                          f"would replace their masks.\n\nSave them as references first?", parent=self)
        save = box.addButton("Save as references", QMessageBox.AcceptRole)
        box.addButton("Replace them", QMessageBox.DestructiveRole)
        cancel = box.addButton(QMessageBox.Cancel)
        box.setDefaultButton(save)
        box.exec_()
        clicked = box.clickedButton()
        if clicked is cancel:
            return False
        if clicked is save:
            for frame in frames:
                self.project.save_reference(frame)
        return True

    def _propagated_frame(self, index: int) -> None:
        self.project.accept_propagated(index)
        now = time.monotonic()
        if self._following and now - self._last_follow >= 0.08:  # at most ~12 redraws a second
            self._last_follow = now
            self._show(index)
        self._last_propagated = index

    def _propagation_finished(self, outcome, plan) -> None:
        if self._following and self._last_propagated is not None:
            self._show(self._last_propagated)
        self.project.finish_propagation(outcome.changes, plan.text)
        self.timeline.set_running(None)
        self._end_job()
        if outcome.completed:
            self.statusBar().showMessage(f"{plan.text.lower()}: {len(outcome.changes)} masks written and saved", 6000)
        elif outcome.frames:
            self.statusBar().showMessage(f"stopped after {outcome.frames} frames; their masks are saved "
                                         f"(Ctrl+Z undoes them)", 6000)
        self.memory_panel.show_stats(self.project.engine.memory_stats())
        self.references_panel.refresh()

    def toggle_pause(self) -> None:
        """Space: pause / resume a propagation, or play / stop playback."""
        worker = self.worker
        if self.job == "propagation" and isinstance(worker, PropagationWorker):
            if worker.paused:
                worker.resume()
                self.pause_action.setChecked(False)
                self.job_label.setText("propagating…")
            else:
                worker.pause()
                self.pause_action.setChecked(True)
                self.job_label.setText("paused — Space continues")
            return
        self.pause_action.setChecked(False)
        if self.job is None:
            self.timeline.toggle_play()

    def stop_job(self) -> None:
        """Stop the running job after its current frame."""
        worker = self.worker
        if worker is not None and hasattr(worker, "stop"):
            worker.stop()
            self.job_label.setText("stopping…")

    def _clear_memory(self) -> None:
        if self.job is not None:
            return
        self.project.engine.clear_memory()
        self.memory_panel.show_stats(self.project.engine.memory_stats())

    # ------------------------------------------------------------------ suggestions
    def suggest(self) -> bool:
        """Run the candidate selector in a worker thread. Returns True when it started."""
        if self.job is not None:
            self.statusBar().showMessage(f"wait for the {self.job} to finish (Esc stops it)", 4000)
            return False
        refs = self._usable_references()
        if not refs:
            QMessageBox.information(self, "No reference yet",
                                    "Save at least one reference (paint, then R) before asking for suggestions.")
            return False
        if not self._weights_ready():
            return False
        project = self.project
        s = project.settings
        references = {f: project.mask(f).copy() for f in refs}
        masked = project.masked_frames
        # with a mask on every frame the selector uses them; otherwise it propagates the references first
        predicted = SavedMasks(project.workspace, masked, project.engine) if len(masked) == len(project) else None

        worker = SuggestWorker(project.engine, project.workspace, references, s.k, s.alpha, s.min_mask_percent,
                               project.config, s.mode, predicted)
        worker.progress.connect(self.candidates_panel.set_progress)
        worker.progress.connect(lambda stage, done, total: self._job_progress(done, total))
        worker.failed.connect(lambda message, weights: self._job_failed("Suggestion", message, weights))
        worker.finished.connect(self._suggestion_finished)
        self.tabs.setCurrentWidget(self.candidates_panel)
        self.candidates_panel.set_running(True)
        self._start_job("suggestion", worker, 0)
        return True

    def _suggestion_finished(self, result) -> None:
        self.candidates_panel.set_running(False)
        self._end_job()
        self.last_suggestion_result = result
        if result is None:
            self.candidates_panel.set_note("Stopped." if not self.candidates_panel.note.text() else
                                           self.candidates_panel.note.text())
            return
        self.project.set_suggestions(list(result.chosen))
        names = ", ".join(self.project.labels[f] for f in result.chosen) or "none"
        note = f"Annotate next: {names}."
        if result.reason:
            note += f"\n{result.reason}"
        self.candidates_panel.set_note(note)
        self.statusBar().showMessage(f"suggested {len(result.chosen)} frame(s); N jumps to them", 6000)

    # ------------------------------------------------------------------ jobs
    def _start_job(self, job: str, worker: QObject, total: int) -> None:
        self.job = job
        self.worker = worker
        self.progress.setVisible(True)
        self.progress.setRange(0, max(0, total))
        self.progress.setValue(0)
        self.job_label.setText(f"{job}…")
        self._update_enabled()
        self.thread = start_worker(worker, self)

    def _end_job(self) -> None:
        self.job = None
        self.worker = None
        self.thread = None
        self.progress.setVisible(False)
        self.job_label.setText("")
        self.pause_action.setChecked(False)
        self.model_label.setText(self.project.engine.status)
        self._update_enabled()

    def _job_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _job_status(self, text: str) -> None:
        self.job_label.setText(text)
        self.model_label.setText(self.project.engine.status)

    def _job_failed(self, what: str, message: str, weights: bool) -> None:
        if weights:
            self.show_weights_error(message)
        else:
            QMessageBox.warning(self, f"{what} failed", message)

    def wait_for_job(self, timeout_ms: int = 120000) -> None:
        """Block until the running job's thread ends (tests, closing)."""
        thread = self.thread
        if thread is not None:
            thread.wait(timeout_ms)
        QApplication.processEvents()

    # ------------------------------------------------------------------ dialogs
    def show_help(self) -> None:
        """The keyboard shortcut list."""
        HelpDialog(self).exec_()

    def export(self) -> None:
        """The export dialog."""
        if self.job is not None:
            self.statusBar().showMessage(f"wait for the {self.job} to finish before exporting", 4000)
            return
        dialog = ExportDialog(self.project, self, on_weights_error=self.show_weights_error)
        dialog.exec_()

    def save_all(self) -> None:
        """Write the view settings now (everything else is already saved)."""
        if self.project.save_settings():
            self.statusBar().showMessage(f"everything is saved in {self.project.workspace.path}", 4000)

    # ------------------------------------------------------------------ Space key and closing
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if not getattr(self, "_filtering", False):
            return False
        kind = event.type()
        if kind in (QEvent.KeyPress, QEvent.KeyRelease) and event.key() == _SPACE_KEY:
            if event.isAutoRepeat() or not self._owns(obj):
                return event.isAutoRepeat() and self._owns(obj) and not self._typing()
            if self._typing():
                return False
            if kind == QEvent.KeyPress:
                self.canvas.space_down()
            elif not self.canvas.space_up():
                self.toggle_pause()
            return True
        return super().eventFilter(obj, event)

    def _owns(self, obj: QObject) -> bool:
        if QApplication.activeModalWidget() is not None:
            return False
        return isinstance(obj, QWidget) and obj.window() is self

    @staticmethod
    def _typing() -> bool:
        focus = QApplication.focusWidget()
        return isinstance(focus, (QLineEdit, QAbstractSpinBox))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_docks_sized", False):
            self._docks_sized = True
            self.resizeDocks([self.dock], [400], Qt.Horizontal)

    def closeEvent(self, event) -> None:
        if self.worker is not None and hasattr(self.worker, "stop"):
            self.worker.stop()
            self.wait_for_job(60000)
        self.project.save_settings()
        self._filtering = False
        QApplication.instance().removeEventFilter(self)
        super().closeEvent(event)


_SPACE_KEY = QKeySequence(shortcut("toggle_pause").keys[0])[0]
