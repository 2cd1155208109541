"""The keyboard shortcut list, rendered from the same table that creates the actions, in two columns so that
it fits a 1280x720 laptop screen (it scrolls where a screen is smaller still)."""

from __future__ import annotations

from html import escape

from PyQt5.QtWidgets import QApplication, QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from .shortcuts import shortcut_rows

__all__ = ["HelpDialog", "shortcut_html"]

#: The dialog's largest size: it fits a 1280x720 screen with its title bar and a panel.
MAX_SIZE = (1180, 660)


def _group_html(rows: list[tuple[str, str, str]]) -> str:
    """One column: its groups' rows as a table."""
    parts = ["<table width='100%' cellspacing='0' cellpadding='1'>"]
    group = None
    for row_group, keys, text in rows:
        if row_group != group:
            group = row_group
            parts.append(
                f"<tr><td colspan='2' style='padding-top:8px'><b style='color:#8ab4f8'>{escape(group)}</b></td></tr>"
            )
        chips = " ".join(
            f"<code style='background:#3a3e45;color:#ffffff'>&nbsp;{escape(k.strip())}&nbsp;</code>"
            for k in keys.split(" / ")
        )
        parts.append(f"<tr><td width='32%' valign='top'>{chips}</td><td valign='top'>{escape(text)}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


def _columns(rows: list[tuple[str, str, str]]) -> tuple[list, list]:
    """The rows split into two columns at a group boundary, as even as whole groups allow."""
    starts = [i for i, row in enumerate(rows) if i == 0 or row[0] != rows[i - 1][0]]
    best = min(starts[1:] or [len(rows)], key=lambda i: abs(2 * i - len(rows)))
    return rows[:best], rows[best:]


def shortcut_html() -> str:
    """The shortcut table as HTML, grouped, in two columns, for the help dialog."""
    left, right = _columns(shortcut_rows())
    return (
        f"<table width='100%' cellspacing='0' cellpadding='0'><tr><td width='50%' valign='top' "
        f"style='padding-right:14px'>{_group_html(left)}</td><td width='50%' valign='top'>"
        f"{_group_html(right)}</td></tr></table>"
    )


class HelpDialog(QDialog):
    """Lists every shortcut and mouse gesture, grouped."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        width, height = MAX_SIZE
        screen = (parent.screen() if parent is not None else None) or QApplication.primaryScreen()
        if screen is not None:  # a smaller screen still: the list scrolls
            available = screen.availableGeometry()
            width, height = min(width, available.width() - 40), min(height, available.height() - 40)
        self.resize(width, height)
        self.rows = shortcut_rows()
        self.browser = QTextBrowser(self)
        self.browser.setOpenLinks(False)
        self.browser.setHtml(shortcut_html())
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
