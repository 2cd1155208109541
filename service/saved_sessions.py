"""A session's saved form in the state folder, so that sessions outlive a restart of the server.

Each session folder holds `session.json` (its settings and where its frames come from), its uploaded
frames (`frames/`, as sent) and its references (`references/<frame>.png`, index PNGs); all are written
atomically as they change, so a server killed at any moment leaves a folder the next one can read. Track
results are not kept across a restart: a restored session lists the runs it had as gone, and a new track
gives the same masks (the references and settings are the same).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from xmempp.errors import InputError, XMemppError
from xmempp.inference.config import InferenceConfig
from xmempp.io.atomic import TEMP_PREFIX, atomic_write_text, remove_leftovers
from xmempp.io.frames import FrameSource
from xmempp.io.masks import read_mask
from xmempp.io.sources import open_frames

from .media import ConfinedFrames, resolve_media

#: The file of a session's settings inside its folder.
SESSION_FILE = "session.json"
#: The file (in the state folder) of the ids of closed and expired sessions, for a later server's 404s.
GONE_FILE = "gone.json"
#: `session.json`'s format name and version (a folder with another is not restored).
FORMAT, VERSION = "xmempp-service-session", 1
#: Suffixes of uploaded frames.
FRAME_SUFFIXES = (".png", ".jpg")


@dataclass
class SavedSession:
    """What `session.json` holds.

    Attributes:
        id: the session id.
        mode: memory mechanism; config: the inference settings.
        frames: the shot's number of frames.
        source: the resolved server-side shot, or None for uploaded frames.
        palette: the references' palette once one came with a PNG reference, else None.
        colours: (packed 0xRRGGBB colour, object id) pairs of flat-colour RGB references, in id order.
        owner: the name of the token that opened the session (None: a server without tokens); a restarted server
            counts the session against that token's limits again.
    """

    id: str
    mode: str
    config: InferenceConfig
    frames: int
    source: Path | None = None
    palette: np.ndarray | None = None
    colours: list[tuple[int, int]] = field(default_factory=list)
    owner: str | None = None

    def to_json(self) -> str:
        """The JSON text of `session.json`."""
        return json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "id": self.id,
                "mode": self.mode,
                "config": dataclasses.asdict(self.config),
                "frames": self.frames,
                "source": str(self.source) if self.source is not None else None,
                "palette": self.palette.tolist() if self.palette is not None else None,
                "colours": [list(pair) for pair in self.colours],
                "owner": self.owner,
            },
            indent=1,
        )

    def save(self, folder: Path) -> None:
        """Write `folder/session.json` atomically."""
        atomic_write_text(folder / SESSION_FILE, self.to_json(), fsync=False)

    @classmethod
    def load(cls, folder: Path) -> SavedSession:
        """Read `folder/session.json`; raises `InputError` (a `ValueError`) saying what is wrong with it."""
        path = folder / SESSION_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"it has no {SESSION_FILE}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"its {SESSION_FILE} cannot be read ({type(exc).__name__})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
            raise InputError(f"its {SESSION_FILE} is not a version {VERSION} session file")
        try:
            palette = data["palette"]
            return cls(
                id=str(data["id"]),
                mode=str(data["mode"]),
                config=InferenceConfig.from_mapping(data["config"]),
                frames=int(data["frames"]),
                source=Path(data["source"]) if data["source"] is not None else None,
                palette=np.asarray(palette, dtype=np.uint8).reshape(256, 3) if palette is not None else None,
                colours=[(int(code), int(oid)) for code, oid in data["colours"]],
                owner=str(data["owner"]) if data.get("owner") is not None else None,  # absent in older files
            )
        except (KeyError, TypeError, ValueError, XMemppError) as exc:
            raise InputError(f"its {SESSION_FILE} has a missing or bad field ({exc})") from None


@dataclass
class RestoredFiles:
    """What a session folder holds besides its settings.

    Attributes:
        frames: the shot's frames once they are all there (server-side or every upload), else None.
        uploaded: uploaded frame indices; upload_size: their (height, width).
        references: frame -> HxW uint8 ids.
        old_runs: ids of the track runs whose results were removed (they ran before the restart).
    """

    frames: FrameSource | None
    uploaded: set[int]
    upload_size: tuple[int, int] | None
    references: dict[int, np.ndarray]
    old_runs: list[str]


def restore_files(folder: Path, saved: SavedSession, roots: Sequence[Path]) -> RestoredFiles:
    """Reopen a saved session's frames and read its references; remove its old track results.

    Arguments:
        folder: the session folder.
        saved: its `session.json`.
        roots: the media roots the server allows now.
    Returns:
        Its files. Raises `ValueError` (or an `XMemppError` such as `PathRefused`) saying why it cannot be
        restored; nothing is removed then.
    """
    remove_leftovers(folder)
    opened: FrameSource | None = None
    uploaded: set[int] = set()
    size: tuple[int, int] | None = None
    if saved.source is not None:
        opened = ConfinedFrames(open_frames(resolve_media(str(saved.source), roots)), roots)
        if len(opened) != saved.frames:
            opened.close()
            raise InputError(f"its shot now has {len(opened)} frames, it had {saved.frames}")
        size = tuple(opened.size)  # type: ignore[assignment]
    else:
        for path in sorted((folder / "frames").iterdir()):
            if path.suffix in FRAME_SUFFIXES and path.stem.isdigit() and not path.name.startswith("."):
                index = int(path.stem)
                if not 0 <= index < saved.frames:
                    raise InputError(f"it holds frame {index} of a shot of {saved.frames}")
                with Image.open(path) as image:  # the header only: uploads were checked when they came
                    width, height = image.size
                if size not in (None, (height, width)):
                    raise InputError(f"its uploaded frames have two sizes, {size} and {(height, width)}")
                uploaded.add(index)
                size = (height, width)
        if len(uploaded) == saved.frames:
            opened = open_frames(folder / "frames")
    try:
        references = _read_references(folder / "references", saved.frames, size)
    except BaseException:
        if opened is not None:
            opened.close()
        raise
    tracks = folder / "tracks"
    old_runs = sorted(p.name for p in tracks.iterdir() if p.is_dir()) if tracks.is_dir() else []
    shutil.rmtree(tracks, ignore_errors=True)
    tracks.mkdir()
    return RestoredFiles(opened, uploaded, size, references, old_runs)


def _read_references(folder: Path, frames: int, size: tuple[int, int] | None) -> dict[int, np.ndarray]:
    references: dict[int, np.ndarray] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", TEMP_PREFIX)) or path.suffix != ".png" or not path.stem.isdigit():
            continue
        index = int(path.stem)
        ids = read_mask(path).ids
        if not 0 <= index < frames or size is None or ids.shape != size:
            raise InputError(f"its reference {path.name} does not fit the shot")
        references[index] = np.ascontiguousarray(ids, dtype=np.uint8)
    return references


def load_gone(state_dir: Path) -> dict[str, tuple[str, float]]:
    """Closed and expired session ids a previous server saved (id -> (how, when)); empty when unreadable."""
    try:
        data = json.loads((state_dir / GONE_FILE).read_text(encoding="utf-8"))
        return {str(sid): (str(how), float(when)) for sid, (how, when) in data.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def save_gone(state_dir: Path, gone: dict[str, tuple[str, float]]) -> None:
    """Write the closed and expired ids (oldest first) atomically."""
    atomic_write_text(state_dir / GONE_FILE, json.dumps({sid: list(v) for sid, v in gone.items()}), fsync=False)


def utc(when: float) -> str:
    """`when` (seconds since 1970) as an ISO 8601 UTC time to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
