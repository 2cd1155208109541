"""Output-folder policy: where results may be written without destroying anything by accident.

A folder holds results in `RESULT_DIRS`; files xmempp wrote are recorded in its manifest
(`xmempp.io.manifest`), and only those may be replaced when overwriting is allowed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from xmempp.errors import OutputError, Remedy, RemedyKind
from xmempp.io.manifest import Manifest, written_by_xmempp
from xmempp.types import PathLike

__all__ = ["RESULT_DIRS", "check_output_dir"]

#: Sub-folders of an output folder that hold results.
RESULT_DIRS = ("masks", "alpha", "binary", "overlay", "layers", "cryptomatte", "foreground", "rgba")


def _has_results(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    return any(any(not f.startswith(".") for f in files) for _root, _dirs, files in os.walk(folder))


def _inside(inner: Path, outer: Path) -> bool:
    inner, outer = inner.resolve(), outer.resolve()
    return inner == outer or outer in inner.parents


def _foreign_results(out: Path) -> list[str]:
    """Result files in `out` that xmempp did not record as written (relative paths)."""
    ours = written_by_xmempp(out)
    foreign = []
    for name in RESULT_DIRS:
        for root, _dirs, files in os.walk(out / name):
            for f in files:
                rel = (Path(root) / f).relative_to(out).as_posix()
                if not f.startswith(".") and rel not in ours:
                    foreign.append(rel)
    return sorted(foreign)


def check_output_dir(
    out_dir: PathLike,
    overwrite: bool = False,
    preview: PathLike | None = None,
    inputs: Sequence[PathLike] = (),
    create: bool = True,
) -> Path:
    """Make sure results can be written to `out_dir` without destroying anything by accident.

    Arguments:
        out_dir: the output folder (created if missing and `create` is True).
        overwrite: allow replacing results xmempp wrote earlier (recorded in the folder's
            manifest); files are replaced one by one as new ones are written, nothing is deleted.
        preview: optional preview-video path, refused too if it exists and `overwrite` is False.
        inputs: input folders (frames, masks): the output folder may neither be inside one nor
            contain one.
        create: create the folder now; with False only check that it could be created (so that a
            run failing before its first frame leaves no empty folder behind).
    Returns:
        The output folder as a Path. Raises `OutputError` when it overlaps an input, already holds
        results (any of the result folders non-empty) and `overwrite` is False, holds result files
        xmempp did not write and `overwrite` is True, or is not writable.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {out} is a file, not a folder; choose a folder for the results")
    for given in inputs:
        folder = Path(given)
        if not folder.is_dir():
            continue
        if _inside(folder, out) or _inside(out, folder):
            relation = (
                "is" if folder.resolve() == out.resolve() else "contains" if _inside(folder, out) else "is inside"
            )
            raise OutputError(
                f"output folder {out} {relation} the input folder {folder}; choose an output folder "
                f"outside the inputs so results never mix with frames or masks"
            )
    if not overwrite:
        taken = [f"{name}/" for name in RESULT_DIRS if _has_results(out / name)]
        if taken:
            raise OutputError(
                f"output folder {out} already holds results ({', '.join(taken)})",
                remedy=Remedy(RemedyKind.ENABLE, "overwrite", note="(or choose another folder)"),
            )
        if preview is not None and Path(preview).exists():
            raise OutputError(
                f"preview video {preview} already exists",
                remedy=Remedy(RemedyKind.ENABLE, "overwrite", note="(or choose another name)"),
            )
    elif out.is_dir():
        foreign = _foreign_results(out)
        if preview is not None and Path(preview).exists() and not Manifest(out).owns(preview):
            foreign.append(str(preview))
        if foreign:
            listed = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise OutputError(
                f"output folder {out} holds files xmempp did not write ({listed}); overwriting only "
                f"replaces xmempp's own results: move those files away or choose another folder"
            )
    if not create:
        existing = next((p for p in (out, *out.absolute().parents) if p.exists()), None)
        if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise OutputError(
                f"cannot create output folder {out}: {existing} is not a writable folder; check its "
                f"permissions or choose another folder"
            )
        return out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror or exc}") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {out} is not writable; check its permissions or choose another folder")
    return out
