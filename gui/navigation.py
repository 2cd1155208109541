"""Moving through the shot: the frame on screen, steps and jumps (references, suggestions, flagged frames), Go to
frame, and the canvas badge that says what the frame is."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PyQt5.QtWidgets import QWidget

from .file_actions import ask_frame
from .status_line import Messages
from .view_state import ViewState

__all__ = ["MESSAGE_MS", "BadgeCanvas", "Following", "Navigation", "Shot"]

#: How long navigation messages stay (ms).
MESSAGE_MS = 4000


class Shot(Protocol):
    """What navigation reads of the project."""

    settings: Any  # `GuiSettings`: its `suggestions`

    def __len__(self) -> int: ...
    @property
    def labels(self) -> list[str]: ...
    @property
    def references(self) -> list[int]: ...
    def is_reference(self, index: int) -> bool: ...


class Following(Protocol):
    """A running propagation that the view may follow."""

    following: bool

    @property
    def propagating(self) -> bool: ...


class BadgeCanvas(Protocol):
    """The canvas's badge line."""

    badge: str

    def update(self) -> None: ...


class Navigation:
    """Frames: `view.frame` is the one on screen; `goto` is the user's move, `show_frame` a followed job's."""

    def __init__(
        self,
        view: ViewState,
        shot: Shot,
        jobs: Following,
        canvas: BadgeCanvas,
        messages: Messages,
        dialog_parent: QWidget,
    ) -> None:
        self.view, self.shot, self.jobs, self.canvas, self.messages = view, shot, jobs, canvas, messages
        self.dialog_parent = dialog_parent
        #: More badge words per frame (the review's state); each returns "" for none.
        self.badges: list[Callable[[int], str]] = []

    @property
    def current(self) -> int:
        """The frame on screen."""
        return self.view.frame

    def goto(self, index: int) -> None:
        """Show frame `index` (clamped); a manual jump during a propagation stops following it."""
        if self.jobs.propagating:
            self.jobs.following = False
        self.show_frame(index)

    def show_frame(self, index: int) -> None:
        """Show frame `index` (clamped) without touching the propagation's following."""
        self.view.update(frame=max(0, min(len(self.shot) - 1, int(index))))

    def step(self, frames: int) -> None:
        """Move `frames` frames (negative: back)."""
        self.goto(self.current + frames)

    def last(self) -> None:
        """Go to the last frame."""
        self.goto(len(self.shot) - 1)

    def ask(self) -> None:
        """Frame > Go to frame: ask for a number or a frame name."""
        index = ask_frame(self.dialog_parent, self.shot.labels, self.current)
        if index is not None:
            self.goto(index)

    def jump_in(self, frames: Sequence[int], step: int, what: str = "frames") -> None:
        """Go to the next (step +1) or previous (-1) of `frames` in time order, wrapping around."""
        ordered = sorted(frames)
        if not ordered:
            self.messages.show(f"no {what} to jump to", 3000)
            return
        if step > 0:
            after = [f for f in ordered if f > self.current]
            self.goto(after[0] if after else ordered[0])
        else:
            before = [f for f in ordered if f < self.current]
            self.goto(before[-1] if before else ordered[-1])

    def jump_reference(self, step: int) -> None:
        """Go to the next (+1) or previous (-1) reference frame."""
        self.jump_in(self.shot.references, step, "references")

    def jump_suggestion(self, step: int) -> None:
        """Go to the next (+1) or previous (-1) suggested frame in time order, wrapping around."""
        if not self.shot.settings.suggestions:
            self.messages.show("no suggested frames yet (Ctrl+G suggests some)", MESSAGE_MS)
            return
        self.jump_in(self.shot.settings.suggestions, step, "suggested frames")

    def badge(self, index: int | None = None) -> str:
        """The canvas badge of frame `index` (default: the current one): reference, suggestion rank, review state."""
        index = self.current if index is None else index
        words = ["REFERENCE"] if self.shot.is_reference(index) else []
        suggestions = self.shot.settings.suggestions
        if index in suggestions:
            words.append(f"SUGGESTED #{suggestions.index(index) + 1}")
        words += [word for badge in self.badges if (word := badge(index))]
        return "  ·  ".join(words)

    def refresh_badge(self) -> None:
        """Redraw the current frame's badge."""
        self.canvas.badge = self.badge()
        self.canvas.update()
