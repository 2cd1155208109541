"""The one table of keyboard shortcuts and mouse gestures.

`SHORTCUTS` is the single source: `create_actions` makes the window's QActions from it, the key
filter of the main window reads the keys it handles itself (Space) from it, and the help dialog and
`shortcut_markdown()` (docs/gui.md) render it. A shortcut cannot be documented one way and bound
another.

Kinds:
    "action": a QAction with these keys (window-wide).
    "key":    a key the main window handles itself, because it needs press *and* release
              (Space: tap = pause/play, hold + drag = pan).
    "mouse":  a mouse gesture handled by the canvas; listed for help only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from PyQt5.QtWidgets import QAction, QWidget

__all__ = ["GROUPS", "SHORTCUTS", "Shortcut", "create_actions", "shortcut", "shortcut_markdown", "shortcut_rows"]


@dataclass(frozen=True)
class Shortcut:
    """One row of the shortcut table.

    Attributes:
        action: identifier used by the window to attach a handler ("undo", "tool_brush", ...).
        keys: QKeySequence strings ("Ctrl+Z"); for `indexed` rows one key per index.
        text: menu text.
        help: what it does (help dialog, docs).
        group: heading it is listed under.
        kind: "action", "key" or "mouse" (see the module docstring).
        checkable: the QAction is a toggle.
        indexed: the handler takes the 1-based position of the key pressed (keys 1-9).
        label: how the keys are shown in help (defaults to the keys joined by " / ").
    """

    action: str
    keys: tuple[str, ...]
    text: str
    help: str
    group: str
    kind: str = "action"
    checkable: bool = False
    indexed: bool = False
    label: str = ""

    @property
    def key_label(self) -> str:
        """Keys as shown to the user."""
        return self.label or " / ".join(self.keys)


GROUPS = ("Frames", "Annotate", "Propagate", "Review", "View", "Project", "Mouse")

SHORTCUTS: tuple[Shortcut, ...] = (
    # Frames
    Shortcut("prev_frame", ("Left",), "Previous frame", "Go to the previous frame", "Frames"),
    Shortcut("next_frame", ("Right",), "Next frame", "Go to the next frame", "Frames"),
    Shortcut("back_10", ("Shift+Left",), "Back 10 frames", "Go 10 frames back", "Frames"),
    Shortcut("forward_10", ("Shift+Right",), "Forward 10 frames", "Go 10 frames forward", "Frames"),
    Shortcut("first_frame", ("Home",), "First frame", "Go to the first frame", "Frames"),
    Shortcut("last_frame", ("End",), "Last frame", "Go to the last frame", "Frames"),
    Shortcut("prev_reference", ("PgUp",), "Previous reference", "Jump to the previous reference frame", "Frames"),
    Shortcut("next_reference", ("PgDown",), "Next reference", "Jump to the next reference frame", "Frames"),
    Shortcut(
        "next_suggestion", ("N",), "Next suggested frame", "Jump to the next suggested frame in time order", "Frames"
    ),
    Shortcut(
        "prev_suggestion",
        ("Shift+N",),
        "Previous suggested frame",
        "Jump to the previous suggested frame in time order",
        "Frames",
    ),
    Shortcut("goto_frame", ("Ctrl+J",), "Go to frame…", "Go to frame N (number or frame name)", "Frames"),
    Shortcut(
        "toggle_pause",
        ("Space",),
        "Pause / play",
        "Tap: pause or resume a running propagation; otherwise play or stop playback",
        "Frames",
        kind="key",
    ),
    # Annotate
    Shortcut(
        "tool_brush",
        ("B",),
        "Brush",
        "Brush tool: paint the current object (right button erases)",
        "Annotate",
        checkable=True,
    ),
    Shortcut("tool_eraser", ("E",), "Eraser", "Eraser tool: paint background", "Annotate", checkable=True),
    Shortcut(
        "tool_polygon",
        ("P",),
        "Polygon",
        "Polygon fill: click corners, Enter or double-click fills (Shift: erase the area)",
        "Annotate",
        checkable=True,
    ),
    Shortcut(
        "tool_lasso",
        ("L",),
        "Lasso",
        "Lasso fill: drag an outline, release fills (Shift: erase the area)",
        "Annotate",
        checkable=True,
    ),
    Shortcut(
        "tool_segment",
        ("S",),
        "Click to segment",
        "Click-to-segment: drag a box, or draw strokes (left = object, right = background); "
        "with Segment Anything also clicks",
        "Annotate",
        checkable=True,
    ),
    Shortcut(
        "tool_spline",
        ("V",),
        "Spline",
        "Spline (Bezier) tool: click points, drag for tangents, click the "
        "first point or Enter closes; drag a point or handle to edit, Ctrl+drag a point out / in for its "
        "outer / inner feather, right-click removes a point",
        "Annotate",
        checkable=True,
    ),
    Shortcut("brush_smaller", ("[",), "Smaller brush", "Make the brush / eraser smaller", "Annotate"),
    Shortcut("brush_larger", ("]",), "Larger brush", "Make the brush / eraser larger", "Annotate"),
    Shortcut(
        "brush_softer",
        ("Shift+[", "{", "Shift+{"),
        "Softer brush",
        "Soften the brush / eraser edge by a quarter of its radius (its soft edge is the keyframe's soft matte)",
        "Annotate",
        label="Shift+[",
    ),
    Shortcut(
        "brush_harder",
        ("Shift+]", "}", "Shift+}"),
        "Harder brush",
        "Harden the brush / eraser edge",
        "Annotate",
        label="Shift+]",
    ),
    Shortcut(
        "select_object",
        tuple(str(i) for i in range(1, 10)),
        "Select object",
        "Select object 1-9 (the object list reaches more)",
        "Annotate",
        indexed=True,
        label="1 … 9",
    ),
    Shortcut("undo", ("Ctrl+Z",), "Undo", "Undo the last edit (strokes, fills, references, propagation)", "Annotate"),
    Shortcut("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo", "Redo the edit undone last", "Annotate"),
    Shortcut("history", ("Ctrl+Shift+H",), "History…", "List every edit; click one to go back to it", "Annotate"),
    Shortcut(
        "clear_object", ("Delete",), "Clear object on frame", "Remove the current object from this frame", "Annotate"
    ),
    Shortcut(
        "accept",
        ("Return", "Enter"),
        "Finish shape",
        "Close the polygon / keep the segmentation",
        "Annotate",
        label="Enter",
    ),
    Shortcut(
        "accept_erase",
        ("Shift+Return", "Shift+Enter"),
        "Finish shape as erase",
        "Close the polygon as an erase (fills with background)",
        "Annotate",
        label="Shift+Enter",
    ),
    Shortcut(
        "remove_point",
        ("Backspace",),
        "Remove last point",
        "Remove the last polygon corner or segmentation click",
        "Annotate",
    ),
    Shortcut(
        "cancel", ("Esc",), "Cancel / stop", "Cancel the shape being drawn; otherwise stop the running job", "Annotate"
    ),
    Shortcut(
        "save_reference",
        ("R",),
        "Save / update reference",
        "Save this frame's mask as a reference (permanent memory)",
        "Annotate",
    ),
    Shortcut(
        "delete_reference",
        ("Ctrl+Delete",),
        "Delete reference",
        "Stop using this frame as a reference (asks first; the mask stays)",
        "Annotate",
    ),
    # Propagate
    Shortcut(
        "propagate_forward", ("F",), "Propagate forward", "Propagate from this frame to the last one", "Propagate"
    ),
    Shortcut(
        "propagate_backward",
        ("Shift+F",),
        "Propagate backward",
        "Propagate from this frame to the first one",
        "Propagate",
    ),
    Shortcut(
        "propagate_shot",
        ("Ctrl+F",),
        "Propagate whole shot",
        "Propagate from the first reference to both ends of the shot",
        "Propagate",
    ),
    Shortcut("suggest", ("Ctrl+G",), "Suggest frames", "Suggest the frames to annotate next", "Propagate"),
    # Review
    Shortcut(
        "next_flagged", ("Ctrl+Right",), "Next flagged frame", "Jump to the next frame the review flagged", "Review"
    ),
    Shortcut(
        "prev_flagged",
        ("Ctrl+Left",),
        "Previous flagged frame",
        "Jump to the previous frame the review flagged",
        "Review",
    ),
    Shortcut(
        "approve_frame",
        ("Shift+A",),
        "Approve frame",
        "Approve this frame's mask (again takes it back); an edit of the frame or a change of the references clears it",
        "Review",
    ),
    Shortcut(
        "review_masks",
        ("Ctrl+R",),
        "Review masks",
        "Review every frame's mask against the frames (it runs by itself after each propagation)",
        "Review",
    ),
    # View
    Shortcut(
        "cycle_overlay",
        ("O",),
        "Cycle view mode",
        "Colour blend → fade background → object only → "
        "outline only → alpha → matte over black → matte over checkerboard",
        "View",
    ),
    Shortcut(
        "cycle_compare",
        ("A",),
        "Raw / refined matte",
        "Matte views: raw → refined → split (A/B of the refine stage)",
        "View",
    ),
    Shortcut(
        "toggle_onion",
        ("Shift+O",),
        "Onion skin",
        "Outline the previous (orange) and next (blue) frames' masks",
        "View",
        checkable=True,
    ),
    Shortcut("toggle_mask", ("H",), "Show / hide mask", "Show or hide the mask overlay", "View", checkable=True),
    Shortcut("zoom_fit", ("Ctrl+0",), "Fit to window", "Fit the frame to the window", "View"),
    Shortcut("zoom_actual", ("Ctrl+1",), "Actual size", "Show the frame at 100 %", "View"),
    Shortcut("zoom_in", ("Ctrl+=", "Ctrl++"), "Zoom in", "Zoom in", "View"),
    Shortcut("zoom_out", ("Ctrl+-",), "Zoom out", "Zoom out", "View"),
    Shortcut("help", ("F1", "?"), "Keyboard shortcuts", "Show this list", "View"),
    # Project
    Shortcut("new_workspace", ("Ctrl+N",), "New…", "New workspace from frames, a frame pattern or a video", "Project"),
    Shortcut("open_workspace", ("Ctrl+O",), "Open workspace…", "Open another workspace", "Project"),
    Shortcut(
        "save", ("Ctrl+S",), "Save", "Everything is saved as you work; this writes the view settings too", "Project"
    ),
    Shortcut(
        "export", ("Ctrl+E",), "Export…", "Export index masks, mattes, binary masks or an overlay video", "Project"
    ),
    Shortcut("quit", ("Ctrl+Q",), "Quit", "Close the window (work is already saved)", "Project"),
    # Mouse
    Shortcut("mouse_zoom", (), "Zoom", "Zoom around the pointer", "Mouse", kind="mouse", label="Wheel"),
    Shortcut("mouse_pan", (), "Pan", "Pan the view", "Mouse", kind="mouse", label="Middle drag / Space + drag"),
    Shortcut("mouse_paint", (), "Paint", "Paint with the current tool", "Mouse", kind="mouse", label="Left drag"),
    Shortcut(
        "mouse_erase",
        (),
        "Erase",
        "Brush: erase; click-to-segment: background strokes or clicks",
        "Mouse",
        kind="mouse",
        label="Right drag",
    ),
    Shortcut(
        "mouse_pick",
        (),
        "Pick object",
        "Select the object under the pointer",
        "Mouse",
        kind="mouse",
        label="Alt + click",
    ),
)


def shortcut(action: str) -> Shortcut:
    """The table row of `action` (KeyError if absent)."""
    for row in SHORTCUTS:
        if row.action == action:
            return row
    raise KeyError(action)


def shortcut_rows() -> list[tuple[str, str, str]]:
    """(group, keys, description) rows in table order, for the help dialog."""
    rows = []
    for group in GROUPS:
        for row in SHORTCUTS:
            if row.group == group:
                rows.append((group, row.key_label, row.help))
    return rows


def shortcut_markdown() -> str:
    """The shortcut table as Markdown (used for docs/gui.md).

    Returns:
        A Markdown table with the columns Keys, Action and Group.
    """
    lines = ["| Keys | Action | Group |", "| --- | --- | --- |"]
    for group, keys, text in shortcut_rows():
        shown = keys.replace("|", "\\|")
        lines.append(f"| `{shown}` | {text} | {group} |")
    return "\n".join(lines) + "\n"


def create_actions(parent: QWidget, handlers: Mapping[str, Callable]) -> dict[str, QAction]:
    """Create the window's QActions from the table.

    Arguments:
        parent: the widget that owns the actions (they are added to it, window-wide shortcuts).
        handlers: action id -> callable; `indexed` rows call it with the 1-based key position,
            checkable rows with the new checked state.
    Returns:
        Action id -> QAction; indexed rows add "<id>_<n>" entries (one QAction per key).
    """
    from PyQt5.QtGui import QKeySequence
    from PyQt5.QtWidgets import QAction

    actions: dict[str, QAction] = {}
    for row in SHORTCUTS:
        if row.kind != "action":
            continue
        handler = handlers.get(row.action)
        if row.indexed:
            for number, key in enumerate(row.keys, start=1):
                action = QAction(f"{row.text} {number}", parent)
                action.setShortcut(QKeySequence(key))
                action.setToolTip(f"{row.help} ({key})")
                if handler is not None:
                    action.triggered.connect(lambda _checked=False, n=number, h=handler: h(n))
                parent.addAction(action)
                actions[f"{row.action}_{number}"] = action
            continue
        action = QAction(row.text, parent)
        action.setShortcuts([QKeySequence(k) for k in row.keys])
        action.setCheckable(row.checkable)
        action.setToolTip(f"{row.help} ({row.key_label})")
        action.setStatusTip(row.help)
        if handler is not None:
            if row.checkable:
                action.triggered.connect(lambda checked, h=handler: h(checked))
            else:
                action.triggered.connect(lambda _checked=False, h=handler: h())
        parent.addAction(action)
        actions[row.action] = action
    return actions
