"""The HTTP API of `xmempp serve` (FastAPI; OpenAPI docs at /docs), versioned under /v1.

Long polls and streams wait on the event loop (`TrackRun.wait_async`), not on worker threads, and
model work is awaited as futures of the engine; threads are only borrowed for short file work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Match

from xmempp import __version__
from xmempp.errors import InputError, XMemppError
from xmempp.io.masks import read_mask

from .access import Access, request_token
from .auth_limits import TokenUsage
from .auth_routes import BASIC_CHALLENGE, DocsUnauthorized, protected_docs, token_check_dependency
from .errors import LimitExceeded, NotFound, service_message, status_for
from .metrics import UNMATCHED, ServiceMetrics
from .polls import PollSlots
from .rle import check_rle_body_length, encode_rle, parse_rle_json
from .scheduler import Scheduler
from .schemas import (
    BINARY,
    Candidates,
    CandidatesRequest,
    ErrorBody,
    Health,
    Info,
    Limits,
    Reference,
    ReferenceList,
    ReferenceSet,
    RLEMask,
    Session,
    SessionCreate,
    TrackPoll,
    TrackRequest,
    TrackResult,
    TrackState,
    UploadState,
)
from .sessions import SessionStore, ShotSession
from .settings import ServiceSettings

#: Results per poll response at most.
MAX_POLL_RESULTS = 500
#: Longest wait of one stream line before it checks again (seconds).
STREAM_WAIT_S = 15.0
#: Longest a poll or stream of a stopping server waits for its cancelled run to stop before it ends (seconds).
STOP_SETTLE_S = 1.0
#: Paths of the API's documents (behind the token with `protect_docs`).
DOCS_PATHS = frozenset({"/docs", "/redoc", "/openapi.json"})
#: The JSON schema of a /v1/ready answer.
READY_SCHEMA = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string", "enum": ["ready", "starting", "stopping"]}},
}
#: How often a stream tells a queued run's place in the queue (seconds).
QUEUED_WAIT_S = 2.0

_ERROR_WORDS = {
    400: "Bad input",
    401: "Missing or wrong bearer token",
    403: "Path outside the media roots, or not allowed for the token",
    404: "Unknown session, run, reference or result",
    409: "Not possible in the session's state",
    411: "Body without Content-Length",
    413: "Body, frame or shot larger than this server accepts",
    422: "Bad setting or field",
    429: "Too many sessions, polls or track runs now (the server's or the token's limits); retry after "
    "Retry-After seconds",
}


def _errors(*codes: int, json_route: bool = True) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers (always JSON `{"detail": str}`)."""
    if json_route:
        return {code: {"model": ErrorBody, "description": _ERROR_WORDS[code]} for code in codes}
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {code: {"content": ref, "description": _ERROR_WORDS[code]} for code in codes}


class NDJSONResponse(StreamingResponse):
    media_type = "application/x-ndjson"


class PNGResponse(FileResponse):
    media_type = "image/png"


