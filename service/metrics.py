"""Prometheus metrics of the service (`GET /metrics`, the text exposition format): requests by route and status
code, open sessions, queued model tasks, open polls, frames tracked and the time each took, the model's load time.

prometheus-client is part of the `service` extra. It is imported when an app is made, not with `xmempp.service`,
so the CVAT and Supervisely adapters (which share the package) do not need it.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Optional

#: Upper bounds (seconds) of the frame-time histogram's buckets.
FRAME_SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: The route label of a request that matched no route (so random paths add no label values).
UNMATCHED = "unmatched"


class ServiceMetrics:
    """The metrics of one app, in a registry of its own.

    Arguments:
        sessions, queued, polls: functions giving the sessions open, model tasks queued or running, and long
            polls and streams open, read at each scrape.
        load_seconds: how long loading the network took, when known.
    """

    def __init__(self, sessions: Callable[[], int], queued: Callable[[], int], polls: Callable[[], int],
                 load_seconds: Optional[float] = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry = CollectorRegistry()
        self.requests = Counter("xmempp_http_requests", "HTTP requests answered, by route, method and status code",
                                ["route", "method", "code"], registry=registry)
        Gauge("xmempp_sessions_open", "Sessions open now", registry=registry).set_function(sessions)
        Gauge("xmempp_queue_length", "Model tasks queued or running now", registry=registry).set_function(queued)
        Gauge("xmempp_polls_open", "Long polls and streams open now", registry=registry).set_function(polls)
        self.frames = Counter("xmempp_frames_tracked", "Frames tracked by the runs (a result each)", registry=registry)
        self.frame_seconds = Histogram("xmempp_frame_seconds", "Worker time of each tracked frame (network, refine, "
                                       "writing its files)", buckets=FRAME_SECONDS_BUCKETS, registry=registry)
        if load_seconds is not None:
            Gauge("xmempp_model_load_seconds", "Seconds the network took to load",
                  registry=registry).set(load_seconds)

    def frame_done(self, seconds: float) -> None:
        """Count one tracked frame that took `seconds` (called on the worker thread)."""
        self.frames.inc()
        self.frame_seconds.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The metrics in the text exposition format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class CountRequests:
    """ASGI middleware counting each HTTP request by route template (e.g. `/v1/sessions/{sid}`), method and status.

    Arguments:
        app: the application it wraps.
        metrics: where to count.
        route_of: the route template of a request's scope (`UNMATCHED` for none).
    """

    def __init__(self, app: Any, metrics: ServiceMetrics, route_of: Callable[[dict], str]) -> None:
        self.app, self.metrics, self.route_of = app, metrics, route_of

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]],
                       send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]  # what the client gets when the app raises

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.requests.labels(self.route_of(scope), scope["method"], str(status[0])).inc()
