"""One exception hierarchy for everything xmempp reports to a user.

Every error says what was wrong. Where the user can do something about it, the error carries a
structured `Remedy` (what to change, in the settings' own names) instead of advice worded for one
front end: the CLI words it as a flag, the GUI as a control, the service as a request field. The core
never names a CLI flag or a server path in a message; `str(error)` gives the message with the remedy in
neutral words, for Python callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class RemedyKind(str, Enum):
    """What a remedy asks the user to do."""

    SET = "set"  # give `setting` a value (`value` when one is known, else one of `choices`)
    ENABLE = "enable"  # turn the `setting` switch on (e.g. overwrite, force)
    DISABLE = "disable"  # turn the `setting` switch off (e.g. resume)
    DOWNLOAD_WEIGHTS = "download_weights"  # fetch the checkpoint named by `value`
    VERIFY_WEIGHTS = "verify_weights"  # check the checkpoint again and record its checksum
    CREATE_WORKSPACE = "create_workspace"  # make a workspace from the frames first
    FIX_INPUT = "fix_input"  # the file or folder itself must change (re-export, render missing frames)


@dataclass(frozen=True)
class Remedy:
    """A structured way out of an error, in the vocabulary of the job settings.

    `setting` is a settings name shared by every front end (`overwrite`, `size`, `force`, `device`,
    `model`, `layer`, `colorspace`, `frames`, `start_frame`, `mask_threshold`, `resume`, ...).
    """

    kind: RemedyKind
    setting: str | None = None
    value: object = None
    choices: tuple[object, ...] = ()
    note: str = ""  # extra neutral advice ("or delete that folder first")

    def describe(self) -> str:
        """The remedy in neutral words (no front end's syntax)."""
        name = (self.setting or "").replace("_", " ")
        if self.kind is RemedyKind.SET:
            if self.value is not None:
                text = f"set {name} to {self.value}"
            elif self.choices:
                text = f"set {name} to one of {', '.join(map(str, self.choices))}"
            else:
                text = f"set {name}"
        elif self.kind is RemedyKind.ENABLE:
            text = f"allow {name}"
        elif self.kind is RemedyKind.DISABLE:
            text = f"turn off {name}"
        elif self.kind is RemedyKind.DOWNLOAD_WEIGHTS:
            text = f"download the weights {self.value}" if self.value else "download the weights"
        elif self.kind is RemedyKind.VERIFY_WEIGHTS:
            text = "verify the weights"
        elif self.kind is RemedyKind.CREATE_WORKSPACE:
            text = "create a workspace from the frames first"
        else:
            text = "fix the input"
        return f"{text} {self.note}".strip() if self.note else text


class XMemppError(Exception):
    """Base class of every error xmempp raises on purpose.

    Arguments:
        message: what was wrong, without front-end advice.
        remedy: optional structured way out, worded by each front end.
    """

    def __init__(self, message: str = "", *, remedy: Remedy | None = None, remedies: tuple[Remedy, ...] = ()):
        super().__init__(message)
        self.message = message
        self.remedies: tuple[Remedy, ...] = ((remedy,) if remedy is not None else ()) + tuple(remedies)

    @property
    def remedy(self) -> Remedy | None:
        """The first remedy, if any."""
        return self.remedies[0] if self.remedies else None

    def __str__(self) -> str:
        if not self.remedies:
            return self.message
        return f"{self.message}; " + ", or ".join(r.describe() for r in self.remedies)


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


class XMemppWarning(UserWarning):
    """Something the operator should know; the run goes on (a variable frame rate, a forced memory estimate).

    Front ends show it like an error's message (one yellow line, a JSON "warning" record, a dialog);
    `error` is the `XMemppError` it stands for, if any (its remedies worded by the front end).
    """

    def __init__(self, message: str, error: XMemppError | None = None) -> None:
        super().__init__(message)
        self.error = error
