"""The export dialog at 1280x720 (issue 33): it fits with Advanced open and during an export, its buttons stay
where they are while options change; a frame range, a choice of objects, "open the folder" when done; labels
that show the files and EXR channels really written."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PyQt5")

from PIL import Image
from PyQt5.QtWidgets import QApplication

from guihelpers import N, disc_mask, make_workspace, open_window

pytestmark = pytest.mark.usefixtures("private_qt_settings")

DIALOG_MAX_H, SCREEN_W = 680, 1280


@pytest.fixture(autouse=True)
def laptop_screen(monkeypatch):
    """The screen the dialogs size themselves for: 1280x720 (offscreen Qt's own is 800x600)."""
    from PyQt5.QtCore import QRect
    from PyQt5.QtGui import QScreen

    monkeypatch.setattr(QScreen, "availableGeometry", lambda self: QRect(0, 0, 1280, 720))


def two_object_workspace(tmp_path):
    mask = disc_mask(0, 7)
    mask[:10, :20] = 9
    return make_workspace(tmp_path, masks={0: mask})


def button_spots(dialog):
    return [b.mapToGlobal(b.rect().topLeft()) for b in (dialog.export_button, dialog.buttons.buttons()[0])]


def test_dialog_fits_and_buttons_stay_put(qtbot, tmp_path):
    from xmempp.gui.export_dialog import ExportDialog

    window = open_window(qtbot, two_object_workspace(tmp_path), size=(1280, 680))
    dialog = ExportDialog(window.project, window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.height() <= DIALOG_MAX_H and dialog.width() <= SCREEN_W, dialog.size()
    assert dialog.height() > 560  # sized for this screen, not offscreen Qt's 800x600
    spots = button_spots(dialog)
    for box in (dialog.alpha, dialog.exr, dialog.cryptomatte, dialog.binary, dialog.overlay, dialog.video):
        box.setChecked(True)
    dialog.refine.advanced.setChecked(True)  # Advanced open
    dialog.frame_range.setChecked(True)
    dialog.from_propagation.setChecked(True)
    dialog.progress.setVisible(True)  # what an export shows
    dialog.status.setText("Writing to a folder with a long name " * 4)
    QApplication.processEvents()
    assert dialog.height() <= DIALOG_MAX_H and dialog.width() <= SCREEN_W, dialog.size()
    assert button_spots(dialog) == spots  # a click aimed at Export still lands on Export
    assert dialog.scroll_area.widget().width() <= dialog.scroll_area.viewport().width()  # scrolls up and down only
    for button in dialog.buttons.buttons():
        top_left = button.mapTo(dialog, button.rect().topLeft())
        assert top_left.y() >= 0 and top_left.y() + button.height() <= dialog.height()
    window.close()


def test_labels_name_the_files_and_channels_written(qtbot, tmp_path):
    from xmempp.gui.export_dialog import ExportDialog

    window = open_window(qtbot, two_object_workspace(tmp_path))
    project = window.project
    project.rename_object(2, "hair")
    dialog = ExportDialog(project, window)
    first = project.labels[0]
    hint = dialog.hints[dialog.exr].text()
    assert f"layers/{first}.exr" in hint and "object 7.A" in hint and "hair.A" in hint
    assert "matte.<n>" not in hint and "obj7" not in hint
    assert dialog.hints[dialog.alpha].text() == f"alpha/{{7,9}}/{first}.png …"
    dialog.objects.item(1).setCheckState(0)  # untick hair
    assert dialog.hints[dialog.alpha].text() == f"alpha/7/{first}.png …"
    dialog.frame_range.setChecked(True)
    dialog.first_frame.setValue(3)
    assert dialog.hints[dialog.masks].text() == f"masks/{project.labels[2]}.png …"

    out = tmp_path / "out"
    dialog.folder.setText(str(out))
    dialog.all_frames.setChecked(True)
    dialog.objects.item(1).setCheckState(2)
    dialog.masks.setChecked(False)
    dialog.exr.setChecked(True)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=60_000)
    assert dialog.result_frames == N, dialog.status.text()
    import OpenImageIO as oiio

    written = sorted(p.name for p in (out / "layers").iterdir())
    assert written == [f"{name}.exr" for name in project.labels]  # the names the label showed
    spec = oiio.ImageInput.open(str(out / "layers" / written[0])).spec()
    assert sorted(spec.channelnames) == ["hair.A", "object 7.A"]  # the names the dialog showed
    window.close()


def test_frame_range_objects_and_open_folder(qtbot, tmp_path):
    from xmempp.gui.export_dialog import ExportDialog

    window = open_window(qtbot, two_object_workspace(tmp_path))
    dialog = ExportDialog(window.project, window)
    opened = []
    dialog.opener = lambda url: opened.append(url.toLocalFile()) or True
    out = tmp_path / "out"
    dialog.folder.setText(str(out))
    dialog.alpha.setChecked(True)
    dialog.frame_range.setChecked(True)
    dialog.first_frame.setValue(2)
    dialog.last_frame.setValue(4)
    dialog.objects.item(1).setCheckState(0)  # object 9 left out
    dialog.open_folder.setChecked(True)
    assert not dialog.open_button.isEnabled()
    dialog.start()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=60_000)
    assert dialog.result_frames == 3, dialog.status.text()
    labels = window.project.labels
    assert sorted(p.stem for p in (out / "masks").iterdir()) == labels[1:4]
    assert sorted(p.name for p in (out / "alpha").iterdir()) == ["7"]
    ids = np.asarray(Image.open(out / "masks" / f"{labels[1]}.png"))
    assert set(np.unique(ids)) <= {0, 7}  # object 9 is background there
    assert opened == [str(out)] and dialog.open_button.isEnabled()  # the folder shown when done
    assert dialog.choices()["open_folder"] is True
    # nothing ticked under Objects: refused with the reason, nothing started
    for i in range(dialog.objects.count()):
        dialog.objects.item(i).setCheckState(0)
    dialog.overwrite.setChecked(True)
    dialog.start()
    assert dialog.worker is None and "tick at least one" in dialog.status.text()
    window.close()


def test_a_broken_shapes_file_stops_the_export_with_the_reason(qtbot, tmp_path):
    from xmempp.gui.export_dialog import ExportDialog
    from xmempp.io.roto_shapes import SHAPES_FILE

    window = open_window(qtbot, make_workspace(tmp_path))
    (window.project.workspace.path / SHAPES_FILE).write_text("{")
    dialog = ExportDialog(window.project, window)
    dialog.folder.setText(str(tmp_path / "out"))
    dialog.start()
    assert dialog.worker is None and "shapes.json" in dialog.status.text()
    assert not (tmp_path / "out").exists()
    window.close()


def test_foreground_colour_is_offered_without_pymatting(qtbot, tmp_path, monkeypatch):
    """The export's foreground is blur-fusion, which needs no pymatting: the box is offered either way (only the
    refine stage's matting mode needs pymatting and says so)."""
    import importlib.util

    from xmempp.gui.export_dialog import ExportDialog

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pymatting" else find_spec(name, *a)
    )
    window = open_window(qtbot, two_object_workspace(tmp_path), size=(1280, 680))
    dialog = ExportDialog(window.project, window)
    qtbot.addWidget(dialog)
    assert dialog.foreground.isEnabled()
    matting = dialog.refine.mode.model().item(dialog.refine.mode.findData("matting"))
    assert not matting.isEnabled() and "pymatting" in matting.toolTip()
