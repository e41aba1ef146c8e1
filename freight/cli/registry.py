"""`freight registry serve`: run an OCI distribution registry (like the CNCF registry).

The server (``freight.registry.server``) and aiohttp are imported only when it runs:
``freight --help`` registers this command too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from freight.cli.main import Subcommands
from freight.errors import FreightError, InvalidArgument
from freight.settings import default_root


def register(sub: Subcommands) -> None:
    group = sub.group("registry", help="Run an OCI distribution registry")
    serve = group.add("serve", _serve, help="Serve an OCI distribution registry over HTTP(S)")
    serve.add_argument("--addr", default="127.0.0.1:5000", help="HOST:PORT to listen on "
                       "(\":PORT\" for every address; default 127.0.0.1:5000)")
    serve.add_argument("--storage",
                       help="storage directory (default: <freight root>/registry)")
    serve.add_argument("--htpasswd",
                       help="require Basic auth against this htpasswd file (bcrypt entries)")
    serve.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    serve.add_argument("--read-only", action="store_true",
                       help="refuse pushes and deletes (maintenance mode)")
    serve.add_argument("--upload-timeout", type=float, default=3600.0,
                       help="seconds after which an idle upload is removed (default 3600)")
    serve.add_argument("--max-uploads", type=int, default=10000,
                       help="upload sessions open at once; more get TOOMANYREQUESTS")
    serve.add_argument("--idle-timeout", type=float, default=30.0,
                       help="seconds a client has to send a request's headers and may pause "
                            "within a body; idle connections close after it (default 30)")


def _file(text: str | None) -> Path | None:
    if text is not None and not Path(text).is_file():
        raise InvalidArgument(f"no such file: {text}")
    return Path(text) if text is not None else None


def _serve(args: argparse.Namespace) -> int:
    from freight.registry.server import serve  # aiohttp: heavy

    storage = Path(args.storage or Path(args.root or default_root()) / "registry")
    htpasswd, tls_cert, tls_key = (_file(p) for p in (args.htpasswd, args.tls_cert, args.tls_key))
    try:
        serve(args.addr, root=storage, htpasswd=htpasswd, tls_cert=tls_cert,
              tls_key=tls_key, read_only=args.read_only,
              upload_timeout=args.upload_timeout, max_uploads=args.max_uploads,
              idle_timeout=args.idle_timeout)
    except ValueError as err:
        raise InvalidArgument(str(err)) from None
    except OSError as err:
        raise FreightError(f"registry: {err}") from None
    return 0
