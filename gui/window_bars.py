"""The main window's bars and dock: tools, options and propagation buttons, menus, status bar, the side panels.

`build_widgets` builds them on the window and returns them as one typed `WindowWidgets` object;
the window keeps it as `window.ui`, and the controllers connect the widgets of their concern. The window is
its parent; `BarsParts` is what building needs of it besides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from PyQt5.QtCore import QSize, Qt
from PyQt5.QtWidgets import (
    QAction,
    QActionGroup,
    QComboBox,
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .candidates_panel import CandidatesPanel
from .elided_label import ElidedLabel
from .icons import icon
from .matte_view import COMPARE_LABELS, COMPARE_MODES, VIEW_LABELS, VIEW_MODES
from .memory_panel import MemoryPanel
from .message_bar import MessageBar
from .objects import ObjectsPanel
from .project import Project
from .references_panel import ReferencesPanel
from .segment_backends import SegmentBackend
from .settings import TOOLS
from .shortcuts import shortcut
from .thumbnails import ThumbnailCache
from .timeline import Timeline

__all__ = [
    "BRUSH_RANGE",
    "BRUSH_STEP",
    "SEGMENT_MODES",
    "SOFTNESS_STEP",
    "BarsParts",
    "WindowWidgets",
    "build_widgets",
]

_TOOL_ICONS = {
    "brush": "brush",
    "eraser": "eraser",
    "polygon": "polygon",
    "lasso": "lasso",
    "spline": "spline",
    "segment": "segment",
}
_TOOL_TEXT = {
    "brush": "Brush",
    "eraser": "Eraser",
    "polygon": "Polygon",
    "lasso": "Lasso",
    "spline": "Spline",
    "segment": "Segment",
}
SEGMENT_MODES = {"box": "Box", "strokes": "Strokes", "points": "Clicks"}

#: Brush diameter limits in image pixels (the spin box reaches further than the slider).
BRUSH_RANGE = (1, 500)
_BRUSH_SLIDER_MAX = 150
#: Factor of one `[` / `]` step.
BRUSH_STEP = 1.25
#: One Shift+`[` / Shift+`]` step of the brush's softness (0..1), as Photoshop's hardness steps.
SOFTNESS_STEP = 0.25
#: Overlay opacity slider range in percent.
_OPACITY_RANGE = (5, 95)
_TOOL_ICON_SIZE = QSize(22, 22)
_SLIDER_WIDTH, _OPACITY_WIDTH, _PROGRESS_WIDTH, _CURSOR_WIDTH = 110, 80, 160, 130
#: Least width of the status bar's job, model, cursor and zoom fields (they elide beyond; the message comes first).
_JOB_MIN_WIDTH, _MODEL_MIN_WIDTH, _CURSOR_MIN_WIDTH = 120, 60, 40
#: Most width of the job line (the left of the bar keeps room for messages).
_JOB_MAX_WIDTH = 420
#: Width of the right dock: at least, and when the window opens.
DOCK_MIN_WIDTH, DOCK_WIDTH = 300, 360


class BarsParts(Protocol):
    """What building the bars needs besides the window they go on: its actions and parts."""

    action_map: Mapping[str, QAction]
    backends: Sequence[SegmentBackend]
    timeline: Timeline
    project: Project
    thumbnails: ThumbnailCache


@dataclass
class WindowWidgets:
    """The widgets of the main window's bars and dock that the window updates after building them."""

    tool_group: QActionGroup
    options_bar: QToolBar
    size_slider: QSlider
    size_box: QSpinBox
    softness_box: QSpinBox
    backend_box: QComboBox
    segment_mode_box: QComboBox
    backend_action: QAction
    segment_mode_action: QAction
    view_box: QComboBox
    opacity_slider: QSlider
    compare_box: QComboBox
    compare_action: QAction
    pause_action: QAction
    stop_action: QAction
    load_weights_action: QAction
    recent_menu: QMenu
    job_label: ElidedLabel
    progress: QProgressBar
    cursor_label: ElidedLabel
    zoom_label: ElidedLabel
    model_label: ElidedLabel
    saved_label: QLabel
    objects: ObjectsPanel
    references_panel: ReferencesPanel
    candidates_panel: CandidatesPanel
    memory_panel: MemoryPanel
    tabs: QTabWidget
    dock: QDockWidget
    #: Options-bar controls a narrow window drops, in order, to keep Export in reach (each has another way in or
    #: matters less: the size box stays, opacity only acts on the colour blend).
    droppable: tuple[QAction, ...] = ()


