"""`xmempp serve`: XMem++ as an HTTP tracking service for annotation tools."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import typer

from xmempp.errors import ConfigError
from xmempp.model.precision import Precision
from xmempp.model.winograd import ConvAlgorithm

from .engine_options import ConvOption, PrecisionOption, load_network
from .logs import LogFormat, RunLog


def serve_command(
    host: Annotated[
        str,
        typer.Option(
            "--host", help="Address to listen on; 0.0.0.0 exposes the service to the network (set --token then)."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="XMEMPP_TOKEN", help="Bearer token every request must carry (or XMEMPP_TOKEN)."),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            envvar="XMEMPP_TOKEN_FILE",
            help="TOML or JSON file of named tokens, each with optional max_sessions and max_tracks (or "
            "XMEMPP_TOKEN_FILE); with --token too, that token is named 'default'.",
        ),
    ] = None,
    protect_docs: Annotated[
        bool,
        typer.Option(
            "--protect-docs",
            help="/docs, /redoc and /openapi.json need a token too (Bearer, or HTTP Basic with the "
            "token as password for browsers).",
        ),
    ] = False,
    media_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--media-root",
            help="Folder whose videos and frame folders sessions may open (repeatable); "
            "without one, clients upload frames.",
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            help="Where sessions (frames, references, results) are kept; a server started on it again "
            "reloads its sessions (default: a temp folder, removed at stop).",
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="XMem checkpoint; default: the official XMem.pth (downloaded on first use)."),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    precision: PrecisionOption = Precision.auto,
    conv: ConvOption = ConvAlgorithm.auto,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", min=0.01, help="Largest request body in MiB.")] = 64.0,
    max_frames: Annotated[int, typer.Option("--max-frames", min=1, help="Most frames per session.")] = 10_000,
    max_frame_pixels: Annotated[
        int, typer.Option("--max-frame-pixels", min=1, help="Largest uploaded frame, width x height.")
    ] = 4096 * 4096,
    max_sessions: Annotated[int, typer.Option("--max-sessions", min=1, help="Most sessions open at once.")] = 8,
    max_polls: Annotated[
        int,
        typer.Option("--max-polls-per-client", min=1, help="Long polls and streams one client address may hold open."),
    ] = 16,
    session_ttl: Annotated[
        float, typer.Option("--session-ttl", min=1.0, help="Seconds after which an idle session is closed.")
    ] = 3600.0,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            help="stderr as text (uvicorn's lines; access lines on stdout) or json (one object per line "
            "on stderr: server messages and an access line per request with its token's name).",
        ),
    ] = LogFormat.text,
) -> None:
    """Serve XMem++ tracking over HTTP (API under /v1, docs at /docs).

    Example: xmempp serve --media-root /mnt/plates --token "$(openssl rand -hex 16)"
    """
    try:
        from xmempp.service.scheduler import Scheduler
        from xmempp.service.server import serve
        from xmempp.service.settings import ServiceSettings
    except ImportError as exc:
        raise ConfigError(
            f"the tracking service needs its extra packages ({exc.name} is missing); "
            "install them with: pip install 'xmempp[service]'"
        ) from None

    settings = ServiceSettings(
        host=host,
        port=port,
        token=token,
        token_file=token_file,
        protect_docs=protect_docs,
        media_roots=list(media_root or []),
        state_dir=state_dir,
        model=model,
        device=device,
        max_body_bytes=int(max_body_mb * (1 << 20)),
        max_frames=max_frames,
        max_frame_pixels=max_frame_pixels,
        max_sessions=max_sessions,
        max_polls_per_client=max_polls,
        session_ttl_s=session_ttl,
    )
    log = RunLog(log_format)  # JSON: no bar or note for people on the stream (a weights download)
    loading = time.perf_counter()
    network = load_network(model, device, log.console, precision=precision, conv=conv)
    load_seconds = time.perf_counter() - loading
    names = settings.tokens.names

    def announce() -> None:  # once it listens: a server that refuses to start never says it serves
        message = (
            f"serving on http://{host}:{port} (docs at /docs{', behind the token' if protect_docs else ''}); "
            f"state in {settings.state_dir}"
            + (f"; tokens: {', '.join(names)}" if names else "; no token: anyone who can reach this address may use it")
        )
        if log.json:  # uvicorn's logging is set up by now: the line goes out as its JSON lines do
            logging.getLogger("xmempp.service").info(
                message,
                extra={
                    "event": "serving",
                    "url": f"http://{host}:{port}",
                    "state_dir": str(settings.state_dir),
                    "tokens": names,
                    "load_seconds": round(load_seconds, 3),
                },
            )
        else:
            log.console.print(message)

    serve(
        settings,
        Scheduler(network, str(model or "official XMem.pth"), load_seconds=load_seconds),
        announce=announce,
        log_format=log_format.value,
    )
