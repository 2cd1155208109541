"""Who may use an `xmempp serve` instance: named bearer tokens, each with its own limits.

A studio gives every client (a tool, a farm user, Prometheus) a token of its own in a token file; the token's
name appears in the access log and the metrics, and its limits cap the sessions it keeps open and the track runs
it has queued or running. `--token` alone is the simplest form: one token named `default`, without limits.

The token file is TOML (`.toml`) or JSON (any other suffix)::

    [tokens]
    farm = "5b2e...07"    # a token without limits of its own

    [tokens.nuke-tools]
    token = "3f0c...e1"
    max_sessions = 4
    max_tracks = 2

    [tokens.prometheus]
    token = "9a7d...42"
    max_sessions = 0      # may read /metrics and sessions, may open none
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xmempp.errors import ConfigError

__all__ = ["ANONYMOUS", "DEFAULT_NAME", "UNAUTHENTICATED", "TokenBook", "TokenSpec", "read_token_file"]

#: The name of the `--token` token.
DEFAULT_NAME = "default"
#: The token name of requests to a server without tokens.
ANONYMOUS = "anonymous"
#: The token name of requests without a valid token (logs and metrics).
UNAUTHENTICATED = "none"
#: What a token name may be: it is a metrics label value and a log field.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_LIMITS = ("max_sessions", "max_tracks")


@dataclass(frozen=True)
class TokenSpec:
    """One named token.

    Attributes:
        name: what logs and metrics call its requests.
        token: the secret itself.
        max_sessions: sessions it may keep open at once (None: only the server's limit; 0: it may open none).
        max_tracks: track runs it may have queued or running at once (None: no own limit; 0: it may start none).
    """

    name: str
    token: str
    max_sessions: int | None = None
    max_tracks: int | None = None

    def __repr__(self) -> str:  # never the secret, e.g. in a traceback
        return f"TokenSpec(name={self.name!r}, max_sessions={self.max_sessions}, max_tracks={self.max_tracks})"


class TokenBook:
    """The tokens a server accepts (empty: no authentication).

    Arguments:
        tokens: the named tokens; names and secrets must be unique.
    """

    def __init__(self, tokens: Sequence[TokenSpec] = ()) -> None:
        self.tokens = tuple(tokens)
        names = [t.name for t in self.tokens]
        for name in names:
            if names.count(name) > 1:
                raise ConfigError(f"two tokens are named {name!r}; give each token its own name")
        seen: dict[str, str] = {}
        for spec in self.tokens:
            if spec.token in seen:
                raise ConfigError(
                    f"tokens {seen[spec.token]!r} and {spec.name!r} have the same secret; give each "
                    "client its own token"
                )
            seen[spec.token] = spec.name
        self._digests = [(spec, _digest(spec.token)) for spec in self.tokens]

    def __bool__(self) -> bool:
        return bool(self.tokens)

    @property
    def names(self) -> list[str]:
        """The token names, in file order."""
        return [t.name for t in self.tokens]

    def match(self, given: str) -> TokenSpec | None:
        """The token whose secret is `given`, or None.

        The SHA-256 digests of `given` and of every secret are compared in constant time (digests: equal lengths
        whatever the secrets' lengths), all of them whatever matches, so the answer's timing tells nothing about
        which token, or how much of one, was right.
        """
        given_digest = _digest(given)
        found = None
        for spec, digest in self._digests:
            if secrets.compare_digest(given_digest, digest):
                found = spec
        return found

    def identify(self, authorization: str, basic: bool = False) -> TokenSpec | None:
        """The token an `Authorization` header carries (`Bearer <token>`; with `basic`, also HTTP Basic with the
        token as the password, which browsers prompt for), or None for none or a wrong one."""
        scheme, _, value = authorization.strip().partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "bearer" and value:
            return self.match(value)
        if basic and scheme == "basic" and value:
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return self.match(decoded.partition(":")[2])
        return None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def token_book(token: str | None = None, token_file: Path | None = None) -> TokenBook:
    """The tokens of a server: those of `token_file`, and `token` (from `--token`) named `default`.

    Returns:
        The book (empty without either). Raises `ConfigError` for an empty token, a bad file, or a file that
        also names a token `default` when `token` is given.
    """
    specs: list[TokenSpec] = []
    if token_file is not None:
        specs += read_token_file(token_file)
    if token is not None:
        if not token.strip():
            raise ConfigError("the token must not be empty")
        if any(s.name == DEFAULT_NAME for s in specs):
            raise ConfigError(
                f"the token file {token_file} names a token {DEFAULT_NAME!r}, the name of --token "
                "(XMEMPP_TOKEN); rename it in the file or leave --token out"
            )
        specs.append(TokenSpec(DEFAULT_NAME, token))
    return TokenBook(specs)


def read_token_file(path: Path) -> list[TokenSpec]:
    """The named tokens of a token file (TOML for a `.toml` file, else JSON; see the module's docstring).

    Returns:
        The tokens, in file order. Raises `ConfigError` naming the line of a syntax error and the key of a bad
        entry.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"the token file {path} is not UTF-8 text (line {line})") from None
    data = _parse(path, text)
    if not isinstance(data, dict) or not isinstance(data.get("tokens"), dict):
        raise ConfigError(
            f"the token file {path} has no 'tokens' table; write [tokens.NAME] tables with token = "
            '"..." (TOML) or {"tokens": {"NAME": {"token": "..."}}} (JSON)'
        )
    unknown = sorted(set(data) - {"tokens"})
    if unknown:
        raise ConfigError(f"the token file {path} has unknown key {unknown[0]!r}; only 'tokens' is read")
    if not data["tokens"]:
        raise ConfigError(f"the token file {path} has no token under 'tokens'")
    specs = [_spec(path, name, entry) for name, entry in data["tokens"].items()]
    try:
        TokenBook(specs)  # a secret given twice
    except ConfigError as exc:
        raise ConfigError(f"the token file {path}: {exc.message}") from None
    return specs


def _parse(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise ConfigError(
                f"reading the TOML token file {path} needs Python 3.11 or later; write it as JSON "
                "(a .json file) instead"
            ) from None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"the token file {path} is not valid TOML: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"the token file {path} is not valid JSON: {exc.msg} (line {exc.lineno}, column "
            f"{exc.colno}); name it .toml for TOML"
        ) from None


def _spec(path: Path, name: Any, entry: Any) -> TokenSpec:
    """One token of the file, checked; errors name its key (`tokens.NAME.field`)."""
    key = f"tokens.{name}"
    if not _NAME.match(str(name)):
        raise ConfigError(
            f"the token file {path}: {key}: a token name is 1 to 64 letters, digits, '_', '.' or "
            "'-', beginning with a letter or digit (it appears in logs and metrics)"
        )
    fields: Mapping[str, Any] = {"token": entry} if isinstance(entry, str) else entry
    if not isinstance(fields, Mapping):
        raise ConfigError(
            f"the token file {path}: {key} must be the token (a string) or a table with 'token' and limits"
        )
    unknown = sorted(set(fields) - {"token", *_LIMITS})
    if unknown:
        raise ConfigError(
            f"the token file {path}: {key}.{unknown[0]} is not a token setting; use token, " + ", ".join(_LIMITS)
        )
    token = fields.get("token")
    if not isinstance(token, str) or not token.strip():
        raise ConfigError(f"the token file {path}: {key}.token must be a non-empty string")
    if token != token.strip() or any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError(
            f"the token file {path}: {key}.token has white space or control characters; a bearer "
            "token is one word (e.g. from `openssl rand -hex 16`)"
        )
    limits: dict[str, int | None] = {}
    for field in _LIMITS:
        value = fields.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ConfigError(
                f"the token file {path}: {key}.{field} must be a whole number of at least 0, got {value!r}"
            )
        limits[field] = value
    return TokenSpec(str(name), token, **limits)
