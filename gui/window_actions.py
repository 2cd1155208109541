"""What each named action of the shortcut table (`shortcuts.SHORTCUTS`) does: a call on the controller of its
concern. The handlers hold no state and reach nothing but the controllers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from xmempp.inference.plan import Direction

from .edit_controller import EditController
from .file_controller import FileController
from .job_view import JobPresenter
from .navigation import Navigation
from .object_controller import ObjectController
from .reference_controller import ReferenceController
from .review_ui import ReviewUi
from .settings import TOOLS
from .tool_controller import ToolController
from .view_controller import ViewController

__all__ = ["ActionTargets", "action_handlers"]


class ActionTargets(Protocol):
    """The controllers the actions call (looked up when an action fires, so they may be built later)."""

    nav: Navigation
    tools: ToolController
    views: ViewController
    objects: ObjectController
    edits: EditController
    refs: ReferenceController
    job_view: JobPresenter
    files: FileController
    review_ui: ReviewUi

    def propagate(self, direction: Direction | str) -> bool: ...
    def close(self) -> bool: ...


def _tool(t: ActionTargets, name: str) -> Callable[[bool], None]:
    return lambda on: t.tools.set_tool(name) if on else None


def action_handlers(t: ActionTargets) -> dict[str, Callable]:
    """Action id -> handler (see `shortcuts.create_actions`)."""
    handlers: dict[str, Callable] = {
        "prev_frame": lambda: t.nav.step(-1),
        "next_frame": lambda: t.nav.step(+1),
        "back_10": lambda: t.nav.step(-10),
        "forward_10": lambda: t.nav.step(+10),
        "first_frame": lambda: t.nav.goto(0),
        "last_frame": lambda: t.nav.last(),
        "prev_reference": lambda: t.nav.jump_reference(-1),
        "next_reference": lambda: t.nav.jump_reference(+1),
        "next_suggestion": lambda: t.nav.jump_suggestion(+1),
        "prev_suggestion": lambda: t.nav.jump_suggestion(-1),
        "goto_frame": lambda: t.nav.ask(),
        "toggle_pause": lambda: t.job_view.toggle_pause(),
        "brush_smaller": lambda: t.tools.brush_step(larger=False),
        "brush_larger": lambda: t.tools.brush_step(larger=True),
        "brush_softer": lambda: t.tools.softness_step(softer=True),
        "brush_harder": lambda: t.tools.softness_step(softer=False),
        "select_object": lambda n: t.objects.select(n),
        "undo": lambda: t.edits.undo(),
        "redo": lambda: t.edits.redo(),
        "history": lambda: t.edits.show_history(),
        "clear_object": lambda: t.edits.clear_object(),
        "accept": lambda: t.tools.accept_shape(),
        "accept_erase": lambda: t.tools.accept_shape(erase=True),
        "remove_point": lambda: t.tools.remove_point(),
        "cancel": lambda: t.job_view.cancel(t.tools.cancel_shape),
        "save_reference": lambda: t.refs.save(),
        "delete_reference": lambda: t.refs.delete(),
        "propagate_forward": lambda: t.propagate(Direction.FORWARD),
        "propagate_backward": lambda: t.propagate(Direction.BACKWARD),
        "propagate_shot": lambda: t.propagate(Direction.SHOT),
        "suggest": lambda: t.job_view.suggest(),
        "next_flagged": lambda: t.review_ui.jump_flagged(+1),
        "prev_flagged": lambda: t.review_ui.jump_flagged(-1),
        "approve_frame": lambda: t.review_ui.approve_current(),
        "review_masks": lambda: t.review_ui.review_all(),
        "cycle_overlay": lambda: t.views.cycle_overlay(),
        "cycle_compare": lambda: t.views.cycle_compare(),
        "toggle_onion": lambda on: t.views.set_onion_skin(on),
        "toggle_mask": lambda on: t.views.set_mask_visible(on),
        "zoom_fit": lambda: t.views.zoom_fit(),
        "zoom_actual": lambda: t.views.zoom_actual(),
        "zoom_in": lambda: t.views.zoom_step(+1),
        "zoom_out": lambda: t.views.zoom_step(-1),
        "help": lambda: t.files.show_help(),
        "new_workspace": lambda: t.files.new_workspace(),
        "open_workspace": lambda: t.files.open_workspace(),
        "save": lambda: t.files.save_all(),
        "export": lambda: t.files.export(),
        "quit": lambda: t.close(),
    }
    for name in TOOLS:
        handlers[f"tool_{name}"] = _tool(t, name)
    return handlers
