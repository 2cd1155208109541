"""The timeline: a scrubbable track with reference and suggested frames marked, play / step buttons,
and a counter that shows the source frame name.

On a narrow window the propagation buttons drop their text (icons with tooltips) before the counter
is squeezed, and a frame name too long for the room left is elided in the middle; the frame number
is always shown whole."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from PyQt5.QtCore import QPointF, QRectF, QSize, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QColor, QFontMetrics, QPainter, QPainterPath, QPen, QPolygonF
from PyQt5.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from .icons import icon

__all__ = ["REFERENCE_COLOUR", "SUGGESTION_COLOUR", "Timeline", "TimelineTrack"]

REFERENCE_COLOUR = QColor(236, 170, 45)
SUGGESTION_COLOUR = QColor(80, 200, 220)
_MASKED_COLOUR = QColor(72, 110, 170)
_TRACK = QColor(46, 48, 54)
_CURSOR = QColor(240, 240, 240)
_TICK = QColor(130, 136, 144)
_NUMBER_COLOUR = "#9aa0a6"
#: Gap between the frame name and its number in the counter, in pixels.
_COUNTER_GAP = 12
#: Margins, spacing and gaps of the control row, in pixels.
_ROW_SPACING = 60
#: A tool button's width beyond its icon, in pixels.
_ICON_PADDING = 10


class TimelineTrack(QWidget):
    """The frame track: masked frames as a band, references as amber ticks, suggestions as cyan dots.

    Signals:
        frameRequested(int): the user clicked or dragged to a frame.
    """

    frameRequested = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.count = 1
        self.current = 0
        self.references: list[int] = []
        self.suggestions: list[int] = []
        self.masked: set[int] = set()
        self.running: tuple[int, int] | None = None
        self.names: list[str] = []
        self.setMinimumHeight(46)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def sizeHint(self) -> QSize:
        return QSize(600, 46)

    def _x(self, frame: float) -> float:
        left, width = 8.0, max(1.0, self.width() - 16.0)
        return left + (frame + 0.5) * width / max(1, self.count)

    def frame_at(self, x: float) -> int:
        """The frame under widget x."""
        left, width = 8.0, max(1.0, self.width() - 16.0)
        return int(min(self.count - 1, max(0, (x - left) * self.count / width)))

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.frameRequested.emit(self.frame_at(event.pos().x()))

    def mouseMoveEvent(self, event) -> None:
        frame = self.frame_at(event.pos().x())
        name = self.names[frame] if frame < len(self.names) else str(frame)
        tags = []
        if frame in self.references:
            tags.append("reference")
        if frame in self.suggestions:
            tags.append(f"suggestion #{self.suggestions.index(frame) + 1}")
        self.setToolTip(f"{name} (frame {frame + 1})" + (f" — {', '.join(tags)}" if tags else ""))
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.frameRequested.emit(frame)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        track = QRectF(8, 9, self.width() - 16, 9)
        self._paint_ticks(painter, track)
        path = QPainterPath()
        path.addRoundedRect(track, 4, 4)
        painter.fillPath(path, _TRACK)
        unit = track.width() / max(1, self.count)
        # frames with a mask, drawn as runs
        if self.masked:
            painter.save()
            painter.setClipPath(path)
            for start, end in _runs(sorted(self.masked)):
                painter.fillRect(
                    QRectF(track.left() + start * unit, track.top(), (end - start + 1) * unit, track.height()),
                    _MASKED_COLOUR,
                )
            painter.restore()
        if self.running is not None:
            a, b = sorted(self.running)
            painter.fillRect(
                QRectF(track.left() + a * unit, track.bottom() + 2, (b - a + 1) * unit, 2), QColor(90, 160, 250)
            )
        for frame in self.suggestions:
            x = self._x(frame)
            painter.setPen(QPen(QColor(10, 10, 10), 1))
            painter.setBrush(SUGGESTION_COLOUR)
            painter.drawEllipse(QPointF(x, track.top() - 4.5), 3.5, 3.5)
        for frame in self.references:
            x = self._x(frame)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(REFERENCE_COLOUR)
            painter.drawRect(QRectF(x - 1.5, track.top() - 2, 3, track.height() + 4))
            tri = QPolygonF(
                [QPointF(x - 5, track.bottom() + 9), QPointF(x + 5, track.bottom() + 9), QPointF(x, track.bottom() + 3)]
            )
            painter.drawPolygon(tri)
        x = self._x(self.current)
        painter.setPen(QPen(QColor(0, 0, 0, 160), 4))
        painter.drawLine(QPointF(x, 2), QPointF(x, track.bottom() + 10))
        painter.setPen(QPen(_CURSOR, 2))
        painter.drawLine(QPointF(x, 2), QPointF(x, track.bottom() + 10))
        painter.end()

    def _paint_ticks(self, painter: QPainter, track: QRectF) -> None:
        """Frame numbers (1-based, as the counter) under the track at a readable spacing."""
        unit = track.width() / max(1, self.count)
        step = next(
            (s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000) if s * unit >= 64), 20000
        )
        font = painter.font()
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.78))
        painter.setFont(font)
        painter.setPen(QPen(_TICK, 1))
        y = track.bottom() + 11
        for number in range(step, self.count + 1, step):
            x = self._x(number - 1)
            align = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
            painter.drawText(QRectF(x - 30, y, 60, 14), align, str(number))


def _runs(frames: list[int]) -> Iterable[tuple[int, int]]:
    if not frames:
        return
    start = prev = frames[0]
    for f in frames[1:]:
        if f != prev + 1:
            yield start, prev
            start = f
        prev = f
    yield start, prev


def _text_width(button: QToolButton) -> int:
    """A tool button's width with its text beside the icon."""
    return button.iconSize().width() + button.fontMetrics().horizontalAdvance(button.text()) + 2 * _ICON_PADDING + 4


