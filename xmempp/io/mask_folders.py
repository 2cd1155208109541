"""A roto folder paired with its frames: one file per keyframe, or one sub-folder of soft mattes per object.

Files pair with frames by stem (`shot_a_1022.png` <-> `shot_a_1022.jpg`); when no stem matches and
the frames are numbered, by the file's trailing number (`sh010_roto_v002.1001.png` annotates
`sh010_plate_v001.1001.exr`); for a video, by the trailing number only. Roto for a frame outside
the frames read (another `frames` range, or past the plate's end) is not used, with a notice.

Per-object folders: `roto/hair/`, `roto/jacket_2/`, ... each holding that object's soft mattes
(gray, alpha or EXR). An object's id is its folder's trailing number (1..255), else the next free
id in folder order; its name is the folder's name. On a keyframe, an object without a matte there
is background (a notice says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import UnidentifiedImageError

from xmempp.errors import InputError, Remedy, RemedyKind
from xmempp.io.images import is_hidden, natural_key, open_image
from xmempp.io.mask_files import EXR_SUFFIXES, LOSSY, decode_mask, read_matte
from xmempp.io.mask_fit import Window, fit_to_frame
from xmempp.io.mask_labels import LabeledMask, check_threshold, finish_mask, mask_frame_index
from xmempp.io.mask_palette import MAX_OBJECTS, ColorTable
from xmempp.types import PathLike

__all__ = ["read_mask_folder"]


def _files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and not is_hidden(p)), key=lambda p: p.name)


def _check_image(path: Path) -> None:
    if path.suffix.lower() in LOSSY or path.suffix.lower() in EXR_SUFFIXES:
        return
    try:
        open_image(path, "mask", decode=False).close()
    except InputError as exc:
        if isinstance(exc.__cause__, UnidentifiedImageError):
            raise InputError(
                f"{path} in the mask folder is not an image",
                remedy=Remedy(RemedyKind.FIX_INPUT, note="by removing it from the folder"),
            ) from exc
        raise


def _pair(
    files: list[Path],
    frame_names: Sequence[str],
    by_index: bool,
    frame_numbers: Sequence[int] | None,
    notices: list[str],
) -> dict[int, Path]:
    """Frame index -> roto file; files for frames outside the ones read are skipped with a notice."""
    lookup = {name: i for i, name in enumerate(frame_names)}
    numbers = list(frame_numbers) if frame_numbers is not None else None
    if by_index and numbers is None:
        numbers = list(range(len(frame_names)))
    by_number = {n: i for i, n in enumerate(numbers or [])}
    by_stem = not by_index and any(p.stem in lookup for p in files)  # numbers only when no stem matches
    paired: dict[int, Path] = {}
    outside: list[tuple[int, Path]] = []
    for path in files:
        _check_image(path)
        found = None if by_index else lookup.get(path.stem)
        if found is None and numbers is not None and not by_stem:
            number = mask_frame_index(path.stem)
            if number is None:
                what = "a video" if by_index else "a numbered sequence"
                raise InputError(
                    f"mask {path} has no frame number in its name; for {what}, each mask's name ends "
                    f"with its frame number (e.g. {frame_names[0] if frame_names else '000000'}.png)",
                    remedy=Remedy(RemedyKind.FIX_INPUT, note="by renaming the mask"),
                )
            found = by_number.get(number)
            if found is None:
                outside.append((number, path))
                continue
        elif found is None and _beyond(path.stem, frame_names, numbers):
            outside.append((mask_frame_index(path.stem) or 0, path))
            continue
        elif found is None:
            example = f"'{frame_names[0]}' ... '{frame_names[-1]}'" if frame_names else "nothing"
            raise InputError(
                f"mask {path} matches no frame: no frame is named '{path.stem}' (frames are named {example})",
                remedy=Remedy(RemedyKind.FIX_INPUT, note="by naming each mask after its frame"),
            )
        if found in paired:
            raise InputError(
                f"two masks for frame {frame_names[found]}: {paired[found].name} and {path.name}",
                remedy=Remedy(RemedyKind.FIX_INPUT, note="by keeping one of them"),
            )
        paired[found] = path
    numbers = numbers or _trailing_numbers(frame_names)
    if outside and numbers:
        outside.sort()
        listed = ", ".join(str(n) for n, _ in outside[:6]) + (" ..." if len(outside) > 6 else "")
        if not paired:
            raise InputError(
                f"no roto file is for a frame in {numbers[0]}..{numbers[-1]}: {outside[0][1].name} is for "
                f"frame {outside[0][0]} (roto for frames {listed})",
                remedy=Remedy(RemedyKind.SET, "frames", note="to a range with roto, or check the numbering"),
            )
        notices.append(
            f"{len(outside)} roto file(s) for frames outside {numbers[0]}..{numbers[-1]} not used (frames {listed})"
        )
    return dict(sorted(paired.items()))


def _trailing_numbers(frame_names: Sequence[str]) -> list[int] | None:
    numbers = [mask_frame_index(name) for name in frame_names]
    return None if not numbers or None in numbers else numbers  # type: ignore[return-value]


def _beyond(stem: str, frame_names: Sequence[str], numbers: Sequence[int] | None) -> bool:
    """True for a stem named like the frames (`chair.1090` beside `chair.1001`...) with a number none of them has."""
    number = mask_frame_index(stem)
    known = numbers or _trailing_numbers(frame_names)
    if number is None or not known or number in known:
        return False
    prefix = stem.rstrip("0123456789")
    return any(name.rstrip("0123456789") == prefix for name in frame_names)


def _object_ids(folders: list[Path], culprit: Path) -> dict[int, Path]:
    """Object id per object folder: its trailing number, else the next free id in folder order."""
    ids: dict[int, Path] = {}
    for folder in folders:
        number = mask_frame_index(folder.name)
        if number is not None and 1 <= number <= 255:
            if number in ids:
                raise InputError(
                    f"object folders {ids[number].name} and {folder.name} in {culprit} both give object id {number}",
                    remedy=Remedy(RemedyKind.FIX_INPUT, note="by renaming one of them"),
                )
            ids[number] = folder
    free = (i for i in range(1, 256) if i not in ids)
    for folder in folders:
        if folder not in ids.values():
            ids[next(free)] = folder
    return dict(sorted(ids.items()))


def _read_object_folders(
    folder: Path,
    folders: list[Path],
    frame_names: Sequence[str],
    frame_size: tuple[int, int] | None,
    by_index: bool,
    frame_numbers: Sequence[int] | None,
    threshold: float,
    channel: str | None,
    windows: Sequence[tuple[Window, Window]] | None,
    notices: list[str],
) -> dict[int, LabeledMask]:
    if len(folders) > MAX_OBJECTS:
        raise InputError(f"mask folder {folder} has {len(folders)} object folders, more than {MAX_OBJECTS}")
    objects = _object_ids(sorted(folders, key=lambda p: natural_key(p.name)), folder)
    names = {i: f.name for i, f in objects.items()}
    found: list[str] = []
    pairs = {i: _pair(_files(f), frame_names, by_index, frame_numbers, found) for i, f in objects.items()}
    scaled: list[str] = []
    keyframes = sorted({index for paired in pairs.values() for index in paired})
    result: dict[int, LabeledMask] = {}
    for index in keyframes:
        window = windows[index] if windows is not None else None
        mattes: dict[int, np.ndarray] = {}
        for oid, paired in pairs.items():
            if index not in paired:
                notices.append(f"object {names[oid]} has no matte for frame {frame_names[index]}: background there")
                continue
            matte = read_matte(paired[index], channel)
            if frame_size is not None:
                _ids, soft, notice = fit_to_frame(
                    (matte >= threshold).astype(np.uint8) * oid,
                    {oid: matte},
                    frame_size,
                    window,
                    threshold,
                    paired[index],
                )
                matte = soft[oid] if soft and oid in soft else np.zeros(frame_size, np.float32)
                if notice:
                    scaled.append(notice)
            mattes[oid] = matte
        sizes = {m.shape for m in mattes.values()}
        if len(sizes) > 1:
            raise InputError(
                f"the object mattes for frame {frame_names[index]} have different sizes "
                f"({', '.join(f'{s[1]}x{s[0]}' for s in sizes)})",
                remedy=Remedy(RemedyKind.FIX_INPUT, note="by exporting every object at one resolution"),
            )
        order = list(mattes)
        stack = np.stack([mattes[i] for i in order])
        lut = np.asarray(order, dtype=np.uint8)
        ids = np.where(stack.max(axis=0) >= threshold, lut[stack.argmax(axis=0)], 0).astype(np.uint8)
        result[index] = LabeledMask(ids, None, folder, mattes, dict(names))
    notices += list(dict.fromkeys(found))
    if scaled:
        notices.append(scaled[0] if len(scaled) == 1 else f"{scaled[0]} (and {len(scaled) - 1} more mattes)")
    return result


def read_mask_folder(
    folder: PathLike,
    frame_names: Sequence[str],
    frame_size: tuple[int, int] | None = None,
    *,
    by_index: bool = False,
    frame_numbers: Sequence[int] | None = None,
    threshold: float = 0.5,
    channel: str | None = None,
    windows: Sequence[tuple[Window, Window]] | None = None,
    notices: list[str] | None = None,
) -> dict[int, LabeledMask]:
    """Read every roto file of a folder (or every object folder) and pair each with its frame.

    Arguments:
        folder: the roto folder (hidden files are ignored).
        frame_names: the frame stems, in frame order (`FrameSource.names`).
        frame_size: (height, width) of the frames: roto is brought onto them (display window,
            scaled proxy) or refused; not checked when None.
        by_index: pair by trailing number instead of by stem (frames of a video file).
        frame_numbers: the number of each frame (`FrameSource.frame_numbers`), if any; for a video
            without them the 0-based index is the number.
        threshold: share of an object a soft-mask pixel needs to belong to it.
        channel: the EXR channel holding the roto.
        windows: (data window, display window) of every frame (EXR plates), or None.
        notices: receives one line per thing worth telling (roto scaled, files not used).
    Returns:
        {frame index: LabeledMask}, ordered by frame index. Raises `InputError` for a missing or
        empty folder, a file that is not an image, a mask matching no frame, two masks for one
        frame, roto of another aspect ratio, or an ambiguous mask.
    """
    folder = Path(folder)
    notices = notices if notices is not None else []
    if not folder.exists():
        raise InputError(f"mask folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; give the folder that holds the annotation masks")
    threshold = check_threshold(threshold)
    files = _files(folder)
    subfolders = [p for p in folder.iterdir() if p.is_dir() and not is_hidden(p)]
    if not files and subfolders:
        return _read_object_folders(
            folder, subfolders, frame_names, frame_size, by_index, frame_numbers, threshold, channel, windows, notices
        )
    if not files:
        raise InputError(
            f"mask folder {folder} is empty; add at least one annotation image named after its frame "
            f"(e.g. {frame_names[0] if frame_names else 'frame_0001'}.png), or one folder per object"
        )
    paired = _pair(files, frame_names, by_index, frame_numbers, notices)
    raws = {index: decode_mask(path, threshold, channel) for index, path in paired.items()}
    table: ColorTable | None = None
    if any(r.kind == "rgb" for r in raws.values()):
        table = ColorTable()
        table.add([int(c) for r in raws.values() if r.colours is not None for c in r.colours], culprit=folder)
    scaled: list[str] = []
    masks = {
        index: finish_mask(raw, table, frame_size, windows[index] if windows is not None else None, threshold, scaled)
        for index, raw in raws.items()
    }
    if scaled:
        notices.append(scaled[0] if len(scaled) == 1 else f"{scaled[0]} (and {len(scaled) - 1} more roto files)")
    return masks
