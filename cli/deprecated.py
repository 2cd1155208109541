"""Old option spellings kept working: hidden aliases of today's options, each with a notice on stderr.

Options renamed or replaced since the first release (0.1.0) stay accepted until 1.0 (CHANGELOG.md: the
deprecation policy). They are not click options: `rewrite_args` replaces an old spelling in the command line
before click parses it, so `--help`, shell completion and the vocabulary test see only today's options. Both
`--old VALUE` and `--old=VALUE` are mapped, and a token that is the value of another option is left alone.
A new spelling of two words (`--precision fp32`) is what an old flag meant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import typer

from .logs import active_log

__all__ = ["OLD_OPTIONS", "REMOVED_IN", "rewrite_args"]

#: The release in which the aliases go (a major release: removals are listed under "Removed" then).
REMOVED_IN = "1.0"

#: command path -> {old spelling: new spelling}, with the commit that renamed each (see CHANGELOG.md).
OLD_OPTIONS: dict[str, dict[str, str]] = {
    "batch": {"--devices": "--device"},  # 8b08e59
    "bench": {
        "--frames": "--count",  # 8b08e59
        "--autocast": "--precision auto",  # 0b5e9c0
        "--no-autocast": "--precision fp32",
    },  # 0b5e9c0
    "candidates": {"--k": "--count", "--alpha": "--balance"},  # 8b08e59
    "demo": {"--frames": "--count"},  # 8b08e59
    "gui": {"--root": "--into"},  # 8b08e59
    "import": {"--workspace": "--into"},  # 8b08e59
    "refine": {"--mattes": "--masks"},  # 2831453
    "refine-bench": {
        "--frames": "--count",  # 2831453
        "--matting": "--score-matting",
        "--no-matting": "--no-score-matting",
    },
}


def _warn(message: str) -> None:
    log = active_log()
    if log is not None and log.json:  # `--log-format json`: a warning record
        log.warning(message.removeprefix("warning: "))
    else:
        typer.echo(message, err=True)


def _values_taken(command: Any, token: str) -> int:
    """How many of the next arguments `token` consumes as its value in `command` (0: a flag or not an option)."""
    for param in getattr(command, "params", ()):
        if token in (*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())):
            if getattr(param, "param_type_name", "") != "option" or param.is_flag or param.count:
                return 0
            return max(param.nargs, 1)
    return 0


def rewrite_args(group: Any, args: Sequence[str], warn: Callable[[str], None] = _warn) -> list[str]:
    """`args` with the old spellings of the invoked command's options replaced by today's.

    Arguments:
        group: the click group the arguments are for (the `xmempp` application).
        args: the command line after the program name.
        warn: where the notices go (one line per old spelling used; default stderr).
    Returns:
        The arguments to parse; unchanged when the command has no old spellings or none is used.
    """
    args = list(args)
    command: Any = group
    path: list[str] = []
    i = 0
    while i < len(args) and hasattr(command, "commands"):  # the groups' own options, then a sub-command's name
        token = args[i]
        i += 1
        if token == "--":
            return args
        if token.startswith("-"):
            i += _values_taken(command, token)
            continue
        command = command.commands.get(token)
        if command is None:
            return args
        path.append(token)
    aliases = OLD_OPTIONS.get(" ".join(path))
    if not aliases:
        return args
    out: list[str] = args[:i]
    warned: set[str] = set()
    while i < len(args):
        token = args[i]
        i += 1
        if token == "--":
            out.extend(args[i - 1 :])
            break
        name, eq, value = token.partition("=") if token.startswith("--") else (token, "", "")
        new = aliases.get(name, "").split()
        if new and not (eq and len(new) > 1):  # a flag's two-word meaning takes no `=value`: click refuses it
            if name not in warned:
                warn(f"warning: {name} is deprecated, use {' '.join(new)} (it will be removed in {REMOVED_IN})")
                warned.add(name)
            if eq:
                out.append(f"{new[0]}={value}")
                continue
            out.extend(new)
            if len(new) > 1:
                continue
            token = new[0]
        else:
            out.append(token)
            if eq:
                continue
        skip = _values_taken(command, token)
        out.extend(args[i : i + skip])
        i += skip
    return out
