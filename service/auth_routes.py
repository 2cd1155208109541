"""The token checks of the service's routes: the bearer dependency of /v1 and /metrics, and the API's documents
behind the tokens (`protect_docs`). Each request's token was found once, by `access.Access`."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .access import request_token
from .auth import TokenBook
from .errors import Unauthorized

__all__ = ["BASIC_CHALLENGE", "DocsUnauthorized", "protected_docs", "token_check_dependency"]

#: The 401 challenge of the protected docs: a browser asks for a user name and password (the token).
BASIC_CHALLENGE = 'Basic realm="xmempp docs"'


def token_check_dependency(tokens: TokenBook) -> Callable[..., None]:
    """A dependency that requires `Authorization: Bearer <token>` with one of the server's tokens, when it has
    any (declared in OpenAPI as the bearer security scheme). The token was found once, by `access.Access`."""
    bearer = HTTPBearer(
        auto_error=False,
        description="One of the server's tokens (`--token` / XMEMPP_TOKEN, or a named token of `--token-file`)",
    )

    def check(request: Request, _: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if tokens and request_token(request.scope) is None:
            raise Unauthorized("missing or wrong bearer token (send Authorization: Bearer <token>)")

    return check


def protected_docs(app: FastAPI) -> None:
    """/openapi.json, /docs and /redoc behind the token (`protect_docs`): a Bearer token, or HTTP Basic with the
    token as password, which a browser asks for (the docs page then fetches /openapi.json with it)."""

    def check(request: Request) -> None:
        if request_token(request.scope) is None:
            raise DocsUnauthorized(
                "the docs need a token (send Authorization: Bearer <token>; a browser asks for it as the password)"
            )

    guard = [Depends(check)]

    @app.get("/openapi.json", include_in_schema=False, dependencies=guard)
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=guard)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - Swagger UI")

    @app.get("/redoc", include_in_schema=False, dependencies=guard)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")


class DocsUnauthorized(Unauthorized):
    """No valid token for the protected docs (its 401 asks a browser for HTTP Basic credentials)."""
