"""Small frame + mask previews (cached by mask version) and the thumbnail list that the References and
Candidates tabs both show."""

from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np
from PyQt5.QtCore import QSize, Qt, pyqtSignal
from PyQt5.QtGui import QIcon, QImage, QPixmap
from PyQt5.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from .overlay import composite
from .project import Project

__all__ = ["ThumbnailCache", "ThumbnailList"]


class ThumbnailCache:
    """Thumbnails of frames with their masks, rebuilt only when a mask changes."""

    def __init__(self, project: Project, width: int = 150, height: int = 96, capacity: int = 256) -> None:
        self.project = project
        self.width = width
        self.height = height
        self.capacity = capacity
        self._cache: OrderedDict[tuple[int, int, bool], QPixmap] = OrderedDict()

    def pixmap(self, index: int, with_mask: bool = True) -> QPixmap:
        """Thumbnail of frame `index` (with its mask blended in when `with_mask`)."""
        key = (index, self.project.version(index) if with_mask else -1, with_mask)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        image = self.project.image(index)
        h, w = image.shape[:2]
        scale = min(self.width / w, self.height / h)
        tw, th = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
        small = cv2.resize(np.asarray(image), (tw, th), interpolation=cv2.INTER_AREA)
        if with_mask:
            mask = cv2.resize(np.asarray(self.project.mask(index)), (tw, th), interpolation=cv2.INTER_NEAREST)
            mask = self.project.styles.visible_ids(mask)
            small = composite(small, mask, "blend", 0.55, self.project.display_palette, outline=True)
        small = np.ascontiguousarray(small)
        # PyQt5 takes any buffer; its stubs know bytes and voidptr only
        qimage = QImage(small.data, tw, th, 3 * tw, QImage.Format_RGB888).copy()  # type: ignore[call-overload]
        pixmap = QPixmap.fromImage(qimage)
        self._cache[key] = pixmap
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return pixmap

    def clear(self) -> None:
        """Forget every thumbnail (object colours or visibility changed)."""
        self._cache.clear()

    def icon(self, index: int, with_mask: bool = True) -> QIcon:
        """The thumbnail as an icon."""
        return QIcon(self.pixmap(index, with_mask))


class ThumbnailList(QListWidget):
    """Frames as a grid of thumbnails; a click asks to jump to the frame.

    Signals:
        frameClicked(int): a thumbnail was clicked.
    """

    frameClicked = pyqtSignal(int)

    def __init__(self, thumbnails: ThumbnailCache, parent: QWidget) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.setViewMode(QListView.IconMode)
        self.setIconSize(QSize(thumbnails.width, thumbnails.height))
        self.setResizeMode(QListView.Adjust)
        self.setMovement(QListView.Static)
        self.setSpacing(6)
        self.setWordWrap(True)
        self.setSelectionMode(QListWidget.SingleSelection)
        self.itemClicked.connect(lambda item: self.frameClicked.emit(self.frame_of(item)))

    @staticmethod
    def frame_of(item: QListWidgetItem) -> int:
        """The frame a thumbnail shows."""
        return int(item.data(Qt.ItemDataRole.UserRole))

    def set_frames(self, frames: list[tuple[int, str, str]], with_mask: bool = True) -> None:
        """Show these frames, each as (frame, label, tooltip), keeping the selected one selected."""
        selected = self.selected
        self.clear()
        for frame, label, tip in frames:
            item = QListWidgetItem(self.thumbnails.icon(frame, with_mask=with_mask), label)
            item.setData(Qt.ItemDataRole.UserRole, frame)
            item.setToolTip(tip)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.addItem(item)
            if frame == selected:
                item.setSelected(True)

    def _items(self):
        return (self.item(row) for row in range(self.count()))

    def update_frame(self, frame: int) -> None:
        """A frame's mask changed: redraw its thumbnail if it is listed."""
        for item in self._items():
            if self.frame_of(item) == frame:
                item.setIcon(self.thumbnails.icon(frame))

    def select_frame(self, frame: int) -> None:
        """Select the thumbnail of `frame` (none if it is not listed), without emitting signals."""
        self.blockSignals(True)
        self.clearSelection()
        for item in self._items():
            if self.frame_of(item) == frame:
                item.setSelected(True)
                self.scrollToItem(item)
        self.blockSignals(False)

    @property
    def selected(self):
        """The selected frame, or None."""
        items = self.selectedItems()
        return self.frame_of(items[0]) if items else None
