"""The `xmempp` console script: one typer application, one module per command."""
from __future__ import annotations

from typing import Optional

import typer

from xmempp import __version__

app = typer.Typer(
    name="xmempp",
    help="Rotoscoping with XMem + XMem++ permanent memory: propagate keyframe masks through a shot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"xmempp {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Optional[bool] = typer.Option(None, "--version", callback=_print_version, is_eager=True,
                                                 help="Print the version and exit.")) -> None:
    """xmempp: propagate keyframe masks through a shot and suggest frames to annotate."""


# Commands register themselves on `app` when their module is imported.
# (one import line per command module below)
from . import bench_cmd  # noqa: E402,F401
from . import candidates_cmd  # noqa: E402,F401
from . import demo_cmd  # noqa: E402,F401
from . import eval_cmd  # noqa: E402,F401
from . import gui_cmd  # noqa: E402,F401
from . import import_cmd  # noqa: E402,F401
from . import process_cmd  # noqa: E402,F401
from . import serve_cmd  # noqa: E402,F401
from . import weights_cmd  # noqa: E402,F401


def main() -> None:
    """Entry point of the `xmempp` console script."""
    app()


if __name__ == "__main__":
    main()
