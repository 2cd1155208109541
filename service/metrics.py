"""Prometheus metrics of the service (`GET /metrics`, the text exposition format): requests by route and status
code and by token name, open sessions, queued model tasks, open polls, frames tracked and the time each took, the
model's load time, and per token its open sessions and its track runs queued or running.

prometheus-client is part of the `service` extra. It is imported when an app is made, not with `xmempp.service`,
so the CVAT and Supervisely adapters (which share the package) do not need it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

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
        tokens: the names of the server's tokens.
        token_sessions, token_tracks: functions giving a token's open sessions, and its track runs queued or
            running, read at each scrape.
    """

    def __init__(
        self,
        sessions: Callable[[], int],
        queued: Callable[[], int],
        polls: Callable[[], int],
        load_seconds: float | None = None,
        tokens: Sequence[str] = (),
        token_sessions: Callable[[str], int] = lambda _: 0,
        token_tracks: Callable[[str], int] = lambda _: 0,
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "xmempp_http_requests",
            "HTTP requests answered, by route, method and status code",
            ["route", "method", "code"],
            registry=registry,
        )
        Gauge("xmempp_sessions_open", "Sessions open now", registry=registry).set_function(sessions)
        Gauge("xmempp_queue_length", "Model tasks queued or running now", registry=registry).set_function(queued)
        Gauge("xmempp_polls_open", "Long polls and streams open now", registry=registry).set_function(polls)
        self.frames = Counter("xmempp_frames_tracked", "Frames tracked by the runs (a result each)", registry=registry)
        self.frame_seconds = Histogram(
            "xmempp_frame_seconds",
            "Worker time of each tracked frame (network, refine, writing its files)",
            buckets=FRAME_SECONDS_BUCKETS,
            registry=registry,
        )
        self.token_requests = Counter(
            "xmempp_token_requests",
            "HTTP requests answered, by the name of the token they "
            "carried (none: no valid token; anonymous: a server without tokens) and "
            "status code",
            ["token", "code"],
            registry=registry,
        )
        token_sessions_gauge = Gauge(
            "xmempp_token_sessions_open",
            "Sessions open now, by the token that opened them",
            ["token"],
            registry=registry,
        )
        token_tracks_gauge = Gauge(
            "xmempp_token_tracks_active",
            "Track runs queued or running now, by the token that started them",
            ["token"],
            registry=registry,
        )
        for name in tokens:
            token_sessions_gauge.labels(name).set_function(functools.partial(token_sessions, name))
            token_tracks_gauge.labels(name).set_function(functools.partial(token_tracks, name))
        if load_seconds is not None:
            Gauge("xmempp_model_load_seconds", "Seconds the network took to load", registry=registry).set(load_seconds)

    def frame_done(self, seconds: float) -> None:
        """Count one tracked frame that took `seconds` (called on the worker thread)."""
        self.frames.inc()
        self.frame_seconds.observe(seconds)

    def request_done(self, route: str, method: str, code: int, token: str) -> None:
        """Count one answered HTTP request: by route template (`UNMATCHED` for none), method and code, and by the
        name of its token and code."""
        self.requests.labels(route, method, str(code)).inc()
        self.token_requests.labels(token, str(code)).inc()

    def render(self) -> tuple[bytes, str]:
        """The metrics in the text exposition format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
