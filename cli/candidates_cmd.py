"""`xmempp candidates`: which frames to annotate next (XMem++'s candidate selector)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from xmempp.errors import InputError
from xmempp.io.frames import open_frames
from xmempp.io.masks import read_mask_folder

from .engine_options import (ConfigOption, DeviceOption, Mode, ModelOption, ModeOption, QuietOption, SizeOption,
                             build_config, load_network)
from .progress import frame_progress, stage_callback

_STAGES = {"features": "encoding frames", "masks": "reading masks", "selection": "choosing frames"}


def _predicted_folder(path: Path) -> Path:
    """Accept an output folder of `xmempp process` (OUT) as well as OUT/masks."""
    if path.is_dir() and (path / "masks").is_dir():
        return path / "masks"
    return path


def candidates_command(
    video: Annotated[Path, typer.Option("--video", "-v", help="Video file or folder of frames.")],
    masks: Annotated[Path, typer.Option(
        "--masks", "-m", help="Folder of the annotated masks (named after their frames; for a video, by frame "
                              "number). These frames count as chosen and are never suggested.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="How many frames to suggest.")] = 5,
    alpha: Annotated[float, typer.Option(
        "--alpha", min=0.0, max=1.0,
        help="Weight of the target mask when comparing frames: 0 ignores the masks, 1 compares only the target.")] = 0.5,
    predicted: Annotated[Optional[Path], typer.Option(
        "--predicted", help="Masks predicted earlier for every frame (OUT/masks of `xmempp process`); "
                            "without it the annotations are propagated first.")] = None,
    min_mask_percent: Annotated[float, typer.Option(
        "--min-mask-percent", min=0.0, max=100.0,
        help="Never suggest frames where the target covers less than this percentage of the frame.")] = 0.25,
    model: ModelOption = None,
    config_file: ConfigOption = None,
    size: SizeOption = None,
    mode: ModeOption = Mode.xmempp,
    device: DeviceOption = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Suggest the frames whose annotation would help the propagation most (XMem++'s diverse-frame selector).

    Example: xmempp candidates -v plates/shot_a -m roto/shot_a -k 5 --predicted out/shot_a/masks
    """
    from xmempp.candidate_selection import suggest_candidates

    config = build_config(config_file, size)
    console = Console(stderr=True, quiet=quiet)
    frames = open_frames(video)
    try:
        names = list(frames.names)
        annotated = read_mask_folder(masks, names, frames.size, by_index=frames.is_video)
        references = {index: mask.ids for index, mask in annotated.items()}
        if not any(ids.any() for ids in references.values()):
            raise InputError(f"the masks in {masks} contain no objects (every pixel is 0); annotate the target first")
        predicted_masks = None
        if predicted is not None:
            folder = _predicted_folder(predicted)
            predicted_masks = {index: mask.ids for index, mask in
                               read_mask_folder(folder, names, frames.size, by_index=frames.is_video).items()}
        network = load_network(model, device, console)
        with frame_progress(console, quiet, transient=True) as bar:
            result = suggest_candidates(network, frames, references, k, alpha=alpha, predicted_masks=predicted_masks,
                                        config=config, progress=stage_callback(bar, _STAGES), mode=mode.value,
                                        min_mask_presence_percent=min_mask_percent)
    finally:
        frames.close()

    chosen = [{"rank": rank, "index": index, "name": names[index], "dissimilarity": score}
              for rank, (index, score) in enumerate(zip(result.chosen, result.dissimilarities), start=1)]
    if as_json:
        typer.echo(json.dumps({
            "video": str(video),
            "references": [{"index": i, "name": names[i]} for i in result.previously_chosen],
            "requested": result.requested,
            "candidates": chosen,
            "invalid": [{"index": i, "name": names[i]} for i in result.invalid],
            "reason": result.reason,
        }, indent=2))
        return
    out = Console(highlight=False, soft_wrap=True, markup=False)
    if chosen:
        out.print(f"Annotate next ({len(chosen)} of {len(names)} frames, most useful first):")
        width = max(len(item["name"]) for item in chosen)
        for item in chosen:
            out.print(f"{item['rank']:>3}. {item['name']:<{width}}  frame {item['index']}")
    else:
        out.print("No frame to suggest.")
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if result.reason is not None:
        err.print(f"[yellow]note:[/yellow] {escape(result.reason)}")
    elif result.invalid and not quiet:
        err.print(f"[dim]skipped {len(result.invalid)} frame(s) where the target covers less than "
                  f"{min_mask_percent:g}% of the frame[/dim]")
