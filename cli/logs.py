"""What a run tells its operator on stderr: `--log-format text` (people) or `json` (farm managers).

Text on a terminal draws a live progress bar; text into a file or pipe writes one plain progress
line at a bounded rate instead (a bar there prints nothing until the end). JSON writes one object
per line: `start`, `progress` (bounded rate, and always the last frame), `checkpoint`, `warning`,
`error` and `summary`, each with `event` and `time` (UTC, ISO 8601). Nothing is wrapped at the
terminal's width. The rate is `XMEMPP_LOG_INTERVAL` seconds (default: 2 for JSON, 10 for text lines).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from xmempp.errors import XMemppWarning

from .progress import frame_progress
from .remedies import cli_message

__all__ = ["LogFormat", "LogFormatOption", "RunLog", "active_log", "command_line_log", "requested_format"]


class LogFormat(str, Enum):
    """How a run reports on stderr."""

    text = "text"
    json = "json"


LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="stderr as text (a progress bar on a terminal, plain lines otherwise) or json (one object "
        "per line: start, progress, checkpoint, warning, error, summary).",
    ),
]

_active: list[RunLog] = []


def active_log() -> RunLog | None:
    """The log of the command running now, if it set one up (`RunLog.activate`)."""
    return _active[-1] if _active else None


def _interval(default: float) -> float:
    try:
        return max(0.0, float(os.environ.get("XMEMPP_LOG_INTERVAL", default)))
    except ValueError:
        return default


class RunLog:
    """The stderr reporting of one command run.

    Arguments:
        format: text or json.
        quiet: text: print nothing but errors (json always reports).
        stream: where lines go (default: stderr).
    """

    def __init__(self, format: LogFormat = LogFormat.text, quiet: bool = False, stream: Any = None) -> None:
        self.format = LogFormat(format)
        self.stream = stream or sys.stderr
        self.quiet = quiet and self.format is LogFormat.text
        # JSON lines only: bars and notes for people (e.g. a weights download) are not drawn
        self.console = Console(file=self.stream, quiet=self.quiet or self.json, soft_wrap=True, highlight=False)
        self.interactive = self.console.is_terminal
        self.interval = _interval(2.0 if self.format is LogFormat.json else 10.0)

    @property
    def json(self) -> bool:
        """Whether lines are JSON objects."""
        return self.format is LogFormat.json

    def emit(self, event: str, **fields: Any) -> None:
        """Write one JSON record (json format only)."""
        if not self.json:
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        record = {
            "event": event,
            "time": now.isoformat(timespec="milliseconds"),
            **{k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in fields.items()},
        }
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()

    def start(self, message: str, **fields: Any) -> None:
        """The run begins (what, where)."""
        if self.json:
            self.emit("start", message=message, **fields)
        else:
            self.console.print(escape(message))

    def info(self, message: str) -> None:
        """A line for people (text only)."""
        if not self.json:
            self.console.print(message)

    def warning(self, message: str) -> None:
        """Something the operator should know; the run goes on."""
        if self.json:
            self.emit("warning", message=message)
        else:
            Console(file=self.stream, soft_wrap=True, highlight=False).print(
                f"[bold yellow]warning:[/bold yellow] {escape(message)}"
            )

    def error(self, message: str, **fields: Any) -> None:
        """An error line (json: an `error` record; text is printed by `cli.errors.print_error`)."""
        self.emit("error", message=message, **fields)

    def checkpoint(self, done: int, total: int, path: Any) -> None:
        """A checkpoint was saved after `done` of `total` frames."""
        if self.json:
            self.emit("checkpoint", done=done, total=total, path=path)

    def summary(self, message: str, **fields: Any) -> None:
        """How the run ended (`message` may hold rich markup, dropped in JSON)."""
        if self.json:
            self.emit("summary", message=Text.from_markup(message).plain, **fields)
        else:
            self.console.print(message)

    @contextlib.contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[[int, int], None]]:
        """A `(done, total)` callback reporting frame progress for the duration of the block."""
        if not self.json and self.interactive:
            with frame_progress(self.console, self.quiet) as bar:
                task = bar.add_task(label, total=total)
                yield lambda done, _total: bar.update(task, completed=done)
            return
        last, started_at = [-1e9], [0.0]
        first: list[int] = []

        def update(done: int, all_frames: int) -> None:
            now = time.monotonic()
            if not first:  # frames a resumed checkpoint had done do not count for the rate
                first.append(done)
                started_at[0] = now
            if done < all_frames and now - last[0] < self.interval:
                return
            last[0] = now
            elapsed = now - started_at[0]
            fps = (done - first[0]) / elapsed if elapsed > 0 and done > first[0] else 0.0
            eta = (all_frames - done) / fps if fps > 0 else None
            if self.json:
                self.emit(
                    "progress",
                    label=label,
                    done=done,
                    total=all_frames,
                    fps=round(fps, 3),
                    eta_seconds=None if eta is None else round(eta, 1),
                )
            elif not self.quiet:
                left = f", ETA {int(eta) // 60}:{int(eta) % 60:02d}" if eta is not None else ""
                self.stream.write(f"{label}: {done}/{all_frames} frames ({fps:.2f} fps{left})\n")
                self.stream.flush()

        yield update

    @contextlib.contextmanager
    def activate(self) -> Iterator[RunLog]:
        """Make this the active log (errors and `XMemppWarning`s of the run go to it)."""
        _active.append(self)

        def show(message, category, filename, lineno, file=None, line=None) -> None:
            if issubclass(category, XMemppWarning):
                error = getattr(message, "error", None)
                self.warning(cli_message(error) if error is not None else str(message))
            else:
                shown(message, category, filename, lineno, file, line)

        try:
            with warnings.catch_warnings():
                shown = warnings.showwarning
                warnings.simplefilter("always", XMemppWarning)
                warnings.showwarning = show
                yield self
        finally:
            _active.remove(self)


def requested_format(args: Sequence[str]) -> LogFormat:
    """The `--log-format` a command line asks for, read before click parses it (the last one counts, as in
    click; none, or one after `--`: text), so that errors in the options themselves are worded in it.

    Arguments:
        args: the command line after the program name.
    Returns:
        The format.
    """
    found = LogFormat.text
    args = list(args)
    for i, token in enumerate(args):
        if token == "--":
            break
        name, eq, value = token.partition("=")
        if name != "--log-format":
            continue
        value = value if eq else (args[i + 1] if i + 1 < len(args) else "")
        found = LogFormat.json if value == LogFormat.json.value else LogFormat.text
    return found


@contextlib.contextmanager
def command_line_log(args: Sequence[str]) -> Iterator[RunLog | None]:
    """Make a JSON log active for a whole command line that asks for `--log-format json`, so usage errors,
    option and setting errors and notices before the command's own log starts are JSON lines too.

    Arguments:
        args: the command line after the program name.
    Returns:
        A context manager giving the log (None for text: errors are printed as text lines).
    """
    if requested_format(args) is not LogFormat.json:
        yield None
        return
    with RunLog(LogFormat.json).activate() as log:
        yield log
