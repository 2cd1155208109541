"""`xmempp eval`: DAVIS-style J, F and J&F of predicted masks against ground truth."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


from xmempp.evaluation.metrics import evaluate_folders



def eval_command(
    pred_dir: Annotated[Path, typer.Argument(help="Predicted masks (or an xmempp output folder with masks/).")],
    gt_dir: Annotated[Path, typer.Argument(help="Ground-truth masks, named like the predictions.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Score predicted masks against ground truth: J (region IoU), F (boundary) and J&F per object.

    Masks pair by file stem; every ground-truth frame needs a prediction.
    Example: xmempp eval out/shot_a gt/shot_a
    """
    result = evaluate_folders(pred_dir, gt_dir)
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
    if result.extra_ids:
        console.print(f"ignored ids found only in predictions: {', '.join(map(str, result.extra_ids))}",
                      style="yellow", highlight=False)
