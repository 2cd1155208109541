"""Turn xmempp errors into one red line on stderr and a non-zero exit, never a traceback.

`cli/app.py` wraps every command in the decorator when it registers it; use the context manager
around a block elsewhere::

    with user_errors():
        ...
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
import typer
from rich.console import Console
from rich.markup import escape

from xmempp.cli.exit_codes import ExitCode, exit_code_for
from xmempp.cli.logs import active_log
from xmempp.cli.remedies import cli_message
from xmempp.errors import XMemppError

__all__ = ["print_error", "reports_errors", "user_errors"]

F = TypeVar("F", bound=Callable)


def print_error(message: str) -> None:
    """Print `message` as one red line on stderr.

    Arguments:
        message: the text (newlines are folded into spaces; rich markup is not interpreted).
    Returns:
        None.
    """
    line = " ".join(str(message).split())
    log = active_log()
    if log is not None and log.json:
        log.error(line)
        return
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(f"[bold red]error:[/bold red] [red]{escape(line)}[/red]")


@contextmanager
def user_errors() -> Iterator[None]:
    """Report `XMemppError` (and running out of memory) as one red line and exit with the code of its
    cause (`cli.exit_codes`); Ctrl-C or a second SIGTERM as "interrupted" and exit 130 or 143.

    Returns:
        A context manager; other exceptions (bugs) propagate unchanged.
    """
    try:
        yield
    except XMemppError as exc:
        print_error(cli_message(exc))
        raise typer.Exit(exit_code_for(exc)) from None
    except (MemoryError, torch.OutOfMemoryError) as exc:
        print_error(
            f"out of memory: {' '.join(str(exc).split()) or type(exc).__name__}; lower --size or run on a "
            f"machine with more memory"
        )
        raise typer.Exit(ExitCode.OUT_OF_MEMORY) from None
    except KeyboardInterrupt as exc:
        print_error("interrupted; files already written are complete, nothing half-written was left")
        raise typer.Exit(128 + getattr(exc, "signal", signal.SIGINT)) from None


def reports_errors(func: F) -> F:
    """Decorator running a command inside `user_errors()` (keeps the signature typer reads).

    Arguments:
        func: the command function.
    Returns:
        The wrapped function.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with user_errors():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
