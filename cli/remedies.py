"""Word a core error's structured `Remedy` as command-line advice (flags, commands)."""

from __future__ import annotations

from xmempp.errors import Remedy, RemedyKind, XMemppError

__all__ = ["cli_message", "cli_remedy"]


def _flag(setting: str) -> str:
    return "--" + setting.replace("_", "-")


def cli_remedy(remedy: Remedy) -> str:
    """One remedy in command-line terms ("pass --overwrite", "use --size 384").

    Arguments:
        remedy: the core's structured remedy.
    Returns:
        The advice as a short phrase.
    """
    note = f" {remedy.note}" if remedy.note else ""
    if remedy.kind is RemedyKind.SET and remedy.setting:
        if remedy.value is not None:
            return f"use {_flag(remedy.setting)} {remedy.value}{note}"
        if remedy.choices:
            return f"use {_flag(remedy.setting)} (one of {', '.join(map(str, remedy.choices))}){note}"
        return f"set {_flag(remedy.setting)}{note}"
    if remedy.kind is RemedyKind.ENABLE and remedy.setting:
        return f"pass {_flag(remedy.setting)}{note}"
    if remedy.kind is RemedyKind.DISABLE and remedy.setting:
        return f"run without {_flag(remedy.setting)}{note}"
    if remedy.kind is RemedyKind.DOWNLOAD_WEIGHTS:
        name = f" --name {remedy.value}" if remedy.value else ""
        return f"run `xmempp weights download{name}` or pass --model PATH{note}"
    if remedy.kind is RemedyKind.VERIFY_WEIGHTS:
        return f"run `xmempp weights verify`{note}"
    if remedy.kind is RemedyKind.CREATE_WORKSPACE:
        return f"create one with `xmempp import`{note}"
    return remedy.describe()


def cli_message(error: XMemppError) -> str:
    """The error's message followed by its remedies in command-line terms."""
    if not error.remedies:
        return error.message or str(error)
    return f"{error.message}; " + ", or ".join(cli_remedy(r) for r in error.remedies)
