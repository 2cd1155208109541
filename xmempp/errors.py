"""One exception hierarchy for everything xmempp reports to a user.

Every message says what was wrong and, where possible, what to do about it.
The CLI prints these as a single red line; the GUI shows them in a dialog.
"""
from __future__ import annotations


class XMemppError(Exception):
    """Base class of every error xmempp raises on purpose."""


class ConfigError(XMemppError, ValueError):
    """An inference setting is out of range or unknown."""


class WeightsError(XMemppError):
    """A checkpoint is missing, unreadable, or not an XMem checkpoint."""


class InputError(XMemppError, ValueError):
    """A frame, mask, array or folder given by the user (or a front end) cannot be used.

    Like `ConfigError` it is also a `ValueError`, as Python's conventions expect for a bad argument.
    """


class OutputError(XMemppError):
    """An output location cannot be written safely."""


class MemoryStateError(XMemppError):
    """A memory operation was asked for that the current state cannot satisfy."""


class ResourceError(XMemppError):
    """The machine lacks the memory (or other resources) a run needs."""