def build_widgets(window: QMainWindow, parts: BarsParts) -> WindowWidgets:
    """Build the tools and options bars, the propagation buttons, the menus, the status bar and the dock."""
    tool_group = _tools_bar(window, parts)
    bar = QToolBar("Options", window)
    bar.setObjectName("optionsBar")
    bar.setMovable(False)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    for name in ("undo", "redo"):
        parts.action_map[name].setIcon(icon(name))
        bar.addAction(parts.action_map[name])
        button = bar.widgetForAction(parts.action_map[name])
        if isinstance(button, QToolButton):
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    bar.addSeparator()
    size_label_action = _add_widget(bar, QLabel(" Size ", window))
    size_slider = QSlider(Qt.Orientation.Horizontal, window)
    size_slider.setRange(BRUSH_RANGE[0], _BRUSH_SLIDER_MAX)
    size_slider.setFixedWidth(_SLIDER_WIDTH)
    size_slider.setToolTip("Brush / eraser size in image pixels ([ and ])")
    size_box = QSpinBox(window)
    size_box.setRange(*BRUSH_RANGE)
    size_box.setSuffix(" px")
    size_box.setToolTip(size_slider.toolTip())
    size_slider_action = _add_widget(bar, size_slider)
    bar.addWidget(size_box)
    softness_box = QSpinBox(window)
    softness_box.setRange(0, 100)
    softness_box.setSingleStep(int(SOFTNESS_STEP * 100))
    softness_box.setPrefix("Soft ")
    softness_box.setSuffix(" %")
    softness_box.setToolTip(
        "Brush / eraser softness: the share of the radius that falls off to the rim (Shift+[ and Shift+]); "
        "a soft edge is kept as the keyframe's soft matte"
    )
    bar.addWidget(softness_box)
    backend_box = QComboBox(window)
    for backend in parts.backends:
        backend_box.addItem(backend.name)
    backend_box.setToolTip("Click-to-segment method (Segment Anything when installed with a checkpoint)")
    segment_mode_box = QComboBox(window)
    segment_mode_box.setToolTip(
        "Box: drag a box around the object. Strokes: left = object, right = "
        "background. Clicks: left = object, right = background."
    )
    backend_action = _add_widget(bar, backend_box)
    segment_mode_action = _add_widget(bar, segment_mode_box)
    bar.addSeparator()
    view_box = QComboBox(window)
    for mode in VIEW_MODES:
        view_box.addItem(VIEW_LABELS[mode], mode)
    view_box.setToolTip(
        f"How the mask is drawn: colour blend, fade background, object only, outline only; matte "
        f"views: alpha, all objects' alpha, matte over black, over a checkerboard "
        f"({shortcut('cycle_overlay').key_label} cycles)"
    )
    opacity_slider = QSlider(Qt.Orientation.Horizontal, window)
    opacity_slider.setRange(*_OPACITY_RANGE)
    opacity_slider.setFixedWidth(_OPACITY_WIDTH)
    opacity_slider.setToolTip("Overlay opacity")
    compare_box = QComboBox(window)
    for mode in COMPARE_MODES:
        compare_box.addItem(COMPARE_LABELS[mode], mode)
    compare_box.setToolTip(
        f"Matte views: the raw matte, the refined one, or both split ({shortcut('cycle_compare').key_label})"
    )
    bar.addWidget(view_box)
    opacity_action = _add_widget(bar, opacity_slider)
    compare_action = _add_widget(bar, compare_box)
    parts.action_map["toggle_mask"].setIconText("Mask")
    bar.addAction(parts.action_map["toggle_mask"])
    parts.action_map["toggle_onion"].setIconText("Onion")
    bar.addAction(parts.action_map["toggle_onion"])
    spacer = QWidget(window)
    spacer.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
    bar.addWidget(spacer)
    for name, glyph, text in (
        ("save_reference", "reference", "Reference"),
        ("suggest", "suggest", "Suggest"),
        ("export", "export", "Export"),
    ):
        parts.action_map[name].setIcon(icon(glyph))
        parts.action_map[name].setIconText(text)
        bar.addAction(parts.action_map[name])
    pause_action, stop_action = _propagation_buttons(window, parts)
    load_weights_action = QAction("Load &weights…", window)
    load_weights_action.setToolTip("Use another XMem checkpoint (checked as --model is)")
    load_weights_action.setStatusTip("Use another XMem checkpoint for propagation and suggestions")
    recent_menu = _menus(
        window, parts, {"pause": pause_action, "stop": stop_action, "load_weights": load_weights_action}
    )
    status = _status_bar(window, parts)
    side = _side_dock(window, parts)
    return WindowWidgets(
        tool_group,
        bar,
        size_slider,
        size_box,
        softness_box,
        backend_box,
        segment_mode_box,
        backend_action,
        segment_mode_action,
        view_box,
        opacity_slider,
        compare_box,
        compare_action,
        pause_action,
        stop_action,
        load_weights_action,
        recent_menu,
        *status,
        *side,
        droppable=(size_slider_action, size_label_action, opacity_action),
    )


