"""`xmempp demo`: a self-contained first run on a small generated clip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from xmempp.io.atomic import atomic_write_image
from xmempp.io.masks import davis_palette
from xmempp.io.synthetic import MovingDiscs
from xmempp.io.writers import WriterOptions

from .engine_options import ConfigOption, DeviceOption, Mode, ModelOption, ModeOption, build_config
from .logs import RunLog
from .process_cmd import ProcessRun, run_process


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


def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo clip and results.")] = Path(
        "xmempp-demo"
    ),
    frames: Annotated[int, typer.Option("--count", min=1, help="Number of frames of the generated clip.")] = 24,
    model: ModelOption = None,
    device: DeviceOption = "auto",
    config_file: ConfigOption = None,
    mode: ModeOption = Mode.XMEMPP,
) -> None:
    """Generate a small clip with one annotated frame and process it end to end."""
    console = Console(stderr=True)
    config = build_config(config_file)
    frame_dir, mask_dir = make_demo_clip(out / "clip", frames)
    console.print(f"demo clip: {frame_dir} ({frames} frames), annotation: {mask_dir}")
    run = ProcessRun(
        frame_dir,
        mask_dir,
        out / "result",
        config,
        mode.value,
        WriterOptions(alpha=True, overlay=True),
        model=model,
        device=device,
        overwrite=True,
    )
    run_process(run, RunLog())
    console.print(f"open {out / 'result' / 'overlay'} to see the propagated masks")
