"""Numbered frame sequences: Nuke-style patterns, folder scans, gap and mixed-sequence checks.

A sequence is a set of files `<head><number><tail>` in one folder, e.g. `plate.1001.exr` ...
`plate.1100.exr` (head `plate.`, tail `.exr`, padding 4). It can be given as

* a pattern: `plate.%04d.exr` (printf), `plate.####.exr` or `plate.@@@@.exr` (one `#`/`@` per digit,
  so `#` alone is unpadded); or
* a folder holding exactly one sequence.

Numbers must run without gaps (a missing frame is an error naming it, never skipped); two sequences
in one folder are an error naming both patterns; `frames` (e.g. "1001-1100") picks a range.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xmempp.errors import InputError, Remedy, RemedyKind
from xmempp.io.frame_capabilities import frame_numbers_of
from xmempp.types import PathLike

__all__ = [
    "FrameInfo",
    "FrameSequence",
    "check_links",
    "check_numbering",
    "find_sequence",
    "frame_info",
    "is_pattern",
    "parse_frame_range",
    "scan_sequences",
]

_PRINTF = re.compile(r"%(0?)(\d*)d")
_HASHES = re.compile(r"#+|@+")
#: `<head><digits><tail>` where the digits are the last run of digits before the extension(s).
_NUMBERED = re.compile(r"^(?P<head>.*?)(?P<num>\d+)(?P<tail>(?:\.[A-Za-z][A-Za-z0-9]*)+)$")


@dataclass(frozen=True)
class FrameInfo:
    """What outputs keep of a source frame: its number and padding, and (EXR plates) its windows.

    Attributes:
        number: frame number (e.g. 1001).
        padding: digits of the source's frame numbers (0 = unpadded).
        data_window, display_window: (x, y, width, height), or None for the frame's own extent.
    """

    number: int
    padding: int = 0
    data_window: tuple[int, int, int, int] | None = None
    display_window: tuple[int, int, int, int] | None = None

    def numbered(self, name: str, suffix: str) -> str:
        """`name` + the padded frame number + `suffix`, e.g. `matte.1001.exr`."""
        digits = f"{self.number:0{self.padding}d}" if self.padding > 1 else str(self.number)
        return f"{name}.{digits}{suffix}"


def frame_info(frames: Any, index: int) -> FrameInfo | None:
    """The `FrameInfo` of frame `index` of a frame source, or None when its frames have no numbers.

    Arguments:
        frames: a frame source (an `info(index)` method for plates, else `frame_numbers` and `names`; a
            workspace's `info` is its info.json, not that method).
        index: the frame index.
    Returns:
        Number, padding and (for plates) windows of the frame.
    """
    per_frame = getattr(frames, "info", None)
    if callable(per_frame):
        return per_frame(index)
    numbers = frame_numbers_of(frames)
    if numbers is None:
        return None
    digits = re.search(r"(\d+)$", str(frames.names[index]))
    return FrameInfo(int(numbers[index]), len(digits.group(1)) if digits else 0)


def is_pattern(path: PathLike) -> bool:
    """True when the file name holds a frame-number token (`%04d`, `%d`, `####`, `@@@@`)."""
    name = Path(path).name
    return bool(_PRINTF.search(name) or _HASHES.search(name))


@dataclass(frozen=True)
class FrameSequence:
    """An ordered, gap-free numbered sequence of files.

    Attributes:
        folder: the folder holding the files.
        head, tail: the file name around the number (`plate.` and `.exr`).
        padding: digits of a zero-padded number (0 = unpadded).
        numbers: frame numbers, ascending and consecutive.
        files: the file of each number.
    """

    folder: Path
    head: str
    tail: str
    padding: int
    numbers: tuple[int, ...]
    files: tuple[Path, ...]

    @property
    def pattern(self) -> str:
        """The sequence as a printf pattern, e.g. `/shots/plate.%04d.exr`."""
        token = f"%0{self.padding}d" if self.padding > 1 else "%d"
        return str(self.folder / f"{self.head}{token}{self.tail}")

    def name_of(self, number: int, head: str | None = None, tail: str | None = None) -> str:
        """The file name of frame `number` with this sequence's padding (optionally another head/tail)."""
        digits = f"{number:0{self.padding}d}" if self.padding > 1 else str(number)
        return f"{self.head if head is None else head}{digits}{self.tail if tail is None else tail}"


def parse_frame_range(text: str) -> tuple[int, int]:
    """Parse `--frames`: "1001-1100" or a single "1001".

    Arguments:
        text: the range, inclusive at both ends.
    Returns:
        (first, last). Raises `InputError` when it is not a range of whole numbers, first <= last.
    """
    match = re.fullmatch(r"\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?", str(text))
    if not match:
        raise InputError(f"frame range {text!r} is not valid; write it as FIRST-LAST, e.g. 1001-1100")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if last < first:
        raise InputError(f"frame range {text!r} ends before it starts; write it as FIRST-LAST with FIRST <= LAST")
    return first, last


def _pattern_regex(name: str) -> tuple[re.Pattern, str, str, int]:
    """Regex matching a pattern's file names, with its head, tail and padding."""
    m = _PRINTF.search(name)
    if m:
        padding = int(m.group(2) or 0) if m.group(1) else 0
    else:
        m = _HASHES.search(name)
        assert m is not None
        padding = len(m.group(0)) if len(m.group(0)) > 1 else 0
    head, tail = name[: m.start()], name[m.end() :]
    if is_pattern(head) or is_pattern(tail):
        raise InputError(f"pattern {name!r} has more than one frame-number token; use one, e.g. plate.%04d.exr")
    digits = rf"(\d{{{padding},}})" if padding else r"(\d+)"
    return re.compile(re.escape(head) + digits + re.escape(tail) + "$"), head, tail, padding


def _check_padding(number_text: str, padding: int) -> bool:
    """True when a number's digits fit the padding (exactly `padding` digits, more only if needed)."""
    if padding <= 1:
        return not (len(number_text) > 1 and number_text.startswith("0"))
    return len(number_text) == padding or (len(number_text) > padding and not number_text.startswith("0"))


def _listing(folder: Path) -> list[str]:
    try:
        return [p.name for p in folder.iterdir() if not p.name.startswith(".") and p.is_file()]
    except FileNotFoundError as exc:
        raise InputError(f"frame folder not found: {folder}") from exc
    except OSError as exc:
        raise InputError(f"cannot list frame folder {folder}: {exc.strerror or exc}") from exc


def _ranges(numbers: list[int]) -> str:
    """`[1004, 1005, 1006, 1010]` -> "1004-1006, 1010"."""
    parts: list[str] = []
    start = prev = numbers[0]
    for n in numbers[1:] + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


def _build(
    folder: Path, head: str, tail: str, padding: int, found: dict[int, str], frames: tuple[int, int] | None, label: str
) -> FrameSequence:
    """Check the numbers of a sequence (range, gaps) and return it."""
    if not found:
        raise InputError(f"{label} matches no files; check the name and the number of digits")
    if frames is not None:
        first, last = frames
        available = f"{min(found)}-{max(found)}"
        found = {n: f for n, f in found.items() if first <= n <= last}
        if not found:
            raise InputError(
                f"{label} has no frames in {first}-{last} (it has {available})",
                remedy=Remedy(RemedyKind.SET, "frames", available),
            )
        missing = [n for n in range(first, last + 1) if n not in found]
        if missing:
            raise InputError(
                f"{label} lacks frames {_ranges(missing)} of the requested {first}-{last} (it has "
                f"{available}); render the missing frames",
                remedy=Remedy(RemedyKind.SET, "frames", note="(a narrower range)"),
            )
    else:
        lo, hi = min(found), max(found)
        missing = [n for n in range(lo, hi + 1) if n not in found]
        if missing:
            raise InputError(
                f"{label} has a gap: frame(s) {_ranges(missing)} missing between {lo} and {hi}; "
                f"render the missing frames",
                remedy=Remedy(RemedyKind.SET, "frames", note="(a gap-free part)"),
            )
    numbers = tuple(sorted(found))
    return FrameSequence(folder, head, tail, padding, numbers, tuple(folder / found[n] for n in numbers))


def _from_pattern(pattern: Path, frames: tuple[int, int] | None) -> FrameSequence:
    folder = pattern.parent if str(pattern.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"folder of the pattern {pattern} not found: {folder}")
    regex, head, tail, padding = _pattern_regex(pattern.name)
    found: dict[int, str] = {}
    for name in _listing(folder):
        m = regex.match(name)
        if m and _check_padding(m.group(1), padding):
            found[int(m.group(1))] = name
    return _build(folder, head, tail, padding, found, frames, f"pattern {pattern}")


def scan_sequences(folder: PathLike, extensions: frozenset[str] | None = None) -> list[FrameSequence]:
    """Group the numbered files of a folder into sequences (no gap check).

    Arguments:
        folder: the folder to scan (hidden files ignored).
        extensions: lower-case suffixes to consider (e.g. {".exr"}); all when None.
    Returns:
        One `FrameSequence` per (head, tail, padding), largest first; numbers may have gaps here.
    """
    folder = Path(folder)
    groups: dict[tuple[str, str], dict[int, str]] = {}
    for name in sorted(_listing(folder)):
        m = _NUMBERED.match(name)
        if not m or (extensions is not None and Path(name).suffix.lower() not in extensions):
            continue
        found = groups.setdefault((m.group("head"), m.group("tail")), {})
        number = int(m.group("num"))
        if number in found:
            raise InputError(f"two files for frame {number} in {folder}: {found[number]} and {name}; keep one")
        found[number] = name
    sequences = []
    for (head, tail), found in groups.items():
        widths = {len(found[n]) - len(head) - len(tail) for n in found}
        padding = min(widths) if len(widths) == 1 or any(found[n][len(head)] == "0" for n in found) else 0
        numbers = tuple(sorted(found))
        sequences.append(
            FrameSequence(
                folder, head, tail, padding if padding > 1 else 0, numbers, tuple(folder / found[n] for n in numbers)
            )
        )
    return sorted(sequences, key=lambda s: -len(s.numbers))


def find_sequence(
    path: PathLike, frames: tuple[int, int] | None = None, extensions: frozenset[str] | None = None
) -> FrameSequence:
    """The sequence named by a pattern, or the one sequence in a folder.

    Arguments:
        path: a pattern (`plate.%04d.exr`, `plate.####.exr`, `plate.@@@@.exr`) or a folder.
        frames: optional (first, last) range to keep.
        extensions: for a folder, the suffixes that count as frames.
    Returns:
        A gap-free `FrameSequence`. Raises `InputError` for a pattern matching nothing, a folder
        without a numbered sequence or with several, and a gap in the numbers.
    """
    path = Path(path)
    if is_pattern(path):
        return _from_pattern(path, frames)
    sequences = scan_sequences(path, extensions)
    if not sequences:
        raise InputError(
            f"no numbered frames found in {path}; name frames like plate.1001.exr or give a pattern "
            f"such as {path / 'plate.%04d.exr'}"
        )
    if len(sequences) > 1:
        names = ", ".join(s.pattern for s in sequences[:4])
        raise InputError(
            f"{path} holds {len(sequences)} different sequences ({names}); give the one you want as a "
            f"pattern, e.g. -v {sequences[0].pattern}"
        )
    seq = sequences[0]
    found = dict(zip(seq.numbers, (f.name for f in seq.files)))
    return _build(path, seq.head, seq.tail, seq.padding, found, frames, f"sequence {seq.pattern}")


def check_links(paths: Iterable[Path]) -> None:
    """Refuse a frame that is a dangling or looping symbolic link (it would be skipped silently).

    Arguments:
        paths: candidate frame files of a folder.
    Returns:
        None. Raises `InputError` naming the link and where it points.
    """
    for path in paths:
        if not path.is_symlink():
            continue
        try:
            path.stat()
        except OSError as exc:
            target = os.readlink(path)
            why = "a link loop" if exc.errno == errno.ELOOP else f"a broken link to {target}"
            raise InputError(
                f"frame {path} is {why}; the frame is missing", remedy=Remedy(RemedyKind.FIX_INPUT)
            ) from None


def check_numbering(folder: Path, files: Sequence[Path]) -> None:
    """Refuse a numbered frame folder that holds several sequences or has gaps in its numbers.

    Arguments:
        folder: the folder.
        files: its frame files, every stem ending in a frame number.
    Returns:
        None. Raises `InputError` naming the sequences (by pattern) or the missing frames (by number and
        file name).
    """
    groups: dict[str, dict[int, Path]] = {}
    for path in files:
        m = re.match(r"^(.*?)(\d+)$", path.stem)
        assert m is not None
        found = groups.setdefault(m.group(1), {})
        if int(m.group(2)) in found:
            raise InputError(
                f"two files for frame {int(m.group(2))} in {folder}: {found[int(m.group(2))].name} and "
                f"{path.name}; keep one",
                remedy=Remedy(RemedyKind.FIX_INPUT),
            )
        found[int(m.group(2))] = path
    if len(groups) > 1:
        listed = ", ".join(
            f"{head}#### ({len(found)} frames, {min(found)}-{max(found)})"
            for head, found in sorted(groups.items(), key=lambda g: -len(g[1]))[:4]
        )
        raise InputError(
            f"frame folder {folder} holds {len(groups)} sequences: {listed}; put each shot in its own "
            f"folder, or give one sequence as a pattern",
            remedy=Remedy(RemedyKind.FIX_INPUT),
        )
    ((head, found),) = groups.items()
    lo, hi = min(found), max(found)
    missing = [n for n in range(lo, hi + 1) if n not in found]
    if missing:
        sample = found[lo]
        digits = len(sample.stem) - len(head)
        padded = digits if sample.stem[len(head)] == "0" or len({len(p.stem) for p in found.values()}) == 1 else 0
        names = ", ".join(f"{head}{n:0{padded}d}{sample.suffix}" for n in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise InputError(
            f"frame folder {folder} has a gap: frame(s) {_ranges(missing)} ({names}{more}) missing "
            f"between {lo} and {hi}; render the missing frames, or process a gap-free part",
            remedy=Remedy(RemedyKind.SET, "frames", note="to a gap-free range"),
        )