class FrameCounter(QLabel):
    """The current frame's name and number ("plate.1001   1 / 87"); a long name is elided in the middle."""

    def __init__(self, count: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("frameCounter")
        self.setAlignment(Qt.Alignment(Qt.AlignmentFlag.AlignLeft) | Qt.AlignmentFlag.AlignVCenter)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.count = count
        self.name = ""
        self.index = 0
        digits = len(str(count))
        self._number_width = self.fontMetrics().horizontalAdvance(f"{'8' * digits} / {'8' * digits}")
        self.setMinimumWidth(self._number_width + _COUNTER_GAP + self.fontMetrics().horizontalAdvance("M" * 6))
        self.setToolTip("Current frame: source name and number")

    def show_frame(self, name: str, index: int) -> None:
        """Show frame `index` called `name`."""
        self.name, self.index = name, index
        self._render()

    def full_width(self) -> int:
        """Width that shows the whole name."""
        bold = self.font()
        bold.setBold(True)
        return QFontMetrics(bold).horizontalAdvance(self.name) + _COUNTER_GAP + self._number_width + 8

    @property
    def elided(self) -> bool:
        """The name is cut (shown with "…")."""
        return "…" in self.text() and "…" not in self.name

    def _render(self) -> None:
        bold = self.font()
        bold.setBold(True)
        room = max(0, self.width() - self._number_width - _COUNTER_GAP - 8)
        name = QFontMetrics(bold).elidedText(self.name, Qt.TextElideMode.ElideMiddle, room)
        digits = len(str(self.count))
        self.setText(
            f"<b>{escape(name)}</b>&nbsp;&nbsp;<span style='color:{_NUMBER_COLOUR}'>"
            f"{self.index + 1:>{digits}} / {self.count}</span>"
        )

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._render()

    def sizeHint(self) -> QSize:
        return QSize(self.full_width(), super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(self.minimumWidth(), super().minimumSizeHint().height())


class Timeline(QWidget):
    """Track, transport buttons and the frame counter.

    Signals:
        frameRequested(int): go to this frame.
    """

    frameRequested = pyqtSignal(int)

    def __init__(self, names: list[str], fps: float | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.names = list(names)
        self.track = TimelineTrack(self)
        self.track.count = len(self.names)
        self.track.names = self.names
        self.track.frameRequested.connect(self.frameRequested)
        self.first_button = self._button(icon("first"), "First frame (Home)")
        self.prev_button = self._button(icon("prev"), "Previous frame (Left)")
        self.play_button = self._button(icon("play"), "Play / stop (Space)")
        self.next_button = self._button(icon("next"), "Next frame (Right)")
        self.last_button = self._button(icon("last"), "Last frame (End)")
        self.play_button.setCheckable(True)
        self.counter = FrameCounter(len(self.names), self)
        self.first_button.clicked.connect(lambda: self.frameRequested.emit(0))
        self.prev_button.clicked.connect(lambda: self.frameRequested.emit(max(0, self.track.current - 1)))
        self.next_button.clicked.connect(
            lambda: self.frameRequested.emit(min(len(self.names) - 1, self.track.current + 1))
        )
        self.last_button.clicked.connect(lambda: self.frameRequested.emit(len(self.names) - 1))
        self.play_button.toggled.connect(self._toggled)
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / max(1.0, min(60.0, fps or 24.0))))
        self._timer.timeout.connect(self._tick)

        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        for b in (self.first_button, self.prev_button, self.play_button, self.next_button, self.last_button):
            buttons.addWidget(b)
        controls = QHBoxLayout()
        controls.setContentsMargins(8, 0, 8, 4)
        controls.addLayout(buttons)
        controls.addSpacing(12)
        controls.addWidget(self.counter, 1)
        self._extra = QHBoxLayout()
        self._extra.setSpacing(2)
        self._extra_buttons: list[tuple[QToolButton, bool]] = []
        self._compact = False
        controls.addLayout(self._extra)
        track_row = QHBoxLayout()
        track_row.setContentsMargins(4, 4, 4, 0)
        track_row.addWidget(self.track)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addLayout(track_row)
        outer.addLayout(controls)
        self.set_current(0)

    def add_actions(self, actions, icon_only=()) -> None:
        """Put buttons for `actions` at the right end of the control row (propagation controls).

        Arguments:
            actions: QActions (None adds a gap).
            icon_only: actions shown without their text.
        """
        for action in actions:
            if action is None:
                self._extra.addSpacing(8)
                continue
            button = QToolButton(self)
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setIconSize(QSize(16, 16))
            button.setToolButtonStyle(
                Qt.ToolButtonStyle.ToolButtonIconOnly
                if action in icon_only
                else Qt.ToolButtonStyle.ToolButtonTextBesideIcon
            )
            if action not in icon_only:  # the layout may squeeze it to its icon; `resizeEvent` then drops the text
                button.setMinimumWidth(button.iconSize().width() + _ICON_PADDING)
            self._extra.addWidget(button)
            self._extra_buttons.append((button, action not in icon_only))

    def add_strip(self, strip: QWidget) -> None:
        """Put a strip under the track, with the track's margins (so frame x lines up): the review strip."""
        row = QHBoxLayout()
        row.setContentsMargins(4, 0, 4, 2)
        row.addWidget(strip)
        outer = self.layout()
        assert isinstance(outer, QVBoxLayout)
        outer.insertLayout(1, row)

    @property
    def compact(self) -> bool:
        """The propagation buttons show icons only (the window is narrow)."""
        return self._compact

    def _full_width(self) -> int:
        """Width the control row needs with the buttons' text and the whole frame name."""
        extras = sum(_text_width(b) if has_text else b.sizeHint().width() for b, has_text in self._extra_buttons)
        transport = sum(
            b.sizeHint().width()
            for b in (self.first_button, self.prev_button, self.play_button, self.next_button, self.last_button)
        )
        return transport + extras + self.counter.full_width() + _ROW_SPACING

    def resizeEvent(self, event) -> None:
        compact = self.width() < self._full_width()
        if compact != self._compact:
            self._compact = compact
            for button, has_text in self._extra_buttons:
                if has_text:
                    button.setToolButtonStyle(
                        Qt.ToolButtonStyle.ToolButtonIconOnly
                        if compact
                        else Qt.ToolButtonStyle.ToolButtonTextBesideIcon
                    )

        super().resizeEvent(event)

    def _button(self, icon, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setIcon(icon)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.setIconSize(QSize(16, 16))
        return button

    # ------------------------------------------------------------------ state
    def set_current(self, index: int) -> None:
        """Show `index` as the current frame."""
        self.track.current = index
        n = len(self.names)
        self.counter.show_frame(self.names[index] if 0 <= index < n else "", index)
        self.track.update()

    def set_references(self, frames: Iterable[int]) -> None:
        """Mark the reference frames."""
        self.track.references = sorted(frames)
        self.track.update()

    def set_suggestions(self, frames: Iterable[int]) -> None:
        """Mark the suggested frames."""
        self.track.suggestions = list(frames)
        self.track.update()

    def set_masked(self, frames: Iterable[int]) -> None:
        """Frames that have a mask."""
        self.track.masked = set(frames)
        self.track.update()

    def add_masked(self, frame: int) -> None:
        """One more frame has a mask."""
        if frame not in self.track.masked:
            self.track.masked.add(frame)
            self.track.update()

    def set_running(self, span: tuple[int, int] | None) -> None:
        """Show the span a running job covers (None: no job)."""
        self.track.running = span
        self.track.update()

    # ------------------------------------------------------------------ playback
    @property
    def playing(self) -> bool:
        """True during playback."""
        return self._timer.isActive()

    def toggle_play(self) -> None:
        """Start or stop playback."""
        self.play_button.setChecked(not self.play_button.isChecked())

    def stop(self) -> None:
        """Stop playback."""
        self.play_button.setChecked(False)

    def _toggled(self, on: bool) -> None:
        self.play_button.setIcon(icon("stop" if on else "play"))
        if on:
            self._timer.start()
        else:
            self._timer.stop()

    def _tick(self) -> None:
        nxt = self.track.current + 1
        if nxt >= len(self.names):
            self.stop()
            return
        self.frameRequested.emit(nxt)
