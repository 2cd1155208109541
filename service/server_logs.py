"""The server's logs: uvicorn's messages and one access line per request, as text or as JSON lines.

`--log-format json` makes every line on stderr one JSON object, as the other commands write: `time` (UTC,
ISO 8601), `level`, `event` (`request` for an access line, `server` for uvicorn's and the service's messages,
`warning` for Python warnings), `message`, and for a request `method`, `path`, `status`, `duration_ms`, `client`
and `token` (the name of the token the request carried). A traceback, if any, is the record's `exception` text.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

__all__ = ["ACCESS_LOGGER", "JsonFormatter", "TextAccessFormatter", "log_config", "log_request"]

#: The logger of the access lines (uvicorn's own access log is off: it knows neither timings nor tokens).
ACCESS_LOGGER = "xmempp.service.access"
#: The logger of the service's own messages.
SERVER_LOGGER = "xmempp.service"
#: LogRecord attributes that are not fields of a JSON line.
_RECORD_KEYS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, event, message, the record's extra fields and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
        fields = {k: v for k, v in vars(record).items() if k not in _RECORD_KEYS}
        event = fields.pop("event", "warning" if record.name == "py.warnings" else "server")
        line: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": event,
            "message": " ".join(record.getMessage().split()),
            **fields,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["exception"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


class TextAccessFormatter(logging.Formatter):
    """An access line as uvicorn writes one, with the request's time and token name."""

    def format(self, record: logging.LogRecord) -> str:
        get = vars(record).get
        return (
            f'{record.levelname + ":":<9} {get("client")} - "{get("method")} {get("path")}" {get("status")} '
            f"{get('duration_ms')} ms token={get('token')}"
        )


def log_config(log_format: str = "text", level: str = "info") -> dict[str, Any]:
    """uvicorn's `log_config` for a log format: text (uvicorn's own lines) or json (every line JSON, on stderr).

    Arguments:
        log_format: "text" or "json".
        level: the lowest level logged.
    Returns:
        A `logging.config.dictConfig` dictionary.
    """
    level = level.upper()
    if log_format == "json":
        formatters: dict[str, Any] = {"default": {"()": JsonFormatter}, "access": {"()": JsonFormatter}}
    else:
        formatters = {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
                "use_colors": None,
            },
            "access": {"()": TextAccessFormatter},
        }
    handlers = {
        "default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        "access": {
            "formatter": "access",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr" if log_format == "json" else "ext://sys.stdout",
        },
    }
    loggers = {
        "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
        "uvicorn.error": {"level": level},
        "uvicorn.access": {"handlers": [], "level": level, "propagate": False},
        SERVER_LOGGER: {"handlers": ["default"], "level": level, "propagate": False},
        ACCESS_LOGGER: {"handlers": ["access"], "level": level, "propagate": False},
        "py.warnings": {"handlers": ["default"], "level": "WARNING", "propagate": False},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "handlers": handlers,
        "loggers": loggers,
    }


def log_request(method: str, path: str, status: int, seconds: float, token: str, client: str | None) -> None:
    """Write the access line of one answered request."""
    logging.getLogger(ACCESS_LOGGER).info(
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "event": "request",
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
            "token": token,
            "client": client,
        },
    )
