"""Deprecation helpers for the Python API (the CLI's renamed options are in `xmempp.cli.deprecated`).

The policy is CHANGELOG.md's: an old way of calling stays accepted, with a `DeprecationWarning` naming the new
one, for at least two minor releases.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["legacy_positionals"]

F = TypeVar("F", bound=Callable[..., Any])


def legacy_positionals(*names: str, since: str) -> Callable[[F], F]:
    """Accept the keyword-only parameters `names` positionally as well, in that order, with a warning.

    For functions whose options became keyword-only: calls written before `since` keep working and say how
    to write them now.
    """

    def wrap(function: F) -> F:
        parameters = inspect.signature(function).parameters.values()
        fixed = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            extra = args[fixed:]
            if extra:
                if len(extra) > len(names):
                    raise TypeError(
                        f"{function.__name__}() takes {fixed} positional arguments; pass the options "
                        f"by keyword ({', '.join(names)})"
                    )
                given = names[: len(extra)]
                twice = [name for name in given if name in kwargs]
                if twice:
                    raise TypeError(f"{function.__name__}() got {', '.join(twice)} both by position and by keyword")
                warnings.warn(
                    f"{function.__name__}(): passing {', '.join(given)} by position is deprecated since "
                    f"{since}; pass {'them' if len(given) > 1 else 'it'} by keyword "
                    f"({', '.join(f'{name}=...' for name in given)})",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs.update(zip(given, extra))
            return function(*args[:fixed], **kwargs)

        return call  # type: ignore[return-value]

    return wrap
