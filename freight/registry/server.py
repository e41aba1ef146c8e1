"""An OCI distribution-spec 1.1 registry server (`freight registry serve`).

This module makes the aiohttp application (``make_app``) and serves it (``serve``, the
command's options, the access log, TLS, shutdown on SIGINT and SIGTERM). What it answers
is ``freight.registry.handlers``'s, what it accepts as a manifest
``freight.registry.manifests``'s, and where it keeps things ``freight.registry.storage``'s.

A client gets the idle timeout to send a request's headers, counted from when it connected
or had its previous answer (aiohttp's keep-alive timer, which runs until the headers are
complete), and as long to pause within a body.

Run it with `python -m freight.registry.server --root DIR [--addr HOST:PORT] ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from aiohttp import abc as aiohttp_abc
from aiohttp import web

from freight.registry.handlers import Handlers
from freight.registry.htpasswd import HtpasswdAuth
from freight.registry.manifests import MAX_MANIFEST
from freight.registry.storage import RegistryStorage

READ_BUFFER = 4 << 20
DEFAULT_IDLE_TIMEOUT = 30.0
DEFAULT_UPLOAD_TIMEOUT = 3600.0
DEFAULT_MAX_UPLOADS = 10000
SHUTDOWN_GRACE = 1.0  # seconds requests in flight get on SIGTERM; cut uploads never show


class AccessLogger(aiohttp_abc.AbstractAccessLogger):
    """One line per request on stderr: client, method, path, status, bytes, duration."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        received = request.content.total_bytes if request.body_exists else 0
        self.logger.info(
            '%s "%s %s" %d in=%d out=%d %.1fms',
            request.remote,
            request.method,
            request.path_qs,
            response.status,
            received,
            response.content_length if response.content_length is not None else 0,
            time * 1000,
        )


def _access_log() -> logging.Logger:
    logger = logging.getLogger("freight.registry.access")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


async def _api_version_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Docker-Distribution-API-Version"] = "registry/2.0"


async def _sweep_uploads(storage: RegistryStorage, timeout: float) -> None:
    """End upload sessions idle for longer than timeout, and remove upload folders idle as
    long that are no session of this server's (a crashed server's, or those of another
    server on this storage): at start, then every timeout/2 (at least once a minute)."""
    while True:
        storage.expire_uploads(timeout)
        await asyncio.to_thread(storage.remove_idle_folders, timeout, set(storage.uploads))
        await asyncio.sleep(min(60.0, max(0.1, timeout / 2)))


def make_app(
    root: Path,
    htpasswd: Path | None = None,
    read_only: bool = False,
    upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT,
    max_uploads: int = DEFAULT_MAX_UPLOADS,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> web.Application:
    """The registry as an aiohttp application."""
    storage = RegistryStorage(root)
    auth = HtpasswdAuth(htpasswd) if htpasswd is not None else None
    registry = Handlers(storage, auth, read_only, max_uploads, idle_timeout)
    app = web.Application(client_max_size=MAX_MANIFEST)
    app.router.add_route("*", "/{tail:.*}", registry.dispatch)
    app.on_response_prepare.append(_api_version_header)

    async def lifecycle(app: web.Application) -> Any:
        sweeper = asyncio.create_task(_sweep_uploads(storage, upload_timeout))
        yield
        sweeper.cancel()

    app.cleanup_ctx.append(lifecycle)
    return app


def parse_addr(addr: str) -> tuple[str | None, int]:
    """"HOST:PORT", ":PORT" (every address) or "[V6]:PORT" -> (host or None, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid listen address {addr!r}: want HOST:PORT (port 0-65535)")
    host = host.strip("[]")
    return (host or None), int(port)


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def _serve(
    app: web.Application, host: str | None, port: int, context: Any, idle_timeout: float
) -> None:
    runner = web.AppRunner(
        app,
        access_log_class=AccessLogger,
        access_log=_access_log(),
        keepalive_timeout=idle_timeout,  # also bounds the wait for a request's headers
        read_bufsize=READ_BUFFER,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_GRACE,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=context, reuse_address=True)
        await site.start()
        scheme = "https" if context is not None else "http"
        print(f"registry listening on {scheme}://{host or '*'}:{port}", file=sys.stderr)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(
    addr: str = "127.0.0.1:5000",
    *,
    root: Path,
    htpasswd: Path | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    read_only: bool = False,
    upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT,
    max_uploads: int = DEFAULT_MAX_UPLOADS,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> None:
    """Serve the registry on addr until SIGINT or SIGTERM."""
    host, port = parse_addr(addr)
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    if not idle_timeout > 0:
        raise ValueError(f"--idle-timeout must be more than 0, not {idle_timeout}")
    context = tls_context(tls_cert, tls_key) if tls_cert and tls_key else None
    app = make_app(root, htpasswd, read_only, upload_timeout, max_uploads, idle_timeout)
    asyncio.run(_serve(app, host, port, context, idle_timeout))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `registry serve` options, shared by this module's entry point and the CLI."""
    parser.add_argument("--addr", default="127.0.0.1:5000", help="HOST:PORT to listen on")
    parser.add_argument("--root", type=Path, required=True, help="storage directory")
    parser.add_argument("--htpasswd", type=Path, help="require Basic auth (bcrypt entries)")
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", type=Path, help="private key of --tls-cert")
    parser.add_argument("--read-only", action="store_true", help="refuse every write")
    parser.add_argument(
        "--upload-timeout",
        type=float,
        default=DEFAULT_UPLOAD_TIMEOUT,
        help="seconds after which an idle upload session is removed",
    )
    parser.add_argument(
        "--max-uploads",
        type=int,
        default=DEFAULT_MAX_UPLOADS,
        help="open upload sessions allowed at once (TOOMANYREQUESTS beyond)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        help="seconds a client has to send a request's headers (from connecting or its "
        "last answer) and may pause within a body; idle connections close after it",
    )


def run_from_args(args: argparse.Namespace) -> None:
    serve(
        args.addr,
        root=args.root,
        htpasswd=args.htpasswd,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        read_only=args.read_only,
        upload_timeout=args.upload_timeout,
        max_uploads=args.max_uploads,
        idle_timeout=args.idle_timeout,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m freight.registry.server")
    add_arguments(parser)
    run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    main()
