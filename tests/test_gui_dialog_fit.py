"""Dialogs fit a 1280x720 laptop screen (issue 33): every one at most 680 px high with its buttons inside;
the shortcut list in two columns, the object rename keeping the typed name after a refused one."""

from __future__ import annotations

import pytest

pytest.importorskip("PyQt5")

from PyQt5.QtWidgets import QDialogButtonBox

from guihelpers import make_workspace

pytestmark = pytest.mark.usefixtures("private_qt_settings")

SCREEN_W, SCREEN_H, DIALOG_MAX_H = 1280, 720, 680


@pytest.fixture(autouse=True)
def laptop_screen(monkeypatch):
    """The screen the dialogs size themselves for: 1280x720 (offscreen Qt's own is 800x600)."""
    from PyQt5.QtCore import QRect
    from PyQt5.QtGui import QScreen

    monkeypatch.setattr(QScreen, "availableGeometry", lambda self: QRect(0, 0, 1280, 720))


def fits(dialog, buttons) -> None:
    """The dialog fits the laptop screen and its buttons lie inside it, whole."""
    dialog.show()
    size = dialog.size()
    assert size.width() <= SCREEN_W and size.height() <= DIALOG_MAX_H, (size.width(), size.height())
    rect = buttons.geometry()
    top_left = buttons.mapTo(dialog, rect.topLeft() - buttons.pos())
    assert top_left.y() >= 0 and top_left.y() + rect.height() <= size.height()
    assert buttons.isVisible()


def test_shortcut_list_fits_in_two_columns(qtbot):
    from xmempp.gui.help_dialog import HelpDialog
    from xmempp.gui.shortcuts import SHORTCUTS

    dialog = HelpDialog()
    qtbot.addWidget(dialog)
    fits(dialog, dialog.findChild(QDialogButtonBox))
    qtbot.waitExposed(dialog)
    from PyQt5.QtGui import QTextDocument

    from xmempp.gui.help_dialog import _group_html
    from xmempp.gui.shortcuts import shortcut_rows

    width = dialog.browser.viewport().width()
    one_column = QTextDocument()
    one_column.setHtml(_group_html(shortcut_rows()))
    one_column.setTextWidth(width)
    two_columns = dialog.browser.document()
    two_columns.setTextWidth(width)
    assert two_columns.size().height() < 0.75 * one_column.size().height()  # side by side; the rest scrolls
    text = " ".join(dialog.browser.toPlainText().split())
    for row in SHORTCUTS:
        assert " ".join(row.help.split()) in text


def test_rename_with_a_slash_keeps_the_dialog_and_the_typed_name(qtbot, tmp_path):
    from xmempp.gui.objects import ObjectsPanel
    from xmempp.gui.project import Project

    project = Project.open(make_workspace(tmp_path))
    panel = ObjectsPanel(project)
    qtbot.addWidget(panel)
    dialog = panel.rename_dialog(1)
    dialog.show()
    dialog.edit.setText("hair/left")
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).click()
    assert dialog.isVisible() and dialog.result() != dialog.Accepted  # still open
    assert dialog.edit.text() == "hair/left"  # the typed name kept
    assert dialog.error.isVisible() and "/" in dialog.error.text()  # the reason, inline
    assert project.object_name(1) != "hair/left"
    dialog.edit.setText("hair_left")
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).click()
    assert not dialog.isVisible() and dialog.result() == dialog.Accepted
    assert project.object_name(1) == "hair_left"
