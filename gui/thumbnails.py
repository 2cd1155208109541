"""Small frame + mask previews for the references and candidates panels (cached by mask version)."""
from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np
from PyQt5.QtGui import QIcon, QImage, QPixmap

from .overlay import composite
from .project import Project

__all__ = ["ThumbnailCache"]


class ThumbnailCache:
    """Thumbnails of frames with their masks, rebuilt only when a mask changes."""

    def __init__(self, project: Project, width: int = 150, height: int = 96, capacity: int = 256) -> None:
        self.project = project
        self.width = width
        self.height = height
        self.capacity = capacity
        self._cache: "OrderedDict[tuple[int, int, bool], QPixmap]" = OrderedDict()

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
            small = composite(small, mask, "blend", 0.55, self.project.palette, outline=True)
        small = np.ascontiguousarray(small)
        qimage = QImage(small.data, tw, th, 3 * tw, QImage.Format_RGB888).copy()
        pixmap = QPixmap.fromImage(qimage)
        self._cache[key] = pixmap
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return pixmap

    def icon(self, index: int, with_mask: bool = True) -> QIcon:
        """The thumbnail as an icon."""
        return QIcon(self.pixmap(index, with_mask))
