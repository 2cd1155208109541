"""What an `xmempp serve` instance is allowed to do: address, tokens, media roots and limits."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from xmempp.errors import ConfigError

from .auth import TokenBook, token_book


@dataclass
class ServiceSettings:
    """Settings of the tracking service.

    Attributes:
        host, port: where to listen (localhost unless told otherwise).
        token: bearer token every /v1 request except /v1/health must carry, or None for none (with a token
            file too, it is one more token, named "default").
        token_file: a file of named tokens with their limits (`service.auth`), or None.
        protect_docs: /docs and /openapi.json need a token too (Bearer, or HTTP Basic with the token as password).
        media_roots: folders whose videos and frame folders sessions may open.
        state_dir: where session frames, references and results are kept (default: a new temp folder).
        model: checkpoint path, or None for the official XMem.pth (downloaded on first use).
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        max_body_bytes: largest request body accepted.
        max_frames: most frames a session may have.
        max_frame_pixels: largest uploaded frame (width x height); larger ones are refused from their header.
        max_sessions: most sessions open at once.
        max_polls_per_client: long polls and streams one client address may hold open at once.
        session_ttl_s: a session nobody used for this long is closed and its files removed.
        owns_state_dir: True when `state_dir` was made for this server (it is removed when the server stops).
        tokens: the tokens accepted (`token` and those of `token_file`; empty: no authentication).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    token_file: Path | None = None
    protect_docs: bool = False
    media_roots: list[Path] = field(default_factory=list)
    state_dir: Path | None = None
    model: Path | None = None
    device: str = "auto"
    max_body_bytes: int = 64 << 20
    max_frames: int = 10_000
    max_frame_pixels: int = 4096 * 4096
    max_sessions: int = 8
    max_polls_per_client: int = 16
    session_ttl_s: float = 3600.0
    owns_state_dir: bool = field(default=False, init=False)
    tokens: TokenBook = field(default_factory=TokenBook, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_frames", "max_frame_pixels", "max_sessions", "max_polls_per_client"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.session_ttl_s <= 0:
            raise ConfigError(f"session_ttl_s must be positive, got {self.session_ttl_s}")
        self.tokens = token_book(self.token, self.token_file)
        if self.protect_docs and not self.tokens:
            raise ConfigError(
                "protect_docs needs a token (--token or --token-file): without one, nothing protects the docs"
            )
        roots = []
        for root in self.media_roots:
            real = Path(root).expanduser().resolve()
            if not real.is_dir():
                raise ConfigError(f"media root {root} is not a folder")
            roots.append(real)
        self.media_roots = roots
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="xmempp-serve-"))
            self.owns_state_dir = True
        self.state_dir = Path(self.state_dir).expanduser().resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
