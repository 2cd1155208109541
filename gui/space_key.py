"""The Space key of the main window: hold it to pan the canvas, tap it to pause / resume a
propagation (or play / stop playback). An application-wide event filter, so it works whatever
widget of the window has the focus, except while typing in a text or number field.

It also keeps Enter for text and number fields: there Enter saves the value (k, processing size)
instead of triggering the window's "finish shape" shortcut."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PyQt5.QtCore import QEvent, QObject, Qt
from PyQt5.QtGui import QKeyEvent, QKeySequence
from PyQt5.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit, QWidget

from .shortcuts import shortcut

__all__ = ["PanCanvas", "SpaceKeyFilter"]

_SPACE_KEY = QKeySequence(shortcut("toggle_pause").keys[0])[0]
_ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


class PanCanvas(Protocol):
    """The canvas's Space-held pan: `space_up` returns True when the press was used to pan."""

    def space_down(self) -> None: ...
    def space_up(self) -> bool: ...


class SpaceKeyFilter(QObject):
    """Install on the application with `installEventFilter`; remove it when the window closes."""

    def __init__(self, window: QWidget, canvas: PanCanvas, toggle_pause: Callable[[], None]) -> None:
        """Arguments:
        window: the window whose widgets the key works in.
        canvas: pans while Space is held.
        toggle_pause: a tap of Space (pause / resume a propagation, or play / stop).
        """
        super().__init__(window)
        self.window, self.canvas, self.toggle_pause = window, canvas, toggle_pause

    def eventFilter(self, obj: QObject | None, event: QEvent | None) -> bool:
        if not isinstance(event, QKeyEvent):  # shortcut overrides, presses and releases are key events
            return False
        kind = event.type()
        if kind == QEvent.Type.ShortcutOverride and event.key() in _ENTER_KEYS and self._typing():
            event.accept()  # the field gets the key press (editingFinished saves the value)
            return False
        if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and event.key() == _SPACE_KEY:
            if event.isAutoRepeat() or not self._owns(obj):
                return event.isAutoRepeat() and self._owns(obj) and not self._typing()
            if self._typing():
                return False
            if kind == QEvent.Type.KeyPress:
                self.canvas.space_down()
            elif not self.canvas.space_up():
                self.toggle_pause()
            return True
        return False

    def _owns(self, obj: QObject | None) -> bool:
        if QApplication.activeModalWidget() is not None:
            return False
        return isinstance(obj, QWidget) and obj.window() is self.window

    @staticmethod
    def _typing() -> bool:
        focus = QApplication.focusWidget()
        return isinstance(focus, (QLineEdit, QAbstractSpinBox))
