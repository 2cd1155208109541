"""The main window's actions, bars and dock: what each shortcut does, tools, options and
propagation buttons, menus, status bar, the side panels.

Each function builds its part on the window and stores the widgets the window updates later
(`size_slider`, `pause_action`, `job_label`, ...) as attributes; the window only wires them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PyQt5.QtCore import QSize, Qt
from PyQt5.QtWidgets import (QAction, QActionGroup, QComboBox, QDockWidget, QLabel, QProgressBar, QSizePolicy, QSlider,
                             QSpinBox, QTabWidget, QToolBar, QVBoxLayout, QWidget)

from .candidates_panel import CandidatesPanel
from .icons import icon
from .memory_panel import MemoryPanel
from .objects import ObjectsPanel
from .overlay import OVERLAY_LABELS, OVERLAY_MODES
from .references_panel import ReferencesPanel
from .settings import TOOLS
from .shortcuts import shortcut

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["action_handlers", "build_side_dock", "build_toolbar", "build_menus", "build_statusbar",
           "fill_segment_modes"]

_TOOL_ICONS = {"brush": "brush", "eraser": "eraser", "polygon": "polygon", "lasso": "lasso", "segment": "segment"}
_TOOL_TEXT = {"brush": "Brush", "eraser": "Eraser", "polygon": "Polygon", "lasso": "Lasso", "segment": "Segment"}
_SEGMENT_MODES = {"box": "Box", "strokes": "Strokes", "points": "Clicks"}


def action_handlers(window: "MainWindow") -> dict[str, Callable]:
    """What each named action (`shortcuts.SHORTCUTS`) does on the window."""
    return {
        "prev_frame": lambda: window.goto(window.current - 1),
        "next_frame": lambda: window.goto(window.current + 1),
        "back_10": lambda: window.goto(window.current - 10),
        "forward_10": lambda: window.goto(window.current + 10),
        "first_frame": lambda: window.goto(0),
        "last_frame": lambda: window.goto(len(window.project) - 1),
        "prev_reference": lambda: window.jump_in(window.project.references, -1),
        "next_reference": lambda: window.jump_in(window.project.references, +1),
        "next_suggestion": lambda: window.jump_suggestion(+1),
        "prev_suggestion": lambda: window.jump_suggestion(-1),
        "toggle_pause": window.toggle_pause,
        "tool_brush": lambda on: on and window.set_tool("brush"),
        "tool_eraser": lambda on: on and window.set_tool("eraser"),
        "tool_polygon": lambda on: on and window.set_tool("polygon"),
        "tool_lasso": lambda on: on and window.set_tool("lasso"),
        "tool_segment": lambda on: on and window.set_tool("segment"),
        "brush_smaller": lambda: window.set_brush_size(max(1, int(round(window.canvas.brush_size / 1.25)))),
        "brush_larger": lambda: window.set_brush_size(max(window.canvas.brush_size + 1,
                                                         int(round(window.canvas.brush_size * 1.25)))),
        "select_object": window.select_object,
        "undo": window.undo,
        "redo": window.redo,
        "clear_object": window.clear_object,
        "accept": window.accept_shape,
        "remove_point": lambda: window.canvas.tool.remove_point(),
        "cancel": window.cancel,
        "save_reference": window.save_reference,
        "delete_reference": window.delete_reference,
        "propagate_forward": lambda: window.propagate("forward"),
        "propagate_backward": lambda: window.propagate("backward"),
        "propagate_full": lambda: window.propagate("full"),
        "suggest": window.suggest,
        "cycle_overlay": window.cycle_overlay,
        "toggle_mask": lambda on: window.set_mask_visible(on),
        "zoom_fit": window.canvas.fit,
        "zoom_actual": lambda: window.canvas.set_zoom(1.0),
        "zoom_in": lambda: window.canvas.zoom_by(1.25),
        "zoom_out": lambda: window.canvas.zoom_by(1 / 1.25),
        "help": window.show_help,
        "save": window.save_all,
        "export": window.export,
        "quit": window.close,
    }


def build_toolbar(window: "MainWindow") -> None:
    """The tools bar (left), the options bar (top) and the propagation buttons under the timeline."""
    tools = QToolBar("Tools", window)
    tools.setObjectName("toolsBar")
    tools.setMovable(False)
    tools.setToolButtonStyle(Qt.ToolButtonTextUnderIcon)
    tools.setIconSize(QSize(22, 22))
    window.addToolBar(Qt.LeftToolBarArea, tools)
    group = QActionGroup(window)
    group.setExclusive(True)
    for name in TOOLS:
        action = window.actions[f"tool_{name}"]
        action.setIcon(icon(_TOOL_ICONS[name]))
        action.setIconText(_TOOL_TEXT[name])
        group.addAction(action)
        tools.addAction(action)
    window.tool_group = group

    bar = QToolBar("Options", window)
    bar.setObjectName("optionsBar")
    bar.setMovable(False)
    bar.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
    window.addToolBar(Qt.TopToolBarArea, bar)
    for name in ("undo", "redo"):
        window.actions[name].setIcon(icon(name))
        bar.addAction(window.actions[name])
        bar.widgetForAction(window.actions[name]).setToolButtonStyle(Qt.ToolButtonIconOnly)
    bar.addSeparator()
    window.size_label = QLabel(" Size ", window)
    bar.addWidget(window.size_label)
    window.size_slider = QSlider(Qt.Horizontal, window)
    window.size_slider.setRange(1, 150)
    window.size_slider.setFixedWidth(110)
    window.size_slider.setToolTip("Brush / eraser size in image pixels ([ and ])")
    window.size_box = QSpinBox(window)
    window.size_box.setRange(1, 500)
    window.size_box.setSuffix(" px")
    window.size_box.setToolTip(window.size_slider.toolTip())
    window.size_slider.valueChanged.connect(window.set_brush_size)
    window.size_box.valueChanged.connect(window.set_brush_size)
    bar.addWidget(window.size_slider)
    bar.addWidget(window.size_box)
    window.backend_box = QComboBox(window)
    for backend in window.backends:
        window.backend_box.addItem(backend.name)
    window.backend_box.setToolTip("Click-to-segment method (Segment Anything when installed with a checkpoint)")
    window.backend_box.currentIndexChanged.connect(lambda i: _backend_changed(window, i))
    window.segment_mode_box = QComboBox(window)
    window.segment_mode_box.setToolTip("Box: drag a box around the object. Strokes: left = object, right = "
                                     "background. Clicks: left = object, right = background.")
    window.segment_mode_box.currentIndexChanged.connect(lambda i: _segment_mode_changed(window, i))
    window.backend_action = bar.addWidget(window.backend_box)
    window.segment_mode_action = bar.addWidget(window.segment_mode_box)
    bar.addSeparator()
    window.overlay_box = QComboBox(window)
    for mode in OVERLAY_MODES:
        window.overlay_box.addItem(OVERLAY_LABELS[mode], mode)
    window.overlay_box.setToolTip(f"How the mask is drawn ({shortcut('cycle_overlay').key_label} cycles)")
    window.overlay_box.currentIndexChanged.connect(lambda i: window.set_overlay_mode(window.overlay_box.itemData(i)))
    window.opacity_slider = QSlider(Qt.Horizontal, window)
    window.opacity_slider.setRange(5, 95)
    window.opacity_slider.setFixedWidth(80)
    window.opacity_slider.setToolTip("Overlay opacity")
    window.opacity_slider.valueChanged.connect(lambda v: window.set_opacity(v / 100.0))
    bar.addWidget(window.overlay_box)
    bar.addWidget(window.opacity_slider)
    window.actions["toggle_mask"].setIconText("Mask")
    bar.addAction(window.actions["toggle_mask"])
    spacer = QWidget(window)
    spacer.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
    bar.addWidget(spacer)
    for name, glyph, text in (("propagate_backward", "backward", "Backward"),
                              ("propagate_forward", "forward", "Forward"),
                              ("propagate_full", "full", "Whole shot")):
        action = window.actions[name]
        action.setIcon(icon(glyph))
        action.setIconText(text)
    window.pause_action = QAction(icon("pause"), "Pause", window)
    window.pause_action.setCheckable(True)
    window.pause_action.setToolTip("Pause / resume the propagation (Space)")
    window.pause_action.triggered.connect(lambda _c: window.toggle_pause())
    window.stop_action = QAction(icon("stop"), "Stop", window)
    window.stop_action.setToolTip("Stop the running job (Esc); finished frames are kept")
    window.stop_action.triggered.connect(window.stop_job)
    window.timeline.add_actions([window.actions["propagate_backward"], window.actions["propagate_forward"],
                               window.actions["propagate_full"], None, window.pause_action, window.stop_action],
                              icon_only=(window.pause_action, window.stop_action))
    window.actions["save_reference"].setIcon(icon("reference"))
    window.actions["save_reference"].setIconText("Save reference")
    bar.addAction(window.actions["save_reference"])
    bar.addSeparator()
    window.actions["suggest"].setIcon(icon("suggest"))
    window.actions["suggest"].setIconText("Suggest frames")
    bar.addAction(window.actions["suggest"])
    window.actions["export"].setIcon(icon("export"))
    window.actions["export"].setIconText("Export")
    bar.addAction(window.actions["export"])

def fill_segment_modes(window: "MainWindow") -> None:
    """Offer the modes of the current click-to-segment backend (keeping the chosen one if it has it)."""
    backend = window.canvas.segment_backend
    current = window.segment_mode_box.currentData() or window.project.settings.segment_mode
    window.segment_mode_box.blockSignals(True)
    window.segment_mode_box.clear()
    for mode in (backend.modes if backend is not None else ()):
        window.segment_mode_box.addItem(_SEGMENT_MODES[mode], mode)
    index = window.segment_mode_box.findData(current)
    window.segment_mode_box.setCurrentIndex(max(0, index))
    window.segment_mode_box.blockSignals(False)
    window.canvas.segment_mode = window.segment_mode_box.currentData() or "box"

def _backend_changed(window: "MainWindow", index: int) -> None:
    if 0 <= index < len(window.backends):
        window.canvas.tool.reset()
        window.canvas.segment_backend = window.backends[index]
        fill_segment_modes(window)

def _segment_mode_changed(window: "MainWindow", _index: int) -> None:
    mode = window.segment_mode_box.currentData()
    if mode:
        window.canvas.tool.reset()
        window.canvas.segment_mode = mode
        window.project.update_view(segment_mode=mode)


def build_menus(window: "MainWindow") -> None:
    """The menu bar: every action, grouped."""
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
    bar = window.menuBar()
    for title, names in menus.items():
        menu = bar.addMenu(title)
        for name in names:
            if name is None:
                menu.addSeparator()
            else:
                menu.addAction(window.actions[name])
        if title == "&Propagate":
            menu.insertAction(window.actions["suggest"], window.pause_action)
            menu.insertAction(window.actions["suggest"], window.stop_action)

def build_statusbar(window: "MainWindow") -> None:
    """The status bar: job, progress, cursor, zoom, model and saved state."""
    status = window.statusBar()
    window.job_label = QLabel(window)
    window.progress = QProgressBar(window)
    window.progress.setFixedWidth(220)
    window.progress.setVisible(False)
    window.cursor_label = QLabel(window)
    window.cursor_label.setMinimumWidth(190)
    window.zoom_label = QLabel(window)
    window.model_label = QLabel(window)
    window.saved_label = QLabel("✓ saved", window)
    window.saved_label.setToolTip(f"Every edit is written to {window.project.workspace.path} as you work")
    status.addPermanentWidget(window.job_label)
    status.addPermanentWidget(window.progress)
    status.addPermanentWidget(window.cursor_label)
    status.addPermanentWidget(window.zoom_label)
    status.addPermanentWidget(window.model_label)
    status.addPermanentWidget(window.saved_label)


def build_side_dock(window: "MainWindow") -> None:
    """The right dock: objects above the References / Candidates / Memory tabs."""
    window.objects = ObjectsPanel(window.project, window)
    window.references_panel = ReferencesPanel(window.project, window.thumbnails, window)
    window.candidates_panel = CandidatesPanel(window.project, window.thumbnails, window)
    window.memory_panel = MemoryPanel(window.project, window)
    window.tabs = QTabWidget(window)
    window.tabs.addTab(window.references_panel, "References")
    window.tabs.addTab(window.candidates_panel, "Candidates")
    window.tabs.addTab(window.memory_panel, "Memory")
    side = QWidget(window)
    side_layout = QVBoxLayout(side)
    side_layout.setContentsMargins(0, 0, 0, 0)
    side_layout.addWidget(window.objects)
    side_layout.addWidget(window.tabs, 1)
    dock = QDockWidget("Project", window)
    dock.setObjectName("projectDock")
    dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
    dock.setWidget(side)
    dock.setTitleBarWidget(QWidget(dock))
    dock.setMinimumWidth(370)
    window.addDockWidget(Qt.RightDockWidgetArea, dock)
    window.dock = dock
