"""The HTTP API of `xmempp serve` (FastAPI; OpenAPI docs at /docs), versioned under /v1."""
from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from typing import Any, AsyncIterator, Literal, Optional

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from xmempp import __version__
from xmempp.errors import InputError, XMemppError
from xmempp.io.masks import read_mask

from .engine import Engine
from .errors import LimitExceeded, NotFound, status_for
from .rle import decode_rle, encode_rle
from .sessions import SessionStore, ShotSession
from .settings import ServiceSettings

#: Results per poll response at most.
MAX_POLL_RESULTS = 500


class SessionCreate(BaseModel):
    """A new session: a server-side shot (`video`) or a number of frames to upload (`frames`)."""

    model_config = ConfigDict(extra="forbid")
    video: Optional[str] = Field(None, description="Video file or frame folder inside a media root "
                                                   "(relative paths are taken relative to the roots).")
    frames: Optional[int] = Field(None, ge=1, description="How many frames will be uploaded with "
                                                          "PUT /v1/sessions/{id}/frames/{index}.")
    config: dict[str, Any] = Field(default_factory=dict, description="InferenceConfig fields, e.g. "
                                                                     '{"size": 480, "mem_every": 5}.')
    mode: Literal["xmempp", "xmem"] = "xmempp"


class TrackRequest(BaseModel):
    """Track from `start`, `count` frames (default: to the end of the shot) in `direction`."""

    model_config = ConfigDict(extra="forbid")
    start: int = Field(..., ge=0)
    direction: Literal["forward", "backward"] = "forward"
    count: Optional[int] = Field(None, ge=1)


