"""The File and Frame menus' dialogs: New workspace (from frames, a frame pattern or a video), the list
of recent workspaces, and Go to frame."""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import QSettings
from PyQt5.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from xmempp.errors import XMemppError
from xmempp.io.workspace import DEFAULT_PROCESSING_SIZE

from .launch import default_name, workspace_from_source
from .remedies import gui_message

__all__ = ["MAX_RECENT", "NewWorkspaceDialog", "RecentWorkspaces", "ask_frame", "parse_frame"]

#: Workspaces listed under File > Open Recent.
MAX_RECENT = 10
_RECENT_KEY = "recent_workspaces"
_VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.avi *.webm *.m4v);;All files (*)"


class RecentWorkspaces:
    """The recently opened workspaces, newest first, kept in the user's Qt settings."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.settings = settings if settings is not None else QSettings("xmempp", "xmempp")

    def paths(self) -> list[Path]:
        """Recent workspaces that still exist, newest first."""
        values = self.settings.value(_RECENT_KEY, [], type=list) or []
        return [Path(v) for v in values if isinstance(v, str) and (Path(v) / "images").is_dir()][:MAX_RECENT]

    def add(self, path: Path) -> None:
        """Put `path` first."""
        path = Path(path).resolve()
        rest = [str(p) for p in self.paths() if p.resolve() != path]
        self.settings.setValue(_RECENT_KEY, [str(path), *rest][:MAX_RECENT])
        self.settings.sync()


class NewWorkspaceDialog(QDialog):
    """Make a workspace from a folder of frames, a frame pattern (`plate.####.exr`) or a video file, with
    the code of `xmempp import`; `path` is the new (or reopened) workspace after `exec_()` accepts."""

    def __init__(self, root: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New workspace")
        self.path: Path | None = None
        self.source = QLineEdit(self)
        self.source.setPlaceholderText("a frame folder, a pattern such as /plates/shot.####.exr, or a video file")
        self.source.textChanged.connect(self._source_changed)
        folder_button = QPushButton("Frames…", self)
        folder_button.clicked.connect(self._browse_folder)
        video_button = QPushButton("Video…", self)
        video_button.clicked.connect(self._browse_video)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source, 1)
        source_row.addWidget(folder_button)
        source_row.addWidget(video_button)
        self.masks = QLineEdit(self)
        self.masks.setPlaceholderText("optional: a folder of masks to import as references")
        self.name = QLineEdit(self)
        self.root = QLineEdit(str(root), self)
        self.size_box = QSpinBox(self)
        self.size_box.setRange(0, 16384)
        self.size_box.setSpecialValueText("full size")
        self.size_box.setValue(DEFAULT_PROCESSING_SIZE)
        self.size_box.setSuffix(" px")
        self.size_box.setToolTip("Shorter side of the workspace frames; also the processing size")
        self.size_box.setKeyboardTracking(False)
        self.keep_size = QCheckBox("Keep the frames at full size", self)
        self.keep_size.toggled.connect(lambda on: self.size_box.setEnabled(not on))
        form = QFormLayout()
        form.addRow("Frames", source_row)
        form.addRow("Masks", self.masks)
        form.addRow("Name", self.name)
        form.addRow("Folder", self.root)
        form.addRow("Size", self.size_box)
        form.addRow(self.keep_size)
        self.error = QLabel(self)
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Cancel, self)
        self.create_button = buttons.addButton("Create", QDialogButtonBox.AcceptRole)
        buttons.accepted.connect(self.create_workspace)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _source_changed(self, text: str) -> None:
        if text.strip():
            self.name.setPlaceholderText(default_name(Path(text.strip()).expanduser()))

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of frames")
        if folder:
            self.source.setText(folder)

    def _browse_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Video file", "", _VIDEO_FILTER)
        if path:
            self.source.setText(path)

    def create_workspace(self) -> None:
        """Create (or reopen) the workspace; errors are shown in the dialog, which then stays open."""
        text = self.source.text().strip()
        if not text:
            self.error.setText("Choose a folder of frames, a frame pattern or a video file.")
            return
        masks = self.masks.text().strip()
        size = None if self.keep_size.isChecked() or self.size_box.value() == 0 else int(self.size_box.value())
        try:
            self.path, _created = workspace_from_source(
                Path(text).expanduser(),
                Path(self.root.text()).expanduser(),
                self.name.text().strip() or None,
                Path(masks).expanduser() if masks else None,
                size,
            )
        except XMemppError as exc:
            self.error.setText(gui_message(exc))
            return
        self.accept()


def parse_frame(text: str, labels: list[str]) -> int | None:
    """The frame index for what the user typed: a frame number 1..N, or a frame name.

    Returns:
        The 0-based index, or None when it names no frame.
    """
    text = text.strip()
    if text in labels:
        return labels.index(text)
    if text.lstrip("-").isdigit():
        number = int(text)
        return number - 1 if 1 <= number <= len(labels) else None
    return None


def ask_frame(parent: QWidget, labels: list[str], current: int) -> int | None:
    """Frame > Go to frame: ask for a number or a name. Returns the index, or None (cancelled / unknown)."""
    text, ok = QInputDialog.getText(
        parent, "Go to frame", f"Frame number (1-{len(labels)}) or name:", QLineEdit.Normal, str(current + 1)
    )
    return parse_frame(text, labels) if ok else None