def create_app(settings: ServiceSettings, engine: Scheduler | None = None) -> FastAPI:
    """Build the service.

    Arguments:
        settings: address, token, media roots, state folder and limits.
        engine: the network and work queue (default: loaded from `settings.model` / `settings.device`).
    Returns:
        The FastAPI application (serve it with uvicorn).
    """
    owns_engine = engine is None
    engine = engine or Scheduler.load(settings.model, settings.device)
    store = SessionStore(settings, engine)
    polls = PollSlots(settings.max_polls_per_client)
    usage = TokenUsage(lambda: [s.id for s in store.all()])
    usage.adopt(store.all())  # sessions reloaded from the state folder count for their tokens again
    metrics = ServiceMetrics(
        lambda: len(store),
        lambda: engine.pending,
        lambda: polls.total,
        engine.load_seconds,
        settings.tokens.names,
        usage.sessions,
        usage.tracks,
    )
    store.on_frame = metrics.frame_done
    stopping, started = asyncio.Event(), asyncio.Event()

    def begin_stop() -> None:
        """The first step of a clean stop (`server.ServiceServer` calls it on SIGTERM/SIGINT once it stopped
        accepting, before it waits for open requests): cancel every run, and end open polls and streams with a
        last line saying that the server stops. New requests get 503."""
        if not stopping.is_set():
            stopping.set()
            store.cancel_runs()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        store.log_startup()
        reaper = asyncio.create_task(_expire_idle_sessions(store, settings.session_ttl_s))
        started.set()
        try:
            yield
        finally:
            begin_stop()  # already done when served by ServiceServer
            reaper.cancel()
            await run_in_threadpool(store.shutdown)
            if owns_engine:
                await run_in_threadpool(engine.close)

    open_docs = not settings.protect_docs  # else served below, behind the token
    app = FastAPI(
        title="xmempp tracking service",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if open_docs else None,
        redoc_url="/redoc" if open_docs else None,
        openapi_url="/openapi.json" if open_docs else None,
        description="XMem++ mask tracking for annotation tools: sessions on a shot, reference masks "
        "kept in permanent memory, forward/backward track runs with results per frame, "
        "and suggestions of frames to annotate next. Every error is JSON "
        '`{"detail": "..."}`.',
    )
    app.state.store, app.state.engine, app.state.polls = store, engine, polls
    app.state.stopping, app.state.begin_stop = stopping, begin_stop
    app.state.metrics, app.state.usage = metrics, usage
    _install_limits_and_errors(app, settings)
    app.add_middleware(
        Access,
        tokens=settings.tokens,
        metrics=metrics,
        route_of=lambda scope: _route_of(app, scope),
        basic_paths=frozenset() if open_docs else DOCS_PATHS,
    )
    token_check = token_check_dependency(settings.tokens)

    public = APIRouter(prefix="/v1")
    api = APIRouter(prefix="/v1", dependencies=[Depends(token_check)], responses=_errors(401))
    session_errors = _errors(404, 422)

    @public.get("/health", summary="Liveness check (no token needed): the process answers")
    async def health() -> Health:
        return Health(status="ok")

    @public.get(
        "/ready",
        summary="Readiness check (no token needed): the model is loaded and sessions are accepted",
        description='200 `{"status": "ready"}` once the server has started (the network is loaded before '
        'it listens); 503 `{"status": "starting"}` or `{"status": "stopping"}` otherwise. A load '
        "balancer sends new clients only to ready servers; liveness is /v1/health.",
        responses={
            200: {"description": "Ready", "content": {"application/json": {"schema": READY_SCHEMA}}},
            503: {"description": "Starting or stopping", "content": {"application/json": {"schema": READY_SCHEMA}}},
        },
    )
    async def ready() -> JSONResponse:
        state = "stopping" if stopping.is_set() else "ready" if started.is_set() else "starting"
        return JSONResponse(
            {"status": state},
            status_code=200 if state == "ready" else 503,
            headers=None if state == "ready" else {"Retry-After": "5"},
        )

    @api.get("/info", summary="Model, device, memory in use, sessions and limits")
    async def info() -> Info:
        dims = engine.model.dims
        return Info(
            version=__version__,
            model=_model_name(engine.source),
            device=str(engine.device),
            dims={"key": dims.key_dim, "value": dims.value_dim, "hidden": dims.hidden_dim},
            memory={**engine.memory(), "session_memory_bytes": store.memory_bytes()},
            sessions=len(store),
            queued_tasks=engine.pending,
            polls=polls.total,
            limits=Limits(
                max_body_bytes=settings.max_body_bytes,
                max_frames=settings.max_frames,
                max_frame_pixels=settings.max_frame_pixels,
                max_sessions=settings.max_sessions,
                max_polls_per_client=settings.max_polls_per_client,
                session_ttl_s=settings.session_ttl_s,
            ),
        )

    @api.post(
        "/sessions",
        status_code=201,
        summary="Open a session on a shot",
        responses=_errors(400, 403, 409, 411, 413, 422, 429),
    )
    def create_session(body: SessionCreate, request: Request) -> Session:
        opened = usage.open_session(
            request_token(request.scope),
            lambda owner: store.create(body.video, body.frames, body.config, body.mode, owner),
        )
        return Session(**opened.describe())

    @api.get("/sessions", summary="Open sessions")
    def list_sessions() -> list[Session]:
        return [Session(**s.describe()) for s in store.all()]

    @api.get("/sessions/{sid}", summary="One session", responses=session_errors)
    def get_session(sid: str) -> Session:
        return Session(**store.get(sid).describe())

    @api.delete(
        "/sessions/{sid}",
        status_code=204,
        summary="Close a session and remove its files",
        response_class=Response,
        responses=session_errors,
    )
    def delete_session(sid: str) -> Response:
        store.close(sid)
        return Response(status_code=204)

    @api.put(
        "/sessions/{sid}/frames/{index}",
        summary="Upload one frame (a PNG or JPEG file, kept as sent)",
        responses=_errors(400, 404, 409, 411, 413, 422),
        openapi_extra={"requestBody": {"required": True, "content": {"image/png": BINARY, "image/jpeg": BINARY}}},
    )
    async def put_frame(sid: str, index: int, request: Request) -> UploadState:
        session = store.get(sid)
        data = await request.body()
        await run_in_threadpool(session.add_upload, index, data, settings.max_frame_pixels)
        return UploadState(uploaded=len(session.uploaded), frames=session.expected, ready=session.frames is not None)

    @api.get("/sessions/{sid}/references", summary="Frames that have a reference mask", responses=session_errors)
    def list_references(sid: str) -> ReferenceList:
        return ReferenceList(references=sorted(store.get(sid).references))

    @api.put(
        "/sessions/{sid}/references/{frame}",
        summary="Add or replace the reference mask of a frame",
        description="Body: an index PNG (`Content-Type: image/png`; palette, grayscale or flat-colour RGB) "
        'or JSON `{"size": [H, W], "values": [...], "counts": [...]}` (run-length encoded '
        "object ids, row-major). The mask goes into permanent memory. 201 when the frame had "
        "no reference, 200 when it replaced one.",
        status_code=201,
        responses={
            200: {"model": ReferenceSet, "description": "Replaced a reference"},
            **_errors(400, 403, 404, 409, 411, 413, 422),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"image/png": BINARY, "application/json": {"schema": RLEMask.model_json_schema()}},
            }
        },
    )
    async def put_reference(sid: str, frame: int, request: Request, response: Response) -> ReferenceSet:
        session = store.get(sid)
        session.check_frame(frame)
        frames = session.ready_frames()
        content_type = request.headers.get("content-type", "")
        length = request.headers.get("content-length", "")
        if _is_json(content_type) and length.isdigit():  # refused before the body is read
            check_rle_body_length(int(length), frames.size)
        data = await request.body()
        ids = await run_in_threadpool(_decode_reference, session, frame, data, content_type)
        replaced = await asyncio.wrap_future(store.set_reference(session, frame, ids))
        response.status_code = 200 if replaced else 201
        return ReferenceSet(
            frame=frame,
            replaced=replaced,
            objects=sorted(int(v) for v in set(ids.ravel()) - {0}),
            references=sorted(session.references),
        )

    @api.get(
        "/sessions/{sid}/references/{frame}",
        summary="A reference mask as run-length encoded ids",
        responses=session_errors,
    )
    def get_reference(sid: str, frame: int) -> Reference:
        session = store.get(sid)
        if frame not in session.references:
            raise NotFound(f"frame {frame} of session {session.id} has no reference")
        return Reference(frame=frame, mask=RLEMask(**encode_rle(session.references[frame])))

    @api.delete(
        "/sessions/{sid}/references/{frame}",
        status_code=204,
        summary="Remove a reference mask",
        response_class=Response,
        responses=session_errors,
    )
    async def delete_reference(sid: str, frame: int) -> Response:
        await asyncio.wrap_future(store.delete_reference(store.get(sid), frame))
        return Response(status_code=204)

    @api.post(
        "/sessions/{sid}/tracks",
        status_code=202,
        summary="Start a track run",
        responses=_errors(400, 403, 404, 409, 411, 413, 422, 429),
    )
    def start_track(sid: str, body: TrackRequest, request: Request) -> TrackState:
        session = store.get(sid)
        run = usage.start_track(
            request_token(request.scope),
            lambda: store.start_track(
                session, body.direction, body.start, body.count, body.mattes, body.refine_settings()
            ),
        )
        return TrackState(**run.describe())

    @api.get(
        "/sessions/{sid}/tracks/{rid}",
        summary="A track run's progress and its results after number N",
        description="Results are numbered from 1 in the order they were made; pass the last number you "
        "have as `after` to get only newer ones. `wait` (seconds) holds the request until "
        "there is something new (one client may hold a limited number of such polls).",
        response_model=TrackPoll,
        responses=_errors(404, 422, 429),
    )
    async def poll_track(
        sid: str,
        rid: str,
        request: Request,
        after: int = Query(0, ge=0),
        limit: int = Query(100, ge=1, le=MAX_POLL_RESULTS),
        wait: float = Query(0.0, ge=0.0, le=30.0),
    ) -> TrackPoll | JSONResponse:
        session = store.get(sid)
        run = store.track(session, rid)
        if wait > 0:
            with polls.slot(_client(request)):
                await _unless_disconnected(request, run.wait_async(after, wait), stopping)
        if stopping.is_set():
            await _settle(run)
        state = run.describe()
        results = run.results_after(after, limit)
        items = await run_in_threadpool(_results, run, results)
        poll = TrackPoll(**state, results=items, next=results[-1][0] if results else after)
        if stopping.is_set():
            return JSONResponse(
                {**poll.model_dump(mode="json"), "event": "stopping", "detail": store.stopping_detail()}
            )
        return poll

    @api.get(
        "/sessions/{sid}/tracks/{rid}/stream",
        summary="A track run's results as NDJSON, as they are made",
        description='One JSON object per line: a result `{"seq", "frame", "mask"}` each, then a last '
        'line with the run\'s final state (with `"event": "stopping"` and a `"detail"` when '
        "the server stops). While the run is queued, a line with its state and "
        '`"event": "queued"` every 2 s tells its `queue_position` and `estimated_start_s`. '
        "Counts as one of the client's polls.",
        response_class=NDJSONResponse,
        responses={
            200: {
                "content": {
                    "application/x-ndjson": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/TrackResult"},
                                {"$ref": "#/components/schemas/TrackState"},
                            ]
                        }
                    }
                },
                "description": "NDJSON lines: results, then the final state",
            },
            **_errors(404, 422, 429, json_route=False),
        },
    )
    async def stream_track(sid: str, rid: str, request: Request, after: int = Query(0, ge=0)) -> NDJSONResponse:
        session = store.get(sid)
        run = store.track(session, rid)
        client = _client(request)
        polls.check(client)

        async def lines() -> AsyncIterator[bytes]:
            seen, settled = after, False
            with polls.slot(client):
                while True:
                    if stopping.is_set() and not settled:
                        await _settle(run)
                        settled = True
                    final = run.final
                    batch = run.results_after(seen, MAX_POLL_RESULTS)
                    if batch:
                        items = await run_in_threadpool(_results, run, batch)
                        for item in items:
                            yield (item.model_dump_json() + "\n").encode()
                        seen = batch[-1][0]
                        session.touch()
                        continue
                    if stopping.is_set():
                        last = {**run.describe(), "event": "stopping", "detail": store.stopping_detail()}
                        yield (json.dumps(last) + "\n").encode()
                        return
                    if final:
                        yield (json.dumps(run.describe()) + "\n").encode()
                        return
                    waiting = run.waiting_line()  # while queued: its place in the queue, every QUEUED_WAIT_S
                    if waiting is not None:
                        yield (json.dumps(waiting) + "\n").encode()
                    wait_s = QUEUED_WAIT_S if waiting is not None else STREAM_WAIT_S
                    if await _unless_disconnected(request, run.wait_async(seen, wait_s), stopping):
                        return

        return NDJSONResponse(lines())

    @api.post(
        "/sessions/{sid}/tracks/{rid}/cancel",
        summary="Cancel a track run (results so far stay)",
        responses=session_errors,
    )
    def cancel_track(sid: str, rid: str) -> TrackState:
        run = store.track(store.get(sid), rid)
        run.cancel.set()
        return TrackState(**run.describe())

    @api.get(
        "/sessions/{sid}/masks/{frame}",
        summary="The newest result of a frame as an index PNG",
        response_class=PNGResponse,
        responses={
            200: {"content": {"image/png": BINARY}, "description": "An index PNG"},
            **_errors(400, 404, 422, json_route=False),
        },
    )
    def get_mask(sid: str, frame: int) -> PNGResponse:
        session = store.get(sid)
        return PNGResponse(store.latest_mask_path(session, frame))

    @api.get(
        "/sessions/{sid}/tracks/{rid}/mattes/{frame}/{object_id}",
        summary="One object's soft matte of a frame, made by a run started with mattes",
        description="A 16-bit grayscale PNG (65535 = the object), refined when the run asked for it.",
        response_class=PNGResponse,
        responses={
            200: {"content": {"image/png": BINARY}, "description": "A 16-bit grayscale PNG"},
            **_errors(400, 404, 422, json_route=False),
        },
    )
    def get_matte(sid: str, rid: str, frame: int, object_id: int) -> PNGResponse:
        session = store.get(sid)
        return PNGResponse(store.matte_path(session, store.track(session, rid), frame, object_id))

    @api.post(
        "/sessions/{sid}/candidates",
        summary="Frames to annotate next (XMem++ candidate selection)",
        responses=_errors(400, 403, 404, 409, 411, 413, 422),
    )
    async def candidates(sid: str, body: CandidatesRequest) -> Candidates:
        session = store.get(sid)
        return Candidates(**await asyncio.wrap_future(store.candidates(session, body.k, body.alpha)))

    @app.get(
        "/metrics",
        summary="Prometheus metrics (text format)",
        response_class=PlainTextResponse,
        description="Requests by route, method and status code (`xmempp_http_requests_total`), sessions open, "
        "model tasks queued or running, polls open, frames tracked and a histogram of their "
        "worker time (`xmempp_frame_seconds`), the model's load time. Needs the token when the "
        "server has one (Prometheus: `authorization: {credentials: TOKEN}`).",
        dependencies=[Depends(token_check)],
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "The Prometheus text exposition format",
            },
            **_errors(401, json_route=False),
        },
    )
    def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app.include_router(public)
    app.include_router(api)
    if not open_docs:
        protected_docs(app)
    _describe_stream_lines(app)
    return app


