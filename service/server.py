"""Run the service with uvicorn."""
from __future__ import annotations

from typing import Optional

import uvicorn

from .app import create_app
from .engine import Engine
from .settings import ServiceSettings

#: Seconds open requests get to finish when the server is stopped.
GRACEFUL_SHUTDOWN_S = 5


def serve(settings: ServiceSettings, engine: Optional[Engine] = None, log_level: str = "info") -> None:
    """Serve the API on `settings.host`:`settings.port` until interrupted.

    Arguments:
        settings: the service settings.
        engine: a loaded engine (default: load the weights the settings name).
        log_level: uvicorn's log level.
    """
    app = create_app(settings, engine)
    # On SIGTERM/SIGINT uvicorn stops accepting, gives open requests (long polls, streams) a few seconds,
    # then runs the app's shutdown, which waits for the sessions' files to be removed.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level,
                limit_concurrency=256, timeout_keep_alive=30, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
