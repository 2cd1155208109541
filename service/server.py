"""Run the service with uvicorn."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from collections.abc import Callable

import prometheus_client  # noqa: F401 - /metrics needs it: a missing `service` extra is named before loading
import uvicorn

from .app import create_app
from .scheduler import Scheduler
from .server_logs import log_config
from .settings import ServiceSettings

#: Seconds open requests get to finish when the server is stopped.
GRACEFUL_SHUTDOWN_S = 5


class ServiceServer(uvicorn.Server):
    """uvicorn's server, with the service's work stopped first on SIGTERM/SIGINT.

    It stops accepting, then calls the app's `begin_stop` (runs cancelled, open polls and streams ended with
    a last line saying the server stops) before uvicorn waits for open requests (which are finishing now, well
    within the grace period) and runs the app's shutdown.

    Arguments:
        config: uvicorn's settings.
        announce: called once the server listens (not when it could not start).
    """

    def __init__(self, config: uvicorn.Config, announce: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.announce is not None:
            self.announce()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in getattr(self, "servers", []):
            server.close()
        begin_stop = getattr(getattr(self.config.app, "state", None), "begin_stop", None)
        if begin_stop is not None:
            begin_stop()
        await super().shutdown(sockets)


def serve(
    settings: ServiceSettings,
    engine: Scheduler | None = None,
    log_level: str = "info",
    announce: Callable[[], None] | None = None,
    log_format: str = "text",
) -> None:
    """Serve the API on `settings.host`:`settings.port` until interrupted.

    Arguments:
        settings: the service settings.
        engine: a loaded engine (default: load the weights the settings name).
        log_level: uvicorn's log level.
        announce: called once the server listens: after the state folder is locked for this server and the
            port is bound, so a server that refuses to start (`ConfigError`, exit 1) never announces itself.
        log_format: "text" (uvicorn's lines, an access line per request on stdout) or "json" (every line on stderr
            a JSON object: `server_logs`).
    """
    app = create_app(settings, engine)
    # On SIGTERM/SIGINT the server stops accepting, cancels the runs and ends open long polls and streams with
    # a last line saying so, gives open requests a few seconds, then runs the app's shutdown, which waits for
    # the sessions' files to be removed.
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        log_config=log_config(log_format, log_level),
        access_log=False,
        limit_concurrency=256,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = ServiceServer(config, announce)
    logging.captureWarnings(log_format == "json")  # a warning is a JSON line too, not plain text on the stream
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(1)  # as uvicorn.run: it could not start (e.g. the port is taken)