def _describe_stream_lines(app: FastAPI) -> None:
    """FastAPI declares every non-JSON answer as `{"type": "string"}`; an NDJSON line is one of two objects."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        stream = document["paths"]["/v1/sessions/{sid}/tracks/{rid}/stream"]["get"]["responses"]["200"]
        stream["content"]["application/x-ndjson"]["schema"].pop("type", None)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _decode_reference(session: ShotSession, frame: int, data: bytes, content_type: str):
    """Object ids from a reference body: a PNG file or run-length encoded JSON (sizes checked first)."""
    if not data:
        raise InputError("the request has no body; send an index PNG or RLE JSON mask")
    if _is_json(content_type):
        return parse_rle_json(data, session.ready_frames().size)
    return session.decode_png_reference(frame, data)


def _is_json(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == "application/json"


def _results(run, numbered: list[tuple[int, int]]) -> list[TrackResult]:
    """The masks of (sequence number, frame) pairs of a run, read from disk and run-length encoded."""
    return [
        TrackResult(seq=seq, frame=frame, mask=RLEMask(**encode_rle(read_mask(run.mask_path(frame)).ids)))
        for seq, frame in numbered
    ]


def _route_of(app: FastAPI, scope: dict) -> str:
    """The route template a request matched (`/v1/sessions/{sid}`), also for one answered before routing (a
    refused body); `metrics.UNMATCHED` for none."""
    route = scope.get("route")
    if route is None:
        route = next((r for r in app.router.routes if r.matches(scope)[0] is Match.FULL), None)
    return str(getattr(route, "path", UNMATCHED)) if route is not None else UNMATCHED


def _model_name(source: str) -> str:
    """The weights' file name (not the server's path to it)."""
    return source.replace("\\", "/").rsplit("/", 1)[-1]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _unless_disconnected(
    request: Request, waiting: Awaitable[None], stopping: asyncio.Event | None = None
) -> bool:
    """Await `waiting`, or stop early when the client disconnects or `stopping` is set; True when it
    disconnected."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    tasks: list[asyncio.Future[Any]] = [asyncio.ensure_future(waiting), asyncio.ensure_future(disconnected())]
    if stopping is not None:
        tasks.append(asyncio.ensure_future(stopping.wait()))
    gone_task = tasks[1]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    return gone_task.done() and not gone_task.cancelled()