class CandidatesRequest(BaseModel):
    """How many frames to suggest, and the weight of the target mask in the comparison."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(5, ge=1, le=1000)
    alpha: float = Field(0.5, ge=0.0, le=1.0)


def create_app(settings: ServiceSettings, engine: Optional[Engine] = None) -> FastAPI:
    """Build the service.

    Arguments:
        settings: address, token, media roots, state folder and limits.
        engine: the network and work queue (default: loaded from `settings.model` / `settings.device`).
    Returns:
        The FastAPI application (serve it with uvicorn).
    """
    owns_engine = engine is None
    engine = engine or Engine.load(settings.model, settings.device)
    store = SessionStore(settings, engine)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        reaper = asyncio.create_task(_expire_idle_sessions(store, settings.session_ttl_s))
        try:
            yield
        finally:
            reaper.cancel()
            store.shutdown()
            if owns_engine:
                await run_in_threadpool(engine.close)

    app = FastAPI(title="xmempp tracking service", version=__version__, lifespan=lifespan,
                  description="XMem++ mask tracking for annotation tools: sessions on a shot, reference masks "
                              "kept in permanent memory, forward/backward track runs with results per frame, "
                              "and suggestions of frames to annotate next.")
    app.state.store = store
    app.state.engine = engine
    _install_limits_and_errors(app, settings)

    public = APIRouter(prefix="/v1")
    api = APIRouter(prefix="/v1", dependencies=[Depends(_token_check(settings.token))])

    @public.get("/health", summary="Liveness check (no token needed)")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/info", summary="Model, device, memory in use, sessions and limits")
    def info() -> dict[str, Any]:
        dims = engine.model.dims
        return {"version": __version__, "model": engine.source, "device": str(engine.device),
                "dims": {"key": dims.key_dim, "value": dims.value_dim, "hidden": dims.hidden_dim},
                "memory": {**engine.memory(), "session_memory_bytes": store.memory_bytes()},
                "sessions": len(store), "queued_tasks": engine.pending,
                "limits": {"max_body_bytes": settings.max_body_bytes, "max_frames": settings.max_frames,
                           "max_sessions": settings.max_sessions, "session_ttl_s": settings.session_ttl_s}}

    @api.post("/sessions", status_code=201, summary="Open a session on a shot")
    def create_session(body: SessionCreate) -> dict[str, Any]:
        return store.create(body.video, body.frames, body.config, body.mode).describe()

    @api.get("/sessions", summary="Open sessions")
    def list_sessions() -> list[dict[str, Any]]:
        return [s.describe() for s in store.all()]

    @api.get("/sessions/{sid}", summary="One session")
    def get_session(sid: str) -> dict[str, Any]:
        return store.get(sid).describe()

    @api.delete("/sessions/{sid}", status_code=204, summary="Close a session and remove its files")
    def delete_session(sid: str) -> Response:
        store.close(sid)
        return Response(status_code=204)

    @api.put("/sessions/{sid}/frames/{index}", summary="Upload one frame (request body: a PNG or JPEG file)")
    async def put_frame(sid: str, index: int, request: Request) -> dict[str, Any]:
        session = store.get(sid)
        data = await request.body()
        await run_in_threadpool(session.add_upload, index, data)
        return {"uploaded": len(session.uploaded), "frames": session.expected, "ready": session.frames is not None}

    @api.get("/sessions/{sid}/references", summary="Frames that have a reference mask")
    def list_references(sid: str) -> dict[str, Any]:
        return {"references": sorted(store.get(sid).references)}

    @api.put("/sessions/{sid}/references/{frame}", summary="Add or replace the reference mask of a frame",
             description="Body: an index PNG (`Content-Type: image/png`; palette, grayscale or flat-colour RGB) "
                         'or JSON `{"size": [H, W], "values": [...], "counts": [...]}` (run-length encoded '
                         "object ids, row-major). The mask goes into permanent memory.")
    async def put_reference(sid: str, frame: int, request: Request, response: Response) -> dict[str, Any]:
        session = store.get(sid)
        session.check_frame(frame)
        data = await request.body()
        ids = await run_in_threadpool(_decode_reference, session, frame, data,
                                      request.headers.get("content-type", ""))
        replaced = await run_in_threadpool(store.set_reference, session, frame, ids)
        response.status_code = 200 if replaced else 201
        return {"frame": frame, "replaced": replaced, "objects": sorted(int(v) for v in set(ids.ravel()) - {0}),
                "references": sorted(session.references)}

    @api.get("/sessions/{sid}/references/{frame}", summary="A reference mask as run-length encoded ids")
    def get_reference(sid: str, frame: int) -> dict[str, Any]:
        session = store.get(sid)
        if frame not in session.references:
            raise NotFound(f"frame {frame} of session {session.id} has no reference")
        return {"frame": frame, "mask": encode_rle(session.references[frame])}

    @api.delete("/sessions/{sid}/references/{frame}", status_code=204, summary="Remove a reference mask")
    def delete_reference(sid: str, frame: int) -> Response:
        store.delete_reference(store.get(sid), frame)
        return Response(status_code=204)

    @api.post("/sessions/{sid}/tracks", status_code=202, summary="Start a track run")
    def start_track(sid: str, body: TrackRequest) -> dict[str, Any]:
        return store.start_track(store.get(sid), body.direction, body.start, body.count).describe()

    @api.get("/sessions/{sid}/tracks/{rid}", summary="A track run's progress and its results after number N",
             description="Results are numbered from 1 in the order they were made; pass the last number you "
                         "have as `after` to get only newer ones. `wait` (seconds) holds the request until "
                         "there is something new.")
    def poll_track(sid: str, rid: str, after: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=MAX_POLL_RESULTS),
                   wait: float = Query(0.0, ge=0.0, le=30.0)) -> dict[str, Any]:
        session = store.get(sid)
        run = store.track(session, rid)
        if wait > 0:
            run.wait(after, wait)
        state = run.describe()
        results = run.results_after(after, limit)
        state["results"] = [_result_json(run, seq, frame) for seq, frame in results]
        state["next"] = results[-1][0] if results else after
        return state

    @api.get("/sessions/{sid}/tracks/{rid}/stream", summary="A track run's results as NDJSON, as they are made",
             description="One JSON object per line: `{\"seq\", \"frame\", \"mask\"}` for each result, then a last "
                         "line with the run's final state.")
    def stream_track(sid: str, rid: str, after: int = Query(0, ge=0)) -> StreamingResponse:
        session = store.get(sid)
        run = store.track(session, rid)

        async def lines() -> AsyncIterator[bytes]:
            seen = after
            while True:
                final = run.final
                batch = run.results_after(seen, MAX_POLL_RESULTS)
                for seq, frame in batch:
                    yield (json.dumps(_result_json(run, seq, frame)) + "\n").encode()
                    seen = seq
                if batch:
                    session.touch()
                    continue
                if final:
                    yield (json.dumps(run.describe()) + "\n").encode()
                    return
                await run_in_threadpool(run.wait, seen, 1.0)

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @api.post("/sessions/{sid}/tracks/{rid}/cancel", summary="Cancel a track run (results so far stay)")
    def cancel_track(sid: str, rid: str) -> dict[str, Any]:
        run = store.track(store.get(sid), rid)
        run.cancel.set()
        return run.describe()

    @api.get("/sessions/{sid}/masks/{frame}", summary="The newest result of a frame as an index PNG",
             response_class=FileResponse)
    def get_mask(sid: str, frame: int) -> FileResponse:
        session = store.get(sid)
        return FileResponse(store.latest_mask_path(session, frame), media_type="image/png")

    @api.post("/sessions/{sid}/candidates", summary="Frames to annotate next (XMem++ candidate selection)")
    def candidates(sid: str, body: CandidatesRequest) -> dict[str, Any]:
        return store.candidates(store.get(sid), body.k, body.alpha)

    app.include_router(public)
    app.include_router(api)
    return app


def _decode_reference(session: ShotSession, frame: int, data: bytes, content_type: str):
    """Object ids from a reference body: a PNG file or run-length encoded JSON."""
    if not data:
        raise InputError("the request has no body; send an index PNG or RLE JSON mask")
    if content_type.split(";")[0].strip() == "application/json":
        try:
            encoded = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"malformed JSON: {exc}") from None
        if not isinstance(encoded, dict):
            raise InputError('the JSON body must be an object {"size": [H, W], "values": [...], "counts": [...]}')
        return decode_rle(encoded)
    return session.decode_png_reference(frame, data)


def _result_json(run, seq: int, frame: int) -> dict[str, Any]:
    return {"seq": seq, "frame": frame, "mask": encode_rle(read_mask(run.mask_path(frame)).ids)}


def _token_check(token: Optional[str]):
    """A dependency that requires `Authorization: Bearer <token>` when a token is set."""

    def check(request: Request) -> None:
        if token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
            raise _Unauthorized()

    return check


class _Unauthorized(XMemppError):
    """Missing or wrong bearer token."""


async def _expire_idle_sessions(store: SessionStore, ttl: float) -> None:
    while True:
        await asyncio.sleep(min(30.0, max(0.5, ttl / 4)))
        await run_in_threadpool(store.expire_idle)


def _install_limits_and_errors(app: FastAPI, settings: ServiceSettings) -> None:
    """Request-size limit, and every error as a 4xx/5xx JSON `{"detail": message}`."""

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        if request.method in ("POST", "PUT", "PATCH"):
            length = request.headers.get("content-length")
            if length is None and request.headers.get("transfer-encoding"):
                return JSONResponse({"detail": "send a Content-Length header; chunked bodies are not accepted"},
                                    status_code=411)
            if length is not None:
                if not length.isdigit():
                    return JSONResponse({"detail": f"bad Content-Length {length!r}"}, status_code=400)
                if int(length) > settings.max_body_bytes:
                    return JSONResponse({"detail": f"request body of {int(length)} bytes exceeds this server's "
                                                   f"limit of {settings.max_body_bytes} bytes"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(_Unauthorized)
    async def unauthorized(_: Request, exc: _Unauthorized) -> JSONResponse:
        return JSONResponse({"detail": "missing or wrong bearer token (send Authorization: Bearer <token>)"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(XMemppError)
    async def xmempp_error(_: Request, exc: XMemppError) -> JSONResponse:
        status = status_for(exc)
        headers = {"Retry-After": "30"} if isinstance(exc, LimitExceeded) else None
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            message = "; ".join(f"malformed JSON: {e.get('ctx', {}).get('error', e.get('msg'))}" for e in errors
                                if e.get("type") == "json_invalid")
            return JSONResponse({"detail": message}, status_code=400)
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
                 for e in errors]
        return JSONResponse({"detail": "invalid request: " + "; ".join(parts)}, status_code=422)
