"""Turn xmempp errors into one red line on stderr and a non-zero exit, never a traceback.

`cli/app.py` wraps every command in the decorator when it registers it; use the context manager
around a block elsewhere::

    with user_errors():
        ...
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from xmempp.cli.remedies import cli_message
from xmempp.errors import XMemppError

__all__ = ["print_error", "user_errors", "reports_errors", "EXIT_ERROR", "EXIT_INTERRUPTED"]

#: Exit status of a command that failed on a reported error.
EXIT_ERROR = 1
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable)


def print_error(message: str) -> None:
    """Print `message` as one red line on stderr.

    Arguments:
        message: the text (newlines are folded into spaces; rich markup is not interpreted).
    Returns:
        None.
    """
    line = " ".join(str(message).split())
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(f"[bold red]error:[/bold red] [red]{escape(line)}[/red]")


@contextmanager
def user_errors() -> Iterator[None]:
    """Report `XMemppError` as one red line and exit 1; Ctrl-C as "interrupted" and exit 130.

    Returns:
        A context manager; other exceptions (bugs) propagate unchanged.
    """
    try:
        yield
    except XMemppError as exc:
        print_error(cli_message(exc))
        raise typer.Exit(EXIT_ERROR) from None
    except KeyboardInterrupt:
        print_error("interrupted; files already written are complete, nothing half-written was left")
        raise typer.Exit(EXIT_INTERRUPTED) from None


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
