"""`xmempp eval`: DAVIS-style J, F and J&F of predicted masks against ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from xmempp.errors import InputError
from xmempp.evaluation.matting_folders import MATTING_METRICS, MattingResult, evaluate_matte_folders
from xmempp.evaluation.metrics import evaluate_folders
from xmempp.io.images import is_hidden


def annotated_names(masks: Path | None, annotated: str | None) -> list[str]:
    """Names of the annotated frames: the file stems in `masks` and the comma-separated `annotated`.

    Arguments:
        masks: the annotation folder given to `xmempp process -m`, or None.
        annotated: comma-separated frame names or numbers (`0,30` or `shot_a_1001`), or None.
    Returns:
        The names, as `evaluate_folders(annotated=...)` takes them.
    """
    names = [n.strip() for n in (annotated or "").split(",") if n.strip()]
    if masks is not None:
        if not masks.is_dir():
            raise InputError(
                f"annotation folder not found: {masks}; give the folder of masks the shot was processed with (-m)"
            )
        names += [p.stem for p in sorted(masks.iterdir()) if p.is_file() and not is_hidden(p)]
    return names


def _print_matting(result: MattingResult, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    table = Table(title="matting errors (lower is better)")
    table.add_column("object", justify="right")
    table.add_column("frames", justify="right")
    for name in MATTING_METRICS:
        table.add_column(name, justify="right")
    for obj in result.objects:
        table.add_row(str(obj.object_id), str(obj.frames), *(f"{getattr(obj, m):.4g}" for m in MATTING_METRICS))
    table.add_section()
    table.add_row("mean", "", *(f"{result.mean(m):.4g}" for m in MATTING_METRICS), style="bold")
    Console().print(table)


def eval_command(
    pred_dir: Annotated[Path, typer.Argument(help="Predicted masks (or an xmempp output folder with masks/).")],
    gt_dir: Annotated[
        Path,
        typer.Argument(help="Ground-truth masks, named like the predictions (or an xmempp output folder with masks/)."),
    ],
    masks: Annotated[
        Path | None,
        typer.Option(
            "--masks", "-m", help="The annotation masks the shot was processed with: their frames are not scored."
        ),
    ] = None,
    annotated: Annotated[
        str | None,
        typer.Option("--annotated", help="Annotated frames not to score, by name or number: '0,30' or 'shot_a_1001'."),
    ] = None,
    include_annotated: Annotated[
        bool, typer.Option("--include-annotated", help="Score the annotated frames too (DAVIS does not).")
    ] = False,
    include_ends: Annotated[
        bool, typer.Option("--include-ends", help="Score the first and last ground-truth frames too (DAVIS does not).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
    matting: Annotated[
        bool,
        typer.Option(
            "--matting",
            help="Score soft mattes against ground-truth alpha instead (folders of mattes, or one "
            "sub-folder per object id): SAD, MSE, gradient and connectivity errors, dtSSD.",
        ),
    ] = False,
    band: Annotated[
        int,
        typer.Option(
            "--band",
            min=0,
            help="With --matting: pixels the ground truth's edge band is dilated by (MSE, gradient, "
            "connectivity are scored in it).",
        ),
    ] = 8,
) -> None:
    """Score predicted masks against ground truth: J (region IoU), F (boundary) and J&F per object.

    As in the DAVIS 2017 semi-supervised evaluation, the first and last
    ground-truth frames and the annotated frames (-m, --annotated) are not scored.
    Masks pair by file stem; every scored ground-truth frame needs a prediction.

    With --matting, soft mattes are scored against ground-truth alpha (lower is better; SAD, gradient
    and connectivity errors / 1000 as in Composition-1k, dtSSD x 100).

    Example: xmempp eval out/shot_a gt/shot_a -m roto/shot_a
    """
    if matting:
        _print_matting(evaluate_matte_folders(pred_dir, gt_dir, band=band), as_json)
        return
    names = [] if include_annotated else annotated_names(masks, annotated)
    result = evaluate_folders(pred_dir, gt_dir, annotated=names, include_ends=include_ends)
    if as_json:
        data = result.to_dict()
        data.update(pred_dir=str(pred_dir), gt_dir=str(gt_dir))
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"J&F over {result.frames} frames")
    table.add_column("object", justify="right")
    table.add_column("J", justify="right")
    table.add_column("F", justify="right")
    table.add_column("J&F", justify="right")
    for obj in result.objects:
        table.add_row(str(obj.object_id), f"{obj.J:.4f}", f"{obj.F:.4f}", f"{obj.JF:.4f}")
    table.add_section()
    table.add_row("mean", f"{result.J:.4f}", f"{result.F:.4f}", f"{result.JF:.4f}", style="bold")
    console = Console()
    console.print(table)
    if result.excluded:
        listed = ", ".join(f"{stem} ({why})" for stem, why in result.excluded.items())
        console.print(f"not scored (DAVIS protocol): {listed}", highlight=False)
    if result.extra_ids:
        console.print(
            f"ignored ids found only in predictions: {', '.join(map(str, result.extra_ids))}",
            style="yellow",
            highlight=False,
        )
