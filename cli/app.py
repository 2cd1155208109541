"""The `xmempp` console script: one typer application, every command registered here.

Command modules define plain functions (typed with `Annotated` options) and never import this
module; `create_app` registers each of them, wrapped in `reports_errors` so an `XMemppError`
becomes one red line and a non-zero exit. A new command is one import and one line in `_COMMANDS`.
"""
from __future__ import annotations

import os
import sys
from typing import Annotated, Callable, Optional

import typer

from xmempp import __version__

from .batch_cmd import batch_command
from .bench_cmd import bench_command
from .candidates_cmd import candidates_command
from .demo_cmd import demo_command
from .errors import EXIT_ERROR, print_error, reports_errors
from .eval_cmd import eval_command
from .gui_cmd import gui_command
from .import_cmd import import_command
from .process_cmd import process_command
from .refine_bench_cmd import refine_bench_command
from .refine_cmd import refine_command
from .serve_cmd import serve_command
from .weights_cmd import download_cmd, path_cmd, verify_cmd

#: Top-level commands in help order: name -> function.
_COMMANDS: dict[str, Callable[..., None]] = {
    "process": process_command,
    "refine": refine_command,
    "batch": batch_command,
    "candidates": candidates_command,
    "import": import_command,
    "gui": gui_command,
    "eval": eval_command,
    "bench": bench_command,
    "refine-bench": refine_bench_command,
    "demo": demo_command,
    "serve": serve_command,
}

#: `xmempp weights ...` sub-commands.
_WEIGHTS_COMMANDS: dict[str, Callable[..., None]] = {
    "download": download_cmd,
    "path": path_cmd,
    "verify": verify_cmd,
}


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"xmempp {__version__}")
        raise typer.Exit()


def _root(version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit.")] = None) -> None:
    """xmempp: propagate keyframe masks through a shot and suggest frames to annotate."""


def create_app() -> typer.Typer:
    """Build the `xmempp` application with every command registered.

    Returns:
        The typer application.
    """
    app = typer.Typer(
        name="xmempp",
        help="Rotoscoping with XMem + XMem++ permanent memory: propagate keyframe masks through a shot.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    for name, func in _COMMANDS.items():
        app.command(name)(reports_errors(func))
    weights = typer.Typer(help="Download, locate and verify the XMem weights (official v1.0 release files).",
                          no_args_is_help=True)
    for name, func in _WEIGHTS_COMMANDS.items():
        weights.command(name)(reports_errors(func))
    app.add_typer(weights, name="weights")
    return app


app = create_app()


def main() -> None:
    """Entry point of the `xmempp` console script.

    Reported errors are handled per command (`reports_errors`); anything else is a bug, and still
    reaches the user as one red line (the traceback only with XMEMPP_DEBUG=1).
    """
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - the last guard between a bug and a traceback on the user's screen
        if os.environ.get("XMEMPP_DEBUG"):
            raise
        print_error(f"unexpected {type(exc).__name__}: {exc} (this is a bug in xmempp; please report it, "
                    "XMEMPP_DEBUG=1 shows the traceback)")
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
