"""`xmempp candidates`: which frames to annotate next (XMem++'s candidate selector)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from xmempp.errors import InputError
from xmempp.io.frames import FrameSource
from xmempp.io.masks import mask_frame_index

from .engine_options import (
    ConfigOption,
    DeviceOption,
    Mode,
    ModelOption,
    ModeOption,
    QuietOption,
    SizeOption,
    build_config,
    load_network,
)
from .plate_options import (
    ColorspaceOption,
    DisplayOption,
    FramesOption,
    LayerOption,
    MaskChannelOption,
    MaskThresholdOption,
    PlateOptions,
    StartFrameOption,
    ViewOption,
)
from .progress import frame_progress, stage_callback

_STAGES = {"features": "encoding frames", "masks": "reading masks", "selection": "choosing frames"}


def _predicted_targets(path: Path, frames: FrameSource, plates: PlateOptions):
    """Targets from an earlier run: soft from its mattes (OUT/alpha: PNG, TIFF or EXR; OUT/layers: layered EXRs),
    else binary from OUT/masks."""
    from xmempp.candidate_selection.targets import AlphaTargets, LayerTargets, is_alpha_folder, is_layers_folder

    for folder in (path / "alpha", path):
        if is_alpha_folder(folder):
            return AlphaTargets(folder, list(frames.names), frames.size)
    for folder in (path / "layers", path):
        if is_layers_folder(folder):
            return LayerTargets(folder, frames.frame_numbers, list(frames.names), frames.size)
    folder = path / "masks" if (path / "masks").is_dir() else path
    return {index: mask.ids for index, mask in plates.read_masks(folder, frames).items()}


def review_priority(qc: Path, names: list[str]) -> list[float]:
    """Per frame, 1 - its score in a review's qc.json (frames matched by name; 0 for frames it did not review)."""
    try:
        data = json.loads(qc.read_text())
        scores = {str(f["frame"]): float(f["score"]) for f in data["frames"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read the review {qc}: {exc}; give the qc.json that `xmempp qc` wrote") from None
    if not set(scores) & set(names):
        raise InputError(
            f"the review {qc} names none of the frames (it has {next(iter(scores), 'none')}, the frames "
            f"are {names[0]} ...); give the review of this shot"
        )
    return [1.0 - scores.get(name, 1.0) for name in names]


def _frame_number(frames: FrameSource, index: int) -> int:
    """The number users know a frame by: the plate's or video's frame number, else its name's trailing number."""
    if frames.frame_numbers is not None:
        return int(frames.frame_numbers[index])
    number = mask_frame_index(frames.names[index])
    return index if number is None else number


def candidates_command(
    video: Annotated[Path, typer.Option("--video", "-v", help="Video file or folder of frames.")],
    masks: Annotated[
        Path,
        typer.Option(
            "--masks",
            "-m",
            help="Folder of the annotated masks (named after their frames; for a video, by frame "
            "number). These frames count as chosen and are never suggested.",
        ),
    ],
    k: Annotated[int, typer.Option("-k", "--count", min=1, help="Number of frames to suggest.")] = 5,
    balance: Annotated[
        float,
        typer.Option(
            "--balance",
            min=0.0,
            max=1.0,
            help="Weight of the target mask when comparing frames: 0 ignores the masks, 1 compares only the target.",
        ),
    ] = 0.5,
    predicted: Annotated[
        Path | None,
        typer.Option(
            "--predicted",
            help="Results of an earlier `xmempp process` for every frame: OUT, OUT/alpha (soft mattes: "
            "PNG 8/16-bit, TIFF, EXR, as XMem++ uses), OUT/layers (layered EXRs) or OUT/masks "
            "(index masks: binary targets); without it the annotations are propagated first.",
        ),
    ] = None,
    qc: Annotated[
        Path | None,
        typer.Option(
            "--from-review",
            help="A review (qc.json of `xmempp qc` or `process --qc`): among diverse frames, prefer the "
            "ones it flagged (each frame weighed by 1 + (1 - its score)).",
        ),
    ] = None,
    min_mask_percent: Annotated[
        float,
        typer.Option(
            "--min-mask-percent",
            min=0.0,
            max=100.0,
            help="Never suggest frames where the target covers less than this percentage of the frame.",
        ),
    ] = 0.25,
    model: ModelOption = None,
    config_file: ConfigOption = None,
    size: SizeOption = None,
    mode: ModeOption = Mode.XMEMPP,
    device: DeviceOption = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    quiet: QuietOption = False,
    frame_range: FramesOption = None,
    colorspace: ColorspaceOption = None,
    display: DisplayOption = None,
    view: ViewOption = None,
    layer: LayerOption = None,
    start_frame: StartFrameOption = None,
    mask_threshold: MaskThresholdOption = 0.5,
    mask_channel: MaskChannelOption = None,
) -> None:
    """Suggest the frames whose annotation would help the propagation most (XMem++'s diverse-frame selector).

    Example: xmempp candidates -v plates/shot_a -m roto/shot_a -k 5 --predicted out/shot_a/masks
    """
    from xmempp.candidate_selection import suggest_candidates

    config = build_config(config_file, size)
    console = Console(stderr=True, quiet=quiet)
    plates = PlateOptions(frame_range, colorspace, display, view, layer, start_frame, mask_threshold, mask_channel)
    frames = plates.open_frames(video)
    try:
        names = list(frames.names)
        annotated = plates.read_masks(masks, frames)
        references = {index: mask.ids for index, mask in annotated.items()}
        if not any(ids.any() for ids in references.values()):
            raise InputError(f"the masks in {masks} contain no objects (every pixel is 0); annotate the target first")
        predicted_masks = None
        if predicted is not None:
            predicted_masks = _predicted_targets(predicted, frames, plates)
        priority = review_priority(qc, names) if qc is not None else None
        network = load_network(model, device, console)
        with frame_progress(console, quiet, transient=True) as bar:
            result = suggest_candidates(
                network,
                frames,
                references,
                k=k,
                alpha=balance,
                predicted_masks=predicted_masks,
                config=config,
                progress=stage_callback(bar, _STAGES),
                mode=mode.value,
                min_mask_presence_percent=min_mask_percent,
                priority=priority,
            )
        numbers = [_frame_number(frames, i) for i in range(len(frames))]
    finally:
        frames.close()

    chosen = [
        {"rank": rank, "frame": numbers[index], "name": names[index], "index": index, "dissimilarity": score}
        for rank, (index, score) in enumerate(zip(result.chosen, result.dissimilarities), start=1)
    ]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "video": str(video),
                    "references": [
                        {"frame": numbers[i], "name": names[i], "index": i} for i in result.previously_chosen
                    ],
                    "requested": result.requested,
                    "candidates": chosen,
                    "invalid": [{"frame": numbers[i], "name": names[i], "index": i} for i in result.invalid],
                    "reason": result.reason,
                    "target": result.target,
                },
                indent=2,
            )
        )
        return
    out = Console(highlight=False, soft_wrap=True, markup=False)
    if chosen:
        out.print(f"Annotate next ({len(chosen)} of {len(names)} frames, most useful first):")
        width = max(len(item["name"]) for item in chosen)
        for item in chosen:
            out.print(f"{item['rank']:>3}. {item['name']:<{width}}  frame {item['frame']}")
    else:
        out.print("No frame to suggest.")
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if result.target != "soft":
        err.print(
            f"[yellow]note:[/yellow] {result.target} targets: only index masks were given for "
            f"{'some' if result.target == 'mixed' else 'the'} frames, so the selector compared binary "
            "masks; pass OUT/alpha of `xmempp process --alpha` (or leave --predicted out) for soft "
            "probabilities, as XMem++ uses"
        )
    if result.reason is not None:
        err.print(f"[yellow]note:[/yellow] {escape(result.reason)}")
    elif result.invalid and not quiet:
        err.print(
            f"[dim]skipped {len(result.invalid)} frame(s) where the target covers less than "
            f"{min_mask_percent:g}% of the frame[/dim]"
        )
