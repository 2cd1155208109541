"""`xmempp demo`: a self-contained first run on a small generated clip."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console

from xmempp import InferenceConfig
from xmempp.io.atomic import atomic_write_image
from xmempp.io.masks import davis_palette
from xmempp.io.synthetic import MovingDiscs
from xmempp.io.writers import WriterOptions

from .app import app
from .errors import reports_errors
from .process_cmd import run_process


def make_demo_clip(folder: Path, frames: int) -> tuple[Path, Path]:
    """Write a 480p clip of two moving discs (JPEG frames) and its first-frame mask (palette PNG)."""
    clip = MovingDiscs(frames, 480, 854, objects=2, seed=7)
    frame_dir, mask_dir = folder / "frames", folder / "masks"
    frame_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    for index in range(frames):
        atomic_write_image(frame_dir / f"demo_{1001 + index}.jpg", clip[index])
    atomic_write_image(mask_dir / "demo_1001.png", clip.mask(0).astype(np.uint8), palette=davis_palette())
    return frame_dir, mask_dir


@app.command("demo")
@reports_errors
def demo_command(
    out: Path = typer.Option(Path("xmempp-demo"), "--out", "-o", help="Folder for the demo clip and results."),
    frames: int = typer.Option(24, "--frames", help="Length of the generated clip."),
    model: Optional[Path] = typer.Option(None, "--model", help="XMem checkpoint (default: official XMem.pth, "
                                                               "downloaded on first use)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
) -> None:
    """Generate a small clip with one annotated frame and process it end to end."""
    console = Console(stderr=True)
    frame_dir, mask_dir = make_demo_clip(out / "clip", frames)
    console.print(f"demo clip: {frame_dir} ({frames} frames), annotation: {mask_dir}")
    run_process(frame_dir, mask_dir, out / "result", model, device, InferenceConfig(), "xmempp",
                WriterOptions(alpha=True, overlay=True), overwrite=True, console=console)
    console.print(f"open {out / 'result' / 'overlay'} to see the propagated masks")
