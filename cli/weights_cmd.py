"""`xmempp weights download | path | verify`: fetch, locate and check the XMem checkpoints."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from xmempp.model import weights as W

from .progress import download_progress


class WeightsName(str, Enum):
    """Official release files."""

    xmem = "XMem.pth"
    xmem_s012 = "XMem-s012.pth"


NameOption = Annotated[WeightsName, typer.Option("--name", "-n", help="Name of the release file.")]


def download_cmd(
    name: NameOption = WeightsName.xmem,
    dest_dir: Annotated[
        Path | None,
        typer.Option(
            "--dir", "-d", file_okay=False, help="Folder to download into (default: `xmempp weights path`'s folder)."
        ),
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="Download from this mirror URL instead of GitHub.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Download again even if the file is already there.")] = False,
) -> None:
    """Download an XMem checkpoint (resumable), check it and record its SHA-256."""
    target = (dest_dir.expanduser().absolute() if dest_dir else W.weights_dir()) / name.value
    if target.is_file() and not force:
        typer.echo(f"{target} is already there (use --force to download again, `xmempp weights verify` to check it)")
        return
    with download_progress(Console(stderr=True), name.value) as progress:
        path = W.download_weights(name.value, dest_dir, progress, url=url, force=force)
    sha = W.recorded_sha256(path)
    typer.echo(f"{path}\nSHA-256 {sha} (recorded in {path.name}.sha256)")


def path_cmd(name: NameOption = WeightsName.xmem) -> None:
    """Print where the weights file is looked for (XMEMPP_HOME, ./saves in a checkout, or the user cache)."""
    target = W.weights_path(name.value)
    typer.echo(str(target))
    if not target.is_file():
        print(f"(not there yet: run `xmempp weights download --name {name.value}`)", file=sys.stderr)


def verify_cmd(
    path: Annotated[Path | None, typer.Argument(help="Weights file (default: `xmempp weights path`).")] = None,
) -> None:
    """Check a weights file: SHA-256 against the one recorded at download, and the XMem structure."""
    target = path if path is not None else W.weights_path()
    recorded = W.recorded_sha256(target) if target.is_file() else None
    sha = W.verify_weights(target)
    note = "matches the recorded checksum" if recorded else "no checksum recorded"
    typer.echo(f"OK {target}\nSHA-256 {sha} ({note})")
