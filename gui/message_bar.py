"""The main window's status bar, where the message comes first.

A plain `QStatusBar` gives its passing message only what the permanent fields leave, so at 1280 px a line such
as "loading the model…" was cut. Here the message and the job line are priority labels: the cursor, zoom and
model fields yield their room to them first, down to their least width, and what still does not fit is elided
with the whole text in the tooltip. The fields yield through their maximum width, which never keeps the window
from shrinking."""

from __future__ import annotations

from collections.abc import Callable

from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QStatusBar, QWidget

from .elided_label import ElidedLabel

__all__ = ["MESSAGE_MIN_WIDTH", "MessageBar", "StatusField"]

#: Least width of the message.
MESSAGE_MIN_WIDTH = 80
#: Room a field takes beyond its own width (the layout's spacing), and the bar's own margins.
_GAP, _MARGINS = 10, 16
#: A label's margin beyond its text.
_TEXT_PAD = 8


class StatusField(ElidedLabel):
    """An elided label of the status bar that tells the bar when its text changes."""

    def __init__(
        self,
        minimum_width: int,
        parent: QWidget | None = None,
        changed: Callable[[], None] | None = None,
        cap: int = 100000,
    ) -> None:
        """`changed` is called after each new text; `cap` is the most width the field asks for."""
        super().__init__(minimum_width, parent)
        self._changed = changed
        self.cap = cap

    def setText(self, text: str | None) -> None:
        super().setText(text)
        if self._changed is not None:
            self._changed()

    def text_width(self) -> int:
        """The width the whole text needs."""
        return self.fontMetrics().horizontalAdvance(self.text()) + _TEXT_PAD


class MessageBar(QStatusBar):
    """A status bar whose message (`message`) and priority fields get room before the yielding fields."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._priority: list[StatusField] = []
        self._yielding: list[StatusField] = []
        self._fixed: list[QWidget] = []
        self.setSizeGripEnabled(False)
        self.message = StatusField(MESSAGE_MIN_WIDTH, self, self.fit)
        self.addWidget(self.message, 1)
        self._priority.append(self.message)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.clearMessage)

    def add_label(self, minimum_width: int, cap: int = 100000, priority: bool = False) -> StatusField:
        """A permanent text field after those added before, between `minimum_width` and `cap` wide: a `priority`
        one takes room before the yielding ones; the others yield theirs first."""
        label = StatusField(minimum_width, self, self.fit, cap)
        if priority:
            label.setMaximumWidth(cap)
        (self._priority if priority else self._yielding).append(label)
        self.addPermanentWidget(label)
        return label

    def add_field(self, widget: QWidget) -> None:
        """A permanent field of its own width (progress bar, saved mark) after those added before."""
        self._fixed.append(widget)
        self.addPermanentWidget(widget)

    def showMessage(self, text: str | None, timeout: int = 0) -> None:
        """Show `text` for `timeout` ms (0: until the next message)."""
        self.message.setText(text)
        if timeout > 0:
            self._timer.start(timeout)
        else:
            self._timer.stop()
        self.messageChanged.emit(text)

    def currentMessage(self) -> str:
        """The message on show ("" when none)."""
        return self.message.text()

    def clearMessage(self) -> None:
        """Remove the message."""
        self._timer.stop()
        self.message.setText("")
        self.messageChanged.emit("")

    def fit(self) -> None:
        """Share the width: the priority labels' whole text first, then the yielding fields, each down to its
        least width (the layout elides what is left short)."""
        fixed = sum(max(w.sizeHint().width(), w.minimumWidth()) + _GAP for w in self._fixed)
        wanted = sum(max(label.minimumWidth(), min(label.text_width(), label.cap)) + _GAP for label in self._priority)
        least = sum(label.minimumWidth() + _GAP for label in self._yielding)
        spare = self.width() - _MARGINS - fixed - wanted - least  # room beyond the yielding fields' least widths
        for label in sorted(self._yielding, key=StatusField.text_width):  # the short ones stay whole
            extra = max(0, min(label.text_width(), label.cap) - label.minimumWidth())
            extra = min(extra, max(spare, 0))
            label.setMaximumWidth(label.minimumWidth() + extra)
            spare -= extra

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit()
