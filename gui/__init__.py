"""The xmempp Qt GUI: annotate keyframes, keep references, propagate, get suggestions, export.

Start it with `xmempp gui --workspace DIR` (or `--video FILE` / `--images DIR`, which create a
workspace first). Programmatic use::

    from xmempp.gui.app import run_gui
    run_gui(workspace="workspace/shot_a")

The GUI holds no model code: it drives `xmempp.InferenceSession`, the candidate selector and the
result writers. Importing this package does not import Qt; its modules do.
"""

from __future__ import annotations

__all__ = ["run_gui", "shortcut_markdown"]


def run_gui(*args, **kwargs) -> int:
    """Start the GUI (see `xmempp.gui.app.run_gui`)."""
    from .app import run_gui as _run_gui

    return _run_gui(*args, **kwargs)


def shortcut_markdown() -> str:
    """The keyboard shortcut table as Markdown (see `xmempp.gui.shortcuts.shortcut_markdown`)."""
    from .shortcuts import shortcut_markdown as _shortcut_markdown

    return _shortcut_markdown()
