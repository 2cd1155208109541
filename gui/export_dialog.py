"""The export dialog: index masks, soft mattes (8/16-bit), binary masks per object, overlay images and
an overlay video, written by the same writers as `xmempp process` (`xmempp.io.writers.ResultWriter`),
the soft ones refined against the frames when asked (`RefineControls`: the core's refine stage), for a
range of frames and a choice of objects. The labels show the file names and EXR channels really written
(from the frames' names and the objects' names as the object list shows them); a reference frame drawn
with the spline tool writes its shapes' soft matte. Its choices are remembered per workspace (the GUI
settings' "export" entry).

It fits a 1280x720 screen: the options scroll in two columns above a fixed strip of progress, status and
buttons, so the buttons never move while options open, close or an export runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt5.QtCore import Qt, QUrl
from PyQt5.QtGui import QDesktopServices
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from xmempp.errors import InputError, XMemppError
from xmempp.io.writers import WriterOptions

from .job_runner import JobRunner, JobState
from .project import Project
from .refine_controls import RefineControls
from .remedies import CONTROLS, gui_message
from .review_panel import confirm_stale_export
from .soft_paint_store import SoftPaintStore, soft_keyframes
from .spline_tool import ShapeStore
from .workers import ExportRequest, ExportWorker

__all__ = ["MAX_SIZE", "ExportDialog"]

#: The dialog's largest size: it fits a 1280x720 screen with its title bar and a panel.
MAX_SIZE = (1000, 640)


class ExportDialog(QDialog):
    """Choose what to write and where; runs the export in a worker thread with a progress bar."""

    def __init__(
        self, project: Project, parent: QWidget | None = None, on_weights_error=None, runner: JobRunner | None = None
    ) -> None:
        """Arguments:
        project: the opened workspace.
        parent: parent widget.
        on_weights_error: shows a weights error (default: a warning box).
        runner: the window's job runner, so the window shows the export as its state (default: the
            dialog's own).
        """
        super().__init__(parent)
        self.project = project
        self.on_weights_error = on_weights_error
        self.setWindowTitle("Export")
        self.runner = runner if runner is not None else JobRunner(self)
        self.result_frames: int | None = None
        self.opener: Callable[[QUrl], bool] = QDesktopServices.openUrl  # shows a folder (tests record it)

        ws = project.workspace
        self.stems = list(ws.info.source_names or ws.names)
        default = ws.path / "export"
        self.folder = QLineEdit(str(default), self)
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)

        what = QGroupBox("Write", self)
        grid = QGridLayout(what)
        grid.setColumnStretch(1, 1)
        self.masks = QCheckBox("Index masks", self)
        self.masks.setChecked(True)
        self.alpha = QCheckBox("Soft mattes", self)
        self.alpha_bits = QComboBox(self)
        self.alpha_bits.addItem("8-bit", 8)
        self.alpha_bits.addItem("16-bit", 16)
        self.exr = QCheckBox("EXR layers", self)
        self.cryptomatte = QCheckBox("Cryptomatte", self)
        self.foreground = QCheckBox("Foreground colour", self)
        self.binary = QCheckBox("Binary masks", self)
        self.overlay = QCheckBox("Overlay images", self)
        self.video = QCheckBox("Overlay video", self)
        rows = (
            (self.masks, "Index PNGs with the original object ids and colours"),
            (self.alpha, "One soft matte per object"),
            (self.exr, "One EXR per frame, a channel <object name>.A per object"),
            (self.cryptomatte, "The objects as a Cryptomatte layer, by name"),
            (
                self.foreground,
                "Each object's colour without the old background's fringe, and a premultiplied "
                "RGBA EXR that composites over a new background (with its soft matte)",
            ),
            (self.binary, "One 0 / 255 mask per object"),
            (self.overlay, "Each frame with the masks blended in"),
            (self.video, "The overlay images as a video"),
        )
        self.hints: dict[QCheckBox, QLabel] = {}
        for row, (box, tip) in enumerate(rows):
            label = QLabel(self)
            label.setObjectName("hint")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            box.setToolTip(tip)
            grid.addWidget(box, row, 0)
            grid.addWidget(label, row, 1)
            self.hints[box] = label
        grid.addWidget(self.alpha_bits, 1, 2)
        self.alpha_bits.setEnabled(False)
        self.alpha.toggled.connect(self.alpha_bits.setEnabled)
        self.foreground.toggled.connect(self._foreground_toggled)
        self.refine = RefineControls(self)
        for soft in (self.alpha, self.exr, self.cryptomatte):
            soft.toggled.connect(self._soft_outputs_changed)
        self._soft_outputs_changed()

        frames_box = QGroupBox("Frames", self)
        frames = QGridLayout(frames_box)
        self.all_frames = QRadioButton(f"All {len(project)} frames", self)
        self.frame_range = QRadioButton("From", self)
        self.first_frame, self.last_frame = QSpinBox(self), QSpinBox(self)
        for box, value in ((self.first_frame, 1), (self.last_frame, len(project))):
            box.setRange(1, len(project))
            box.setValue(value)
            box.setToolTip("Frame number, 1 to the shot's length (the timeline's numbering)")
            box.valueChanged.connect(self._range_changed)
        self.all_frames.setChecked(True)
        range_group = QButtonGroup(self)
        range_group.addButton(self.all_frames)
        range_group.addButton(self.frame_range)
        self.frame_range.toggled.connect(self._range_changed)
        self.range_names = QLabel(self)
        self.range_names.setObjectName("hint")
        frames.addWidget(self.all_frames, 0, 0, 1, 4)
        frames.addWidget(self.frame_range, 1, 0)
        frames.addWidget(self.first_frame, 1, 1)
        frames.addWidget(QLabel("to", self), 1, 2)
        frames.addWidget(self.last_frame, 1, 3)
        frames.addWidget(self.range_names, 2, 0, 1, 4)

        objects_box = QGroupBox("Objects", self)
        objects = QVBoxLayout(objects_box)
        self.objects = QListWidget(self)
        self.objects.setSelectionMode(QAbstractItemView.NoSelection)
        for k, oid in enumerate(project.object_ids, start=1):
            item = QListWidgetItem(f"{project.object_name(k)}  (id {oid})", self.objects)
            item.setFlags(Qt.ItemFlags(Qt.ItemFlag.ItemIsEnabled) | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            item.setData(Qt.ItemDataRole.UserRole, k)
        self.objects.setMaximumHeight(min(110, 8 + 22 * max(1, self.objects.count())))
        self.objects.itemChanged.connect(lambda _item: self._update_hints())
        objects.addWidget(self.objects)

        source_box = QGroupBox("Masks from", self)
        source = QVBoxLayout(source_box)
        self.from_saved = QRadioButton("The workspace's masks, as shown (hard edges)", self)
        self.from_propagation = QRadioButton("A new propagation (soft edges)", self)
        self.from_propagation.setToolTip(
            "Propagates the references again with the current settings to get soft mattes; needs the XMem weights"
        )
        self.from_saved.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.from_saved)
        group.addButton(self.from_propagation)
        source.addWidget(self.from_saved)
        source.addWidget(self.from_propagation)

        options = QFormLayout()
        self.upscale = QCheckBox(self)
        src = ws.info.source_size
        h, w = project.size
        if src is not None and src != (h, w):
            self.upscale.setText(f"Write at the source size {src[1]}x{src[0]}")
            self.upscale.setToolTip(f"The workspace holds the frames at {w}x{h}")
            self.upscale.setChecked(True)
        else:
            self.upscale.setEnabled(False)
            self.upscale.setVisible(False)
        self.overwrite = QCheckBox(CONTROLS["overwrite"][0], self)
        self.overwrite.setToolTip("Replace results xmempp wrote earlier in that folder")
        self.open_folder = QCheckBox("Open the folder when done", self)
        options.addRow(self.upscale)
        options.addRow(self.overwrite)
        options.addRow(self.open_folder)

        # the options scroll in two columns; progress, status and buttons below them never move
        content = QWidget(self)
        columns = QHBoxLayout(content)
        left, right = QVBoxLayout(), QVBoxLayout()
        left.addWidget(QLabel("Output folder", self))
        left.addLayout(folder_row)
        left.addWidget(what)
        left.addWidget(frames_box)
        left.addWidget(objects_box)
        left.addStretch(1)
        right.addWidget(self.refine)
        right.addWidget(source_box)
        right.addLayout(options)
        right.addStretch(1)
        columns.addLayout(left, 3)
        columns.addLayout(right, 2)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.NoFrame)
        self.scroll_area.setWidget(content)

        self.progress = QProgressBar(self)
        policy = self.progress.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # appearing, it takes space already kept for it
        self.progress.setSizePolicy(policy)
        self.progress.setVisible(False)
        self.status = QLabel(self)
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
        self.status.setFixedHeight(2 * self.status.fontMetrics().lineSpacing() + 4)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Cancel, self)
        cancel = self.buttons.button(QDialogButtonBox.Cancel)
        assert cancel is not None  # the box was made with it
        self.cancel_button = cancel
        self.export_button = QPushButton("Export", self)
        self.buttons.addButton(self.export_button, QDialogButtonBox.AcceptRole)
        self.export_button.setObjectName("primaryButton")
        self.open_button = QPushButton("Open folder", self)
        self.buttons.addButton(self.open_button, QDialogButtonBox.ActionRole)
        self.open_button.setEnabled(False)
        self.open_button.setToolTip("Show the exported files")
        self.open_button.clicked.connect(self._open_clicked)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self._cancel)

        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll_area, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self._load_choices()
        self._range_changed()
        self._fitted = False
        self._fit_screen()

    def showEvent(self, event) -> None:
        if not self._fitted:  # styled and laid out now: the options' real size is known
            self._fitted = True
            self._fit_screen()
        super().showEvent(event)

    def _fit_screen(self) -> None:
        """`MAX_SIZE` wide and as high as the options, at most `MAX_SIZE` and the screen's (the options scroll
        beyond it)."""
        content = self.scroll_area.widget()
        assert content is not None  # set when the dialog is built
        self.ensurePolished()
        content.ensurePolished()
        width, height = MAX_SIZE
        parent = self.parentWidget()
        screen = (parent.screen() if parent is not None else None) or QApplication.primaryScreen()
        if screen is not None:
            available = screen.availableGeometry()
            width, height = min(width, available.width() - 40), min(height, available.height() - 40)
        hint = content.sizeHint()
        fixed = self.progress.sizeHint().height() + self.status.height() + self.buttons.sizeHint().height() + 60
        self.resize(width, min(height, hint.height() + fixed))  # the full width: options that open need it

    def _range_changed(self, *_args) -> None:
        on = self.frame_range.isChecked()
        self.first_frame.setEnabled(on)
        self.last_frame.setEnabled(on)
        first, last = self.frames()
        self.range_names.setText(f"{last - first + 1} frames: {self.stems[first]} … {self.stems[last]}")
        self._update_hints()

    def frames(self) -> tuple[int, int]:
        """(first, last) frame index written, both included."""
        if not self.frame_range.isChecked():
            return 0, len(self.stems) - 1
        a, b = self.first_frame.value() - 1, self.last_frame.value() - 1
        return min(a, b), max(a, b)

    def chosen_objects(self) -> list[int]:
        """Workspace ids (1..K) of the ticked objects."""
        items = [self.objects.item(i) for i in range(self.objects.count())]
        return [
            item.data(Qt.ItemDataRole.UserRole)
            for item in items
            if item is not None and item.checkState() == Qt.CheckState.Checked
        ]

    def _update_hints(self) -> None:
        """The names of the files and channels the export writes, from the first frame and the chosen objects."""
        stem = self.stems[self.frames()[0]]
        chosen = self.chosen_objects()
        ids = [str(self.project.object_ids[k - 1]) for k in chosen]
        folder = ids[0] if len(ids) == 1 else "{" + ",".join(ids) + "}" if ids else "<id>"
        names = self._object_names()
        channels = ", ".join(f"{names[int(i)]}.A" for i in ids) or "none"
        hints = {
            self.masks: f"masks/{stem}.png …",
            self.alpha: f"alpha/{folder}/{stem}.png …",
            self.exr: f"layers/{stem}.exr … (channels {channels})",
            self.cryptomatte: f"cryptomatte/{stem}.exr …",
            self.foreground: f"foreground/{folder}/{stem}.png …, rgba/{folder}/{stem}.exr …",
            self.binary: f"binary/{folder}/{stem}.png …",
            self.overlay: f"overlay/{stem}.jpg …",
            self.video: "overlay.mp4",
        }
        for box, text in hints.items():
            label = self.hints[box]
            label.setText(text)
            label.setToolTip(f"{box.toolTip()}\nWrites {text}")

    def _soft_outputs_changed(self) -> None:
        """The refine controls are on while a soft output (mattes, EXR layers, Cryptomatte) is ticked."""
        self.refine.set_soft_outputs(self.alpha.isChecked() or self.exr.isChecked() or self.cryptomatte.isChecked())

    # ------------------------------------------------------------------ remembered choices
    def _boxes(self) -> dict[str, QCheckBox]:
        return {
            "masks": self.masks,
            "alpha": self.alpha,
            "exr": self.exr,
            "cryptomatte": self.cryptomatte,
            "foreground": self.foreground,
            "binary": self.binary,
            "overlay": self.overlay,
            "video": self.video,
            "overwrite": self.overwrite,
            "upscale": self.upscale,
        }

    def choices(self) -> dict:
        """The dialog's choices as saved in the workspace."""
        data: dict[str, Any] = {name: box.isChecked() for name, box in self._boxes().items()}
        data.update(open_folder=self.open_folder.isChecked())
        data.update(
            folder=self.folder.text(),
            alpha_bits=int(self.alpha_bits.currentData()),
            source="propagate" if self.from_propagation.isChecked() else "saved",
        )
        data.update(self.refine.choices())
        return data

    def _load_choices(self) -> None:
        saved = self.project.settings.export
        for name, box in self._boxes().items():
            if isinstance(saved.get(name), bool) and box.isEnabled():
                box.setChecked(saved[name])
        if isinstance(saved.get("folder"), str) and saved["folder"]:
            self.folder.setText(saved["folder"])
        index = self.alpha_bits.findData(saved.get("alpha_bits"))
        if index >= 0:
            self.alpha_bits.setCurrentIndex(index)
        (self.from_propagation if saved.get("source") == "propagate" else self.from_saved).setChecked(True)
        self.open_folder.setChecked(saved.get("open_folder") is True)
        self.refine.load(saved)

    def _save_choices(self) -> None:
        self.project.settings.export = self.choices()
        self.project.save_settings()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.folder.text())
        if folder:
            self.folder.setText(folder)

    @property
    def worker(self) -> ExportWorker | None:
        """The running export, or None."""
        return self.runner.worker  # type: ignore[return-value]

    def request(self) -> ExportRequest:
        """The export the dialog describes (`XMemppError` for impossible options)."""
        out = Path(self.folder.text()).expanduser()
        options = WriterOptions(
            masks=self.masks.isChecked(),
            alpha=self.alpha.isChecked(),
            alpha_bits=int(self.alpha_bits.currentData()),
            binary=self.binary.isChecked(),
            overlay=self.overlay.isChecked(),
            exr_layers=self.exr.isChecked(),
            cryptomatte=self.cryptomatte.isChecked(),
            foreground=self.foreground.isChecked(),
            object_names=self._object_names(),
            preview=(out / "overlay.mp4") if self.video.isChecked() else None,
            overlay_opacity=float(self.project.settings.opacity),
        )
        chosen = self.chosen_objects()
        if not chosen:
            raise InputError("no object is ticked under Objects: tick at least one to export")
        p = self.project
        references = set(p.references)
        store = ShapeStore(p.workspace.path, len(p))
        if store.problem is not None:  # its keyframes would silently lose their soft edges
            raise InputError(f"{store.problem}; the spline keyframes' soft mattes cannot be written until it is fixed")
        keyframes = {f: store.shapes(f) for f in store.frames if f in references}
        soft = soft_keyframes(SoftPaintStore(p.workspace.path, p.size), sorted(references), p.mask, store.shapes)
        return ExportRequest(
            out,
            options,
            source="propagate" if self.from_propagation.isChecked() else "saved",
            upscale=self.upscale.isEnabled() and self.upscale.isChecked(),
            overwrite=self.overwrite.isChecked(),
            refine=self.refine.settings(),
            frames=self.frames() if self.frame_range.isChecked() else None,
            objects=tuple(chosen) if len(chosen) < self.objects.count() else None,
            keyframes=keyframes,
            soft_keyframes=soft,
        )

    def _object_names(self) -> dict[int, str]:
        """Original object id -> the name the object list shows (the artist's, else "object <id>"), for the EXR
        channels and Cryptomatte: what the dialog shows is what is written."""
        return {oid: self.project.object_name(k) for k, oid in enumerate(self.project.object_ids, start=1)}

    def start(self) -> None:
        """Start writing (the dialog stays open with a progress bar)."""
        if self.runner.busy:
            return
        self._save_choices()
        try:
            request = self.request()
        except XMemppError as exc:
            self.status.setText(gui_message(exc))
            return
        o = request.options
        if not (o.masks or o.alpha or o.exr_layers or o.cryptomatte or o.binary or o.overlay or o.preview):
            self.status.setText("Choose at least one kind of output.")
            return
        if request.source == "saved" and not confirm_stale_export(self, self.project):
            self.status.setText(
                "Not exported: some masks are stale (propagate again, or take the masks from “A new propagation”)."
            )
            return
        p = self.project
        references = {f: p.mask(f).copy() for f in p.references}
        worker = ExportWorker(
            request, p.engine, p.workspace, p.object_ids, p.output_palette(), references, p.config, p.settings.mode
        )
        worker.progress.connect(self._progress)
        worker.failed.connect(self._failed)
        worker.finished.connect(self._finished)
        self.progress.setVisible(True)
        first, last = request.frames or (0, len(p) - 1)
        self.progress.setRange(0, last - first + 1)
        self.progress.setValue(0)
        self.export_button.setEnabled(False)
        self.open_button.setEnabled(False)
        self.status.setText(f"Writing to {request.out_dir} …")
        self.runner.start(JobState.exporting, worker)

    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _failed(self, message: str, weights: bool) -> None:
        if weights and self.on_weights_error is not None:
            self.on_weights_error(message)
        else:
            QMessageBox.warning(self, "Export failed", message)
        self.status.setText("Export failed: " + message.splitlines()[0])

    def _finished(self, written) -> None:
        self.export_button.setEnabled(True)
        self.result_frames = written
        if written is not None:
            self.status.setText(f"Wrote {written} frames to {Path(self.folder.text()).expanduser()}.")
            self.progress.setValue(self.progress.maximum())
            self.cancel_button.setText("Close")
            self.open_button.setEnabled(True)
            if self.open_folder.isChecked():
                self.show_folder()

    def _open_clicked(self, _checked: bool = False) -> None:
        self.show_folder()

    def _foreground_toggled(self, on: bool) -> None:
        if on:  # the colour needs its matte
            self.alpha.setChecked(True)

    def show_folder(self) -> bool:
        """Open the output folder in the desktop's file browser. Returns False when it could not be opened."""
        folder = Path(self.folder.text()).expanduser()
        if not folder.is_dir():
            self.status.setText(f"{folder} does not exist (yet).")
            return False
        return bool(self.opener(QUrl.fromLocalFile(str(folder))))

    def _cancel(self) -> None:
        if self.runner.busy:
            self.runner.stop()
            self.status.setText("Stopping… (files already written are complete)")
            return
        self.reject()

    def wait(self, timeout_ms: int = 60000) -> None:
        """Block until a running export ends (tests, closing the window)."""
        self.runner.wait(timeout_ms)

    def closeEvent(self, event) -> None:
        if self.runner.busy:
            self.runner.stop()
            self.wait()
        super().closeEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and self.runner.busy:
            self._cancel()
            return
        super().keyPressEvent(event)