def _add_widget(bar: QToolBar, widget: QWidget) -> QAction:
    """Put `widget` on `bar`; returns the action that shows or hides it there."""
    action = bar.addWidget(widget)
    assert action is not None  # Qt returns None only for a null widget
    return action


def _tools_bar(window: QMainWindow, parts: BarsParts) -> QActionGroup:
    tools = QToolBar("Tools", window)
    tools.setObjectName("toolsBar")
    tools.setMovable(False)
    tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
    tools.setIconSize(_TOOL_ICON_SIZE)
    window.addToolBar(Qt.ToolBarArea.LeftToolBarArea, tools)
    group = QActionGroup(window)
    group.setExclusive(True)
    for name in TOOLS:
        action = parts.action_map[f"tool_{name}"]
        action.setIcon(icon(_TOOL_ICONS[name]))
        action.setIconText(_TOOL_TEXT[name])
        group.addAction(action)
        tools.addAction(action)
    return group


def _propagation_buttons(window: QMainWindow, parts: BarsParts) -> tuple[QAction, QAction]:
    for name, glyph, text in (
        ("propagate_backward", "backward", "Backward"),
        ("propagate_forward", "forward", "Forward"),
        ("propagate_shot", "shot", "Whole shot"),
    ):
        action = parts.action_map[name]
        action.setIcon(icon(glyph))
        action.setIconText(text)
    pause_action = QAction(icon("pause"), "Pause", window)
    pause_action.setCheckable(True)
    pause_action.setToolTip("Pause / resume the propagation (Space)")
    stop_action = QAction(icon("stop"), "Stop", window)
    stop_action.setToolTip("Stop the running job (Esc); finished frames are kept")
    parts.timeline.add_actions(
        [
            parts.action_map["propagate_backward"],
            parts.action_map["propagate_forward"],
            parts.action_map["propagate_shot"],
            None,
            pause_action,
            stop_action,
        ],
        icon_only=(pause_action, stop_action),
    )
    return pause_action, stop_action


def _menus(window: QMainWindow, parts: BarsParts, extra: Mapping[str, QAction]) -> QMenu:
    """The menu bar: every action, grouped. Returns the File > Open Recent menu (filled by the window)."""
    menus: dict[str, list[str | None]] = {
        "&File": [
            "new_workspace",
            "open_workspace",
            "recent",
            None,
            "save",
            "export",
            None,
            "load_weights",
            None,
            "quit",
        ],
        "&Edit": [
            "undo",
            "redo",
            "history",
            None,
            "save_reference",
            "delete_reference",
            "clear_object",
            None,
            *(f"tool_{name}" for name in TOOLS),
            None,
            "brush_smaller",
            "brush_larger",
            "brush_softer",
            "brush_harder",
        ],
        "&Frame": [
            "goto_frame",
            None,
            "prev_frame",
            "next_frame",
            "back_10",
            "forward_10",
            "first_frame",
            "last_frame",
            None,
            "prev_reference",
            "next_reference",
            "prev_suggestion",
            "next_suggestion",
        ],
        "&Propagate": [
            "propagate_forward",
            "propagate_backward",
            "propagate_shot",
            None,
            "pause",
            "stop",
            None,
            "suggest",
        ],
        "&Review": ["review_masks", None, "prev_flagged", "next_flagged", "approve_frame"],
        "&View": [
            "cycle_overlay",
            "cycle_compare",
            "toggle_onion",
            "toggle_mask",
            None,
            "zoom_fit",
            "zoom_actual",
            "zoom_in",
            "zoom_out",
        ],
        "&Help": ["help"],
    }
    recent = QMenu("Open &Recent", window)
    menu_bar = window.menuBar()
    assert menu_bar is not None  # QMainWindow makes one when asked
    for title, names in menus.items():
        menu = menu_bar.addMenu(title)
        assert menu is not None
        for name in names:
            if name is None:
                menu.addSeparator()
            elif name == "recent":
                menu.addMenu(recent)
            else:
                menu.addAction(extra.get(name) or parts.action_map[name])
    return recent


