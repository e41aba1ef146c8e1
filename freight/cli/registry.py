"""`freight registry serve`: run an OCI distribution registry (like the CNCF registry);
`freight pull`, `push`, `login` and `logout`: the registry client (``freight.registry.pull``,
``push``, ``auth``), which exit 1 on any failure, as the docker CLI does.

The server, aiohttp, httpx and rich are imported only when a command runs.
"""

from __future__ import annotations

import argparse

from freight.errors import FreightError, InvalidArgument, NotFound

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from pathlib import Path

    from freight.cli.main import Subcommands
    from freight.image.reference import Reference
    from freight.store.store import Store


def register(sub: Subcommands) -> None:
    register_client(sub)
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
    from pathlib import Path

    if text is not None and not Path(text).is_file():
        raise InvalidArgument(f"no such file: {text}")
    return Path(text) if text is not None else None


def _serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from freight.registry.server import serve
    from freight.settings import default_root

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


# -- pull, push, login, logout (the registry client) -------------------------


def register_client(sub: Subcommands) -> None:
    pull = sub.add("pull", _pull, help="Download an image from a registry")
    pull.add_argument("--platform", help="pull this platform (os/arch[/variant]) of a multi-platform image")
    pull.add_argument("-a", "--all-tags", action="store_true", help="download every tagged image")
    pull.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    pull.add_argument("ref", metavar="NAME[:TAG|@DIGEST]",
                      help="an image, or oci:DIR[:ref], oci-archive:FILE[:ref], docker-archive:FILE[:ref]")
    push = sub.add("push", _push, help="Upload an image to a registry")
    push.add_argument("-a", "--all-tags", action="store_true", help="push every tag of the repository")
    push.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    push.add_argument("image", metavar="NAME[:TAG]")
    push.add_argument("dest", nargs="?", metavar="DESTINATION",
                      help="push under another name, or to oci:DIR[:ref], oci-archive:FILE[:ref], "
                           "docker-archive:FILE[:ref]")
    login = sub.add("login", _login, help="Log in to a registry")
    login.add_argument("-u", "--username", help="username")
    login.add_argument("-p", "--password", help="password")
    login.add_argument("--password-stdin", action="store_true", help="take the password from stdin")
    login.add_argument("server", nargs="?", default="docker.io", metavar="SERVER")
    logout = sub.add("logout", _logout, help="Log out from a registry")
    logout.add_argument("server", nargs="?", default="docker.io", metavar="SERVER")


def _client_errors(err: FreightError) -> FreightError:
    """``docker pull/push/login`` exit 1 on every failure."""
    err.exit_code = 1
    return err


def _pull(args: argparse.Namespace) -> int:
    from freight.cli.main import store
    from freight.image import reference
    from freight.registry.progress import reporter
    from freight.registry.pull import pull
    from freight.registry.transports import is_transport

    progress = reporter(args.quiet)
    try:
        if is_transport(args.ref):
            image = pull(store(args), args.ref, args.platform, progress)
            print(image.repo_tags[0] if image.repo_tags else image.id)
            return 0
        ref = reference.parse(args.ref, default_tag=not args.all_tags)
        if args.all_tags and (ref.tag or ref.digest):
            raise InvalidArgument("tag can't be used with --all-tags/-a")
        if not args.all_tags and not args.quiet and ref.tag and ref.digest is None \
                and ":" not in args.ref.rsplit("/", 1)[-1]:
            print(f"Using default tag: {ref.tag}", flush=True)
        for name in _tags_to_pull(ref) if args.all_tags else [str(ref)]:
            pull(store(args), name, args.platform, progress)
    except FreightError as err:
        raise _client_errors(err) from None
    finally:
        progress.close()
    print(ref.repository if args.all_tags else str(ref))
    return 0


def _tags_to_pull(ref: Reference) -> list[str]:
    from freight.registry.client import Registry

    with Registry(ref.domain) as registry:
        registry.ping()
        return [str(ref.with_tag(tag)) for tag in registry.tags(ref.path)]


def _push(args: argparse.Namespace) -> int:
    from freight.cli.main import store
    from freight.registry.progress import reporter
    from freight.registry.push import push

    progress = reporter(args.quiet)
    try:
        if args.all_tags and args.dest:
            raise InvalidArgument("a destination can't be used with --all-tags/-a")
        images = store(args)
        names = _local_tags(images, args.image) if args.all_tags else [args.image]
        for name in names:
            push(images, name, args.dest, progress)
    except FreightError as err:
        raise _client_errors(err) from None
    finally:
        progress.close()
    if args.quiet:
        print(args.dest or args.image)
    return 0


def _local_tags(images: Store, name: str) -> list[str]:
    """``push --all-tags``: every local tag of repository ``name``."""
    from freight.image import reference

    ref = reference.parse(name, default_tag=False)
    if ref.tag or ref.digest:
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    tags = sorted(tag for image in images.images.all() for tag in image.repo_tags
                  if reference.parse(tag).repository == ref.repository)
    if not tags:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar()}")
    return tags


def _login(args: argparse.Namespace) -> int:
    import getpass
    import sys

    from freight.registry.auth import Credentials, store_credentials
    from freight.registry.client import Registry

    host = _server_host(args.server)
    password = args.password
    if args.password_stdin:
        if args.password or not args.username:
            raise _client_errors(InvalidArgument(
                "--password and --password-stdin are mutually exclusive" if args.password
                else "Must provide --username with --password-stdin"))
        password = sys.stdin.read().rstrip("\r\n")
    elif args.password:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    username = args.username or input("Username: ")
    if password is None:
        password = getpass.getpass("Password: ")
    if not username or not password:
        raise _client_errors(InvalidArgument("Error: Non-null Username and Password Required"))
    creds = Credentials(username, password)
    try:
        with Registry(host, creds) as registry:
            registry.check_login()
        store_credentials(host, creds)
    except FreightError as err:
        raise _client_errors(err) from None
    print("Login Succeeded")
    return 0


def _logout(args: argparse.Namespace) -> int:
    from freight.registry.auth import erase_credentials

    host = _server_host(args.server)
    try:
        if not erase_credentials(host):
            print(f"Not logged in to {host}")
            return 0
    except FreightError as err:
        raise _client_errors(err) from None
    print(f"Removing login credentials for {host}")
    return 0


def _server_host(server: str) -> str:
    """``https://host:5000/v2/`` → ``host:5000``; Docker Hub's names → ``docker.io``."""
    host = server.split("://", 1)[-1].split("/", 1)[0]
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host
