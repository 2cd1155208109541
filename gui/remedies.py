"""Word a core error's structured `Remedy` as what to do in the GUI: the control to tick or set.

The core names settings (`overwrite`, `size`, ...); here each becomes the GUI control that changes it,
in the words the window and the export dialog show ("tick “Overwrite existing results”").
"""

from __future__ import annotations

from xmempp.errors import Remedy, RemedyKind, XMemppError

__all__ = ["CONTROLS", "gui_message", "gui_remedy"]

#: Setting name -> (the control, where it is). Control texts are those of the widgets.
CONTROLS: dict[str, tuple[str, str]] = {
    "overwrite": ("Overwrite existing results", "in the export dialog"),
    "size": ("Processing size", "in the Memory tab"),
    "mem_every": ("mem_every", "in the Memory tab"),
    "max_mid_term_frames": ("Working memory frames (max)", "in the Memory tab"),
    "min_mid_term_frames": ("Working memory frames (min)", "in the Memory tab"),
    "max_long_term_elements": ("Long-term cap", "in the Memory tab"),
    "enable_long_term": ("Use long-term memory", "in the Memory tab"),
    "upscale": ("Write at the source size", "in the export dialog"),
    "k": ("Frames to suggest (k)", "in the Candidates tab"),
    "force": ("Run even if memory looks short", "in the Memory tab"),
    "alpha_bits": ("Soft mattes bit depth", "in the export dialog"),
    "output": ("Output folder", "in the export dialog"),
    "name": ("Name", "in the New workspace dialog"),
    "device": ("--device", "when starting the GUI"),
    "out_dir": ("Output folder", "in the export dialog"),
    "refine": ("Refine", "in the export dialog"),
    "refine_band": ("Band", "under Refine > Advanced in the export dialog"),
    "refine_feather": ("Feather", "under Refine > Advanced in the export dialog"),
    "refine_detail": ("Detail (eps)", "under Refine > Advanced in the export dialog"),
    "refine_temporal": ("Temporal smoothing", "under Refine > Advanced in the export dialog"),
}


def _control(setting: str) -> str:
    control, where = CONTROLS.get(setting, (setting.replace("_", " "), ""))
    return f"“{control}”" + (f" {where}" if where else "")


def gui_remedy(remedy: Remedy) -> str:
    """One remedy as GUI advice ("tick “Overwrite existing results” in the export dialog").

    Arguments:
        remedy: the core's structured remedy.
    Returns:
        The advice as a short phrase.
    """
    note = f" {remedy.note}" if remedy.note else ""
    setting = remedy.setting or ""
    if remedy.kind is RemedyKind.SET and setting:
        if remedy.value is not None:
            return f"set {_control(setting)} to {remedy.value}{note}"
        if remedy.choices:
            return f"set {_control(setting)} to one of {', '.join(map(str, remedy.choices))}{note}"
        return f"change {_control(setting)}{note}"
    if remedy.kind is RemedyKind.ENABLE and setting:
        return f"tick {_control(setting)}{note}"
    if remedy.kind is RemedyKind.DISABLE and setting:
        return f"untick {_control(setting)}{note}"
    if remedy.kind is RemedyKind.DOWNLOAD_WEIGHTS:
        name = f" --name {remedy.value}" if remedy.value else ""
        return f"run `xmempp weights download{name}` in a terminal, or start the GUI with --model PATH{note}"
    if remedy.kind is RemedyKind.VERIFY_WEIGHTS:
        return f"run `xmempp weights verify` in a terminal{note}"
    if remedy.kind is RemedyKind.CREATE_WORKSPACE:
        return f"make one with File > New…{note}"
    return remedy.describe()


def gui_message(error: XMemppError) -> str:
    """The error's message followed by its remedies as GUI advice."""
    if not error.remedies:
        return error.message or str(error)
    return f"{error.message}; " + ", or ".join(gui_remedy(r) for r in error.remedies)
