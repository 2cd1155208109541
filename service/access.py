"""Who sent each request, and what became of it: the outermost ASGI middleware of the service.

It finds the token a request carries (kept in the scope for the routes' checks and limits, so each request's
token is compared once), and once the request is answered it counts it in the metrics and writes its access line
with the token's name and how long it took (a stream: until its last line).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .auth import ANONYMOUS, UNAUTHENTICATED, TokenBook, TokenSpec
from .metrics import ServiceMetrics
from .server_logs import log_request

__all__ = ["TOKEN_SCOPE_KEY", "Access", "request_token"]

#: Where the request's token (a `TokenSpec`, or None) is kept in the ASGI scope.
TOKEN_SCOPE_KEY = "xmempp.token"


def request_token(scope: Mapping[str, Any]) -> TokenSpec | None:
    """The valid token a request carried (found by `Access`), or None."""
    return scope.get(TOKEN_SCOPE_KEY)


class Access:
    """ASGI middleware: identify each HTTP request's token, then count and log the request once answered.

    Arguments:
        app: the application it wraps.
        tokens: the server's tokens (empty: no authentication; requests are "anonymous").
        metrics: where requests are counted.
        route_of: the route template of a request's scope (`metrics.UNMATCHED` for none).
        basic_paths: paths where HTTP Basic (the token as password) is accepted too (the docs, for browsers).
    """

    def __init__(
        self,
        app: Any,
        tokens: TokenBook,
        metrics: ServiceMetrics,
        route_of: Callable[[dict], str],
        basic_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app, self.tokens, self.metrics, self.route_of = app, tokens, metrics, route_of
        self.basic_paths = basic_paths

    def identify(self, scope: dict) -> tuple[TokenSpec | None, str]:
        """The request's valid token (or None) and the name its logs and metrics use."""
        if not self.tokens:
            return None, ANONYMOUS
        header = next((value for key, value in scope.get("headers", ()) if key == b"authorization"), b"")
        spec = self.tokens.identify(header.decode("latin-1"), basic=scope.get("path") in self.basic_paths)
        return spec, spec.name if spec is not None else UNAUTHENTICATED

    async def __call__(
        self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        spec, name = self.identify(scope)
        scope[TOKEN_SCOPE_KEY] = spec
        status = [500]  # what the client gets when the app raises
        began = time.perf_counter()

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.request_done(self.route_of(scope), scope["method"], status[0], name)
            client = scope.get("client")
            log_request(
                scope["method"],
                scope.get("path", ""),
                status[0],
                time.perf_counter() - began,
                name,
                f"{client[0]}:{client[1]}" if client else None,
            )