def _status_bar(
    window: QMainWindow, parts: BarsParts
) -> tuple[ElidedLabel, QProgressBar, ElidedLabel, ElidedLabel, ElidedLabel, QLabel]:
    """The status bar (`MessageBar`: the message first): job, progress, cursor, zoom, model and saved state. The
    progress bar is as tall as a label and keeps its place while hidden, so starting a job does not change the
    bar's height."""
    status = MessageBar(window)
    window.setStatusBar(status)
    job_label = status.add_label(_JOB_MIN_WIDTH, _JOB_MAX_WIDTH, priority=True)
    progress = QProgressBar(window)
    progress.setFixedWidth(_PROGRESS_WIDTH)
    progress.setFixedHeight(job_label.sizeHint().height())
    progress.setTextVisible(True)
    policy = progress.sizePolicy()
    policy.setRetainSizeWhenHidden(True)
    progress.setSizePolicy(policy)
    progress.setVisible(False)
    status.add_field(progress)
    cursor_label = status.add_label(_CURSOR_MIN_WIDTH, _CURSOR_WIDTH)
    zoom_label = status.add_label(job_label.fontMetrics().horizontalAdvance("1600 %") + 8)  # never elided
    model_label = status.add_label(_MODEL_MIN_WIDTH, 2 * _PROGRESS_WIDTH)
    saved_label = QLabel("✓ saved", window)
    saved_label.setToolTip(f"Every edit is written to {parts.project.workspace.path} as you work")
    status.add_field(saved_label)
    return job_label, progress, cursor_label, zoom_label, model_label, saved_label


def _scrolling(page: QWidget) -> QScrollArea:
    """`page` in a scroll area, so that a small window shows all of it."""
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


def _side_dock(
    window: QMainWindow, parts: BarsParts
) -> tuple[ObjectsPanel, ReferencesPanel, CandidatesPanel, MemoryPanel, QTabWidget, QDockWidget]:
    """The right dock: objects above the References / Candidates / Memory tabs."""
    objects = ObjectsPanel(parts.project, window)
    references_panel = ReferencesPanel(parts.project, parts.thumbnails, window)
    candidates_panel = CandidatesPanel(parts.project, parts.thumbnails, window)
    memory_panel = MemoryPanel(parts.project, window)
    tabs = QTabWidget(window)
    tabs.setUsesScrollButtons(False)  # every tab stays in sight in a narrow dock: their names elide instead
    tabs.setElideMode(Qt.TextElideMode.ElideRight)
    tabs.addTab(references_panel, "References")
    tabs.addTab(candidates_panel, "Candidates")
    tabs.addTab(_scrolling(memory_panel), "Memory")
    for index in range(tabs.count()):  # the whole name, should the dock elide it
        tabs.setTabToolTip(index, tabs.tabText(index))
    side = QWidget(window)
    side_layout = QVBoxLayout(side)
    side_layout.setContentsMargins(0, 0, 0, 0)
    side_layout.addWidget(objects)
    side_layout.addWidget(tabs, 1)
    dock = QDockWidget("Project", window)
    dock.setObjectName("projectDock")
    dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
    dock.setWidget(side)
    dock.setTitleBarWidget(QWidget(dock))
    dock.setMinimumWidth(DOCK_MIN_WIDTH)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    return objects, references_panel, candidates_panel, memory_panel, tabs, dock
