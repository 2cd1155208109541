"""The `xmempp` console script: one typer application, every command registered here.

Command modules define plain functions (typed with `Annotated` options) and never import this
module; `create_app` registers each of them, wrapped in `reports_errors` so an `XMemppError`
becomes one red line and a non-zero exit. A new command is one import and one line in `_COMMANDS`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from xmempp import __version__

from .batch_cmd import batch_command
from .bench_cmd import bench_command
from .candidates_cmd import candidates_command
from .demo_cmd import demo_command
from .deprecated import rewrite_args
from .errors import print_error, reports_errors
from .eval_cmd import eval_command
from .exit_codes import ExitCode, exit_code_for
from .gui_cmd import gui_command
from .import_cmd import import_command
from .logs import command_line_log
from .process_cmd import process_command
from .qc_cmd import qc_command
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
    "qc": qc_command,
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


def _root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """xmempp: propagate keyframe masks through a shot and suggest frames to annotate."""


#: Click's exception classes, reached through typer's public names (typer vendors click in newer releases).
if TYPE_CHECKING:
    from typer._click.exceptions import ClickException, UsageError
else:
    UsageError = typer.BadParameter.__mro__[1]
    ClickException = UsageError.__mro__[1]
Abort = typer.Abort


class OneLineErrors(TyperGroup):
    """The command group whose usage errors (unknown option, missing or bad value) are one red line.

    Click and typer print usage errors as a box or several lines; the README promises one red line
    and a non-zero exit for every error, so they are worded here like every other error.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the application; usage errors become one line on stderr and exit status 2.

        Old spellings of renamed options (`cli.deprecated`) are replaced, with a notice, before click parses.
        """
        args = list(sys.argv[1:] if args is None else args)
        with command_line_log(args):  # `--log-format json`: usage errors and notices are JSON lines too
            return self._main(
                rewrite_args(self, args),
                prog_name,
                complete_var,
                standalone_mode,
                windows_expand_args=windows_expand_args,
                **extra,
            )

    def _main(
        self, args: list[str], prog_name: str | None, complete_var: str | None, standalone_mode: bool, **extra: Any
    ) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except UsageError as exc:
            if not standalone_mode:
                raise
            where = exc.ctx.command_path if exc.ctx is not None else "xmempp"
            print_error(f"{where}: {exc.format_message()} (`{where} --help` lists the options)")
            sys.exit(exc.exit_code)
        except ClickException as exc:
            if not standalone_mode:
                raise
            print_error(exc.format_message())
            sys.exit(exc.exit_code)
        except Abort:
            if not standalone_mode:
                raise
            print_error("aborted")
            sys.exit(ExitCode.INTERRUPTED)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


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
        cls=OneLineErrors,
    )
    app.callback()(_root)
    for name, func in _COMMANDS.items():
        app.command(name)(reports_errors(func))
    weights = typer.Typer(
        help="Download, locate and verify the XMem weights (official v1.0 release files).", no_args_is_help=True
    )
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
        with command_line_log(sys.argv[1:]):
            app()
    except Exception as exc:
        if os.environ.get("XMEMPP_DEBUG"):
            raise
        code = exit_code_for(exc)
        if code is ExitCode.OUTPUT:  # an OSError from the storage (disk full, read-only, I/O error)
            print_error(
                f"cannot write the results: {exc}; free disk space or fix the storage, then run the same "
                f"command with --resume"
            )
        else:
            print_error(
                f"unexpected {type(exc).__name__}: {exc} (this is a bug in xmempp; please report it, "
                "XMEMPP_DEBUG=1 shows the traceback)"
            )
        sys.exit(code)


if __name__ == "__main__":
    main()