async def _settle(run) -> None:
    """Give a run of a stopping server (cancelled: it stops before its next frame) a moment to become final,
    so a poll's or stream's last line shows where it stopped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STOP_SETTLE_S
    while not run.final and loop.time() < deadline:
        await run.wait_async(run.done, deadline - loop.time())


async def _expire_idle_sessions(store: SessionStore, ttl: float) -> None:
    while True:
        await asyncio.sleep(min(30.0, max(0.5, ttl / 4)))
        await run_in_threadpool(store.expire_idle)


def _install_limits_and_errors(app: FastAPI, settings: ServiceSettings) -> None:
    """Request-size limit, and every error as a 4xx/5xx JSON `{"detail": message}`."""
    roots, state_dir = settings.media_roots, settings.state_dir

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        if app.state.stopping.is_set() and request.url.path not in ("/v1/health", "/v1/ready"):
            return JSONResponse(
                {"detail": app.state.store.stopping_detail()}, status_code=503, headers={"Retry-After": "5"}
            )
        if request.method in ("POST", "PUT", "PATCH"):
            length = request.headers.get("content-length")
            if length is None and request.headers.get("transfer-encoding"):
                return JSONResponse(
                    {"detail": "send a Content-Length header; chunked bodies are not accepted"}, status_code=411
                )
            if length is not None:
                if not length.isdigit():
                    return JSONResponse({"detail": f"bad Content-Length {length!r}"}, status_code=400)
                if int(length) > settings.max_body_bytes:
                    return JSONResponse(
                        {
                            "detail": f"request body of {int(length)} bytes exceeds this server's "
                            f"limit of {settings.max_body_bytes} bytes"
                        },
                        status_code=413,
                    )
        return await call_next(request)

    @app.exception_handler(XMemppError)
    async def xmempp_error(_: Request, exc: XMemppError) -> JSONResponse:
        status = status_for(exc)
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, LimitExceeded) else {}
        if status == 401:
            headers["WWW-Authenticate"] = BASIC_CHALLENGE if isinstance(exc, DocsUnauthorized) else "Bearer"
        return JSONResponse(
            {"detail": service_message(exc, roots, state_dir)}, status_code=status, headers=headers or None
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            message = "; ".join(
                f"malformed JSON: {e.get('ctx', {}).get('error', e.get('msg'))}"
                for e in errors
                if e.get("type") == "json_invalid"
            )
            return JSONResponse({"detail": message}, status_code=400)
        parts = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}" for e in errors
        ]
        return JSONResponse({"detail": "invalid request: " + "; ".join(parts)}, status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); the server goes on"}, status_code=500)
