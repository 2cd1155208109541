"""Find or create the workspace the GUI opens (no Qt): `--video` / `--images` go through
`xmempp.io.workspace.create_workspace`, the code path of `xmempp import`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from xmempp.errors import InputError, OutputError
from xmempp.io.workspace_info import WorkspaceInfo

__all__ = ["default_name", "workspace_from_source"]


def default_name(source: Path) -> str:
    """Workspace name for a video, frame folder or frame pattern: its file stem / folder name / the
    pattern's name before the frame number."""
    from xmempp.io.sequences import is_pattern

    source = Path(source)
    if is_pattern(source):
        name = source.name.split("%")[0].split("#")[0].split("@")[0].rstrip("._-") or source.parent.resolve().name
    else:
        name = source.stem if source.is_file() else source.resolve().name
    name = name.lstrip(".") or "shot"
    return name


def _made_from(path: Path, source: Path) -> bool:
    try:
        info = WorkspaceInfo.read(path / "info.json")
    except InputError:
        return False
    return info.source == str(source.resolve())


def workspace_from_source(
    source: Path,
    root: Path = Path("workspace"),
    name: str | None = None,
    masks: Path | None = None,
    size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, bool]:
    """The workspace for a video file or frame folder, created on first use.

    Arguments:
        source: a video file, a folder of frames or a frame pattern (`plate.%04d.exr`, `plate.####.exr`).
        root: workspace root folder (`./workspace` by default, as XMem++).
        name: workspace name (default: the video stem / folder name).
        masks: optional folder of annotation masks to import as references.
        size: shorter side of the workspace images; None or <= 0 keeps the source size.
        progress: called as progress(done, total) while frames are imported.
    Returns:
        (workspace path, created). An existing workspace made from the same source is reopened
        (nothing is overwritten); one made from something else raises `OutputError`.
    """
    from xmempp.io.masks import read_mask_folder
    from xmempp.io.sequences import is_pattern
    from xmempp.io.sources import open_frames
    from xmempp.io.workspace import create_workspace

    source = Path(source).expanduser()
    if not source.exists() and not is_pattern(source):
        raise InputError(f"{source} does not exist; give a video file, a folder of frames or a frame pattern")
    name = name or default_name(source)
    dest = Path(root) / name
    if dest.is_dir() and any(dest.iterdir()):
        if _made_from(dest, source):
            return dest, False
        raise OutputError(
            f"workspace {dest} already exists and was not made from {source}; open it with "
            f"--workspace {dest}, or choose another --name"
        )
    frames = open_frames(source)
    try:
        mask_set = None
        if masks is not None:
            mask_set = read_mask_folder(masks, frames.names, frames.size, by_index=frames.is_video)
        path = create_workspace(root, name, frames, mask_set, size if size and size > 0 else None, progress=progress)
    finally:
        frames.close()
    return path, True
