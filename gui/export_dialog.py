"""The export dialog: index masks, soft mattes (8/16-bit), binary masks per object, overlay images and
an overlay video, written by the same writers as `xmempp process` (`xmempp.io.writers.ResultWriter`),
the soft ones refined against the frames when asked (`RefineControls`: the core's refine stage).
Its choices are remembered per workspace (the GUI settings' "export" entry)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                             QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMessageBox,
                             QProgressBar, QPushButton, QRadioButton, QVBoxLayout, QWidget)

from xmempp.errors import XMemppError
from xmempp.io.writers import WriterOptions
from xmempp.refine.pymatting_loader import pymatting_available

from .job_runner import JobRunner, JobState
from .project import Project
from .refine_controls import RefineControls
from .remedies import CONTROLS, gui_message
from .review_panel import confirm_stale_export
from .workers import ExportRequest, ExportWorker

__all__ = ["ExportDialog"]


class ExportDialog(QDialog):
    """Choose what to write and where; runs the export in a worker thread with a progress bar."""

    def __init__(self, project: Project, parent: Optional[QWidget] = None,
                 on_weights_error=None, runner: Optional[JobRunner] = None) -> None:
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
        self.setMinimumWidth(640)
        self.runner = runner if runner is not None else JobRunner(self)
        self.result_frames: Optional[int] = None

        ws = project.workspace
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
        rows = ((self.masks, "masks/<frame>.png", "Index PNGs with the original object ids and colours"),
                (self.alpha, "alpha/<id>/<frame>.png", "One soft matte per object"),
                (self.exr, "layers/matte.<n>.exr", "One EXR per frame, a channel <object name>.A per object"),
                (self.cryptomatte, "cryptomatte/cryptomatte.<n>.exr", "The objects as a Cryptomatte layer, by name"),
                (self.foreground, "foreground/<id>/<frame>.png, rgba/<id>/<frame>.exr",
                 "Each object's colour without the old background's fringe, and a premultiplied RGBA EXR that "
                 "composites over a new background (with its soft matte)"),
                (self.binary, "binary/<id>/<frame>.png", "One 0 / 255 mask per object"),
                (self.overlay, "overlay/<frame>.jpg", "Each frame with the masks blended in"),
                (self.video, "overlay.mp4", "The overlay images as a video"))
        for row, (box, hint, tip) in enumerate(rows):
            label = QLabel(hint, self)
            label.setObjectName("hint")
            box.setToolTip(tip)
            label.setToolTip(tip)
            grid.addWidget(box, row, 0)
            grid.addWidget(label, row, 1)
        grid.addWidget(self.alpha_bits, 1, 2)
        self.alpha_bits.setEnabled(False)
        self.alpha.toggled.connect(self.alpha_bits.setEnabled)
        self.foreground.toggled.connect(lambda on: on and self.alpha.setChecked(True))  # colour needs its matte
        if not pymatting_available():
            self.foreground.setEnabled(False)
            self.foreground.setToolTip("Needs pymatting: pip install 'xmempp[matting]'")
        self.refine = RefineControls(self)
        for soft in (self.alpha, self.exr, self.cryptomatte):
            soft.toggled.connect(self._soft_outputs_changed)
        self._soft_outputs_changed()

        source_box = QGroupBox("Masks from", self)
        source = QVBoxLayout(source_box)
        self.from_saved = QRadioButton("The masks in the workspace, as shown (hard edges)", self)
        self.from_propagation = QRadioButton("A new propagation from the references (soft edges)", self)
        self.from_propagation.setToolTip("Propagates the references again with the current settings to get soft "
                                         "mattes; needs the XMem weights")
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
            self.upscale.setText(f"Write at the source size {src[1]}x{src[0]} (workspace is {w}x{h})")
            self.upscale.setChecked(True)
        else:
            self.upscale.setEnabled(False)
            self.upscale.setVisible(False)
        self.overwrite = QCheckBox(CONTROLS["overwrite"][0], self)
        self.overwrite.setToolTip("Replace results xmempp wrote earlier in that folder")
        options.addRow(self.upscale)
        options.addRow(self.overwrite)

        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        self.status = QLabel(self)
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Cancel, self)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.AcceptRole)
        self.export_button.setObjectName("primaryButton")
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self._cancel)

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Output folder", self))
        layout.addLayout(folder_row)
        layout.addWidget(what)
        layout.addWidget(self.refine)
        layout.addWidget(source_box)
        layout.addLayout(options)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self._load_choices()

    def _soft_outputs_changed(self) -> None:
        """The refine controls are on while a soft output (mattes, EXR layers, Cryptomatte) is ticked."""
        self.refine.set_soft_outputs(self.alpha.isChecked() or self.exr.isChecked() or self.cryptomatte.isChecked())

    # ------------------------------------------------------------------ remembered choices
    def _boxes(self) -> dict[str, QCheckBox]:
        return {"masks": self.masks, "alpha": self.alpha, "exr": self.exr, "cryptomatte": self.cryptomatte,
                "foreground": self.foreground, "binary": self.binary,
                "overlay": self.overlay, "video": self.video, "overwrite": self.overwrite, "upscale": self.upscale}

    def choices(self) -> dict:
        """The dialog's choices as saved in the workspace."""
        data = {name: box.isChecked() for name, box in self._boxes().items()}
        data.update(folder=self.folder.text(), alpha_bits=int(self.alpha_bits.currentData()),
                    source="propagate" if self.from_propagation.isChecked() else "saved")
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
        self.refine.load(saved)

    def _save_choices(self) -> None:
        self.project.settings.export = self.choices()
        self.project.save_settings()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.folder.text())
        if folder:
            self.folder.setText(folder)

    @property
    def worker(self) -> Optional[ExportWorker]:
        """The running export, or None."""
        return self.runner.worker  # type: ignore[return-value]

    def request(self) -> ExportRequest:
        """The export the dialog describes (`XMemppError` for impossible options)."""
        out = Path(self.folder.text()).expanduser()
        options = WriterOptions(
            masks=self.masks.isChecked(), alpha=self.alpha.isChecked(), alpha_bits=int(self.alpha_bits.currentData()),
            binary=self.binary.isChecked(), overlay=self.overlay.isChecked(), exr_layers=self.exr.isChecked(),
            cryptomatte=self.cryptomatte.isChecked(), foreground=self.foreground.isChecked(),
            object_names=self._object_names(),
            preview=(out / "overlay.mp4") if self.video.isChecked() else None,
            overlay_opacity=float(self.project.settings.opacity))
        return ExportRequest(out, options, source="propagate" if self.from_propagation.isChecked() else "saved",
                             upscale=self.upscale.isEnabled() and self.upscale.isChecked(),
                             overwrite=self.overwrite.isChecked(), refine=self.refine.settings())

    def _object_names(self) -> dict[int, str]:
        """Original object id -> the artist's name, for the EXR layers and Cryptomatte (unnamed ones left out)."""
        names = self.project.workspace.info.object_names or []
        return {oid: name for oid, name in zip(self.project.object_ids, names) if name}

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
            self.status.setText("Not exported: some masks are stale (propagate again, or take the masks from "
                                "“A new propagation”).")
            return
        p = self.project
        references = {f: p.mask(f).copy() for f in p.references}
        worker = ExportWorker(request, p.engine, p.workspace, p.object_ids, p.output_palette(), references,
                              p.config, p.settings.mode)
        worker.progress.connect(self._progress)
        worker.failed.connect(self._failed)
        worker.finished.connect(self._finished)
        self.progress.setVisible(True)
        self.progress.setRange(0, len(p))
        self.progress.setValue(0)
        self.export_button.setEnabled(False)
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
            self.status.setText(f"Wrote {written} frames to {self.request().out_dir}.")
            self.progress.setValue(self.progress.maximum())
            self.buttons.button(QDialogButtonBox.Cancel).setText("Close")

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
        if event.key() == Qt.Key_Escape and self.runner.busy:
            self._cancel()
            return
        super().keyPressEvent(event)
