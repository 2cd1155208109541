"""The keyboard shortcut list, rendered from the same table that creates the actions."""
from __future__ import annotations

from html import escape
from typing import Optional

from PyQt5.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from .shortcuts import shortcut_rows

__all__ = ["HelpDialog", "shortcut_html"]


def shortcut_html() -> str:
    """The shortcut table as HTML, grouped, for the help dialog."""
    parts = ["<table width='100%' cellspacing='0' cellpadding='5'>"]
    group = None
    for row_group, keys, text in shortcut_rows():
        if row_group != group:
            group = row_group
            parts.append(f"<tr><td colspan='2' style='padding-top:12px'><b style='color:#8ab4f8'>{escape(group)}"
                         f"</b></td></tr>")
        chips = " ".join(f"<code style='background:#3a3e45;color:#ffffff'>&nbsp;{escape(k.strip())}&nbsp;</code>"
                         for k in keys.split(" / "))
        parts.append(f"<tr><td width='34%' valign='top'>{chips}</td><td valign='top'>{escape(text)}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


class HelpDialog(QDialog):
    """Lists every shortcut and mouse gesture, grouped."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(720, 760)
        self.rows = shortcut_rows()
        self.browser = QTextBrowser(self)
        self.browser.setOpenLinks(False)
        self.browser.setHtml(shortcut_html())
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
