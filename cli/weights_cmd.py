"""`xmempp weights download | path | verify`: fetch, locate and check the XMem checkpoints."""
from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)

from xmempp.model import weights as W

from .app import app
from .errors import reports_errors

weights_app = typer.Typer(
    help="Download, locate and verify the XMem weights (official v1.0 release files).",
    no_args_is_help=True,
)
app.add_typer(weights_app, name="weights")


def _stderr() -> Console:
    return Console(stderr=True)


class WeightsName(str, Enum):
    """Official release files."""

    xmem = "XMem.pth"
    xmem_s012 = "XMem-s012.pth"


@weights_app.command("download")
@reports_errors
def download_cmd(
    name: WeightsName = typer.Option(WeightsName.xmem, "--name", "-n", help="Which release file."),
    dest_dir: Optional[Path] = typer.Option(None, "--dir", "-d", file_okay=False,
                                            help="Folder to download into (default: `xmempp weights path`'s folder)."),
    url: Optional[str] = typer.Option(None, "--url", help="Download from this mirror URL instead of GitHub."),
    force: bool = typer.Option(False, "--force", help="Download again even if the file is already there."),
) -> None:
    """Download an XMem checkpoint (resumable), check it and record its SHA-256."""
    target = (dest_dir.expanduser().absolute() if dest_dir else W.weights_dir()) / name.value
    if target.is_file() and not force:
        typer.echo(f"{target} is already there (use --force to download again, `xmempp weights verify` to check it)")
        return
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TimeRemainingColumn(), console=_stderr())
    task = bar.add_task(name.value, total=None)

    def progress(done: int, total: Optional[int]) -> None:
        if not bar.live.is_started:  # start on the first byte count, so a failed connection prints no bar
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        path = W.download_weights(name.value, dest_dir, progress, url=url, force=force)
    finally:
        bar.stop()
    sha = W.recorded_sha256(path)
    typer.echo(f"{path}\nSHA-256 {sha} (recorded in {path.name}.sha256)")


@weights_app.command("path")
@reports_errors
def path_cmd(name: WeightsName = typer.Option(WeightsName.xmem, "--name", "-n", help="Which release file.")) -> None:
    """Print where the weights file is looked for (XMEMPP_HOME, ./saves in a checkout, or the user cache)."""
    target = W.weights_path(name.value)
    typer.echo(str(target))
    if not target.is_file():
        print(f"(not there yet: run `xmempp weights download --name {name.value}`)", file=sys.stderr)


@weights_app.command("verify")
@reports_errors
def verify_cmd(path: Optional[Path] = typer.Argument(None, help="Weights file (default: `xmempp weights path`).")) -> None:
    """Check a weights file: SHA-256 against the one recorded at download, and the XMem structure."""
    target = path if path is not None else W.weights_path()
    recorded = W.recorded_sha256(target) if target.is_file() else None
    sha = W.verify_weights(target)
    note = "matches the recorded checksum" if recorded else "no checksum recorded"
    typer.echo(f"OK {target}\nSHA-256 {sha} ({note})")
