"""The freight command line: Docker's verbs and flags over the freight library.

Conventions for command modules (``freight/cli/<area>.py``):

* A module defines ``register(sub: Subcommands) -> None``, which adds its
  commands with ``sub.add("name", handler, help="...")`` (an argparse parser
  is returned to add arguments to) and, for ``docker image ls`` style groups,
  ``sub.group("image", help=...)`` returning a nested ``Subcommands``.
* ``COMMANDS`` below maps every top-level command to its module, so running a
  command imports only that module: ``freight run`` start-up is a headline figure.
  A group's ``wanted`` names the subcommand asked for (None: not known), so that
  a group registering commands of other modules imports only the one it needs.
* A handler is ``handler(args: argparse.Namespace) -> int | None`` (the exit
  status; None is 0). ``args.root`` is the store root (``store(args)`` opens it).
* Handlers raise ``freight.errors.FreightError`` subclasses for failures; main
  prints ``Error: <message>`` on one line (``Error response from daemon:`` for
  ``NotFound``, ``Conflict`` and ``Forbidden``, as the docker CLI shows the
  engine's 404, 409 and 403) and exits as the docker CLI does: 1 for a failed
  command, 125 where Docker's ``run``/``create`` report an engine failure
  (``sub.add(..., error_code=125)``), and 126/127 from errors that carry them.
  Usage errors print ``See 'freight CMD --help'.`` and exit 125.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from importlib import import_module

from freight import __version__
from freight.errors import Conflict, Forbidden, FreightError, NotFound

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

    from freight.store.store import Store

    Handler = Callable[[argparse.Namespace], "int | None"]

_MODULES = {
    # module[:function]: the top-level commands it registers (add a line for a new module);
    # the function defaults to ``register``
    "freight.cli.images": "images tag rmi",
    "freight.cli.history": "history",
    "freight.cli.image_import": "import",
    "freight.cli.images:register_image_group": "image",
    "freight.cli.run": "run create start",
    "freight.cli.restart": "restart",
    "freight.cli.execute": "exec",
    "freight.cli.lifecycle": "stop kill wait rm attach",
    "freight.cli.containers": "ps logs",
    "freight.cli.inspect": "inspect",
    "freight.cli.system": "system",
    "freight.cli.pull": "pull",
    "freight.cli.push": "push",
    "freight.cli.login": "login logout",
    "freight.cli.registry": "registry",
    "freight.cli.archive": "save load",
    "freight.cli.build": "build",
    "freight.cli.builder": "builder",
    "freight.cli.lock": "lock",
    "freight.cli.stats": "top stats port",
    "freight.cli.cp": "cp",
    "freight.cli.containergroup": "container",
    "freight.cli.volumes": "volume",
    "freight.cli.network": "network",
    "freight.cli.unshare": "unshare",
    "freight.cli.events": "events",
    "freight.cli.pause": "pause unpause",
    "freight.cli.rename": "rename",
    "freight.cli.changes": "diff export",
    "freight.cli.commit": "commit",
    "freight.cli.update": "update",
    "freight.cli.version": "version info",
    "freight.cli.search": "search",
}
COMMANDS: dict[str, str] = {name: module for module, names in _MODULES.items()
                            for name in names.split()}


def _columns() -> int:
    """The terminal width, found once (argparse would ask on every ``add_argument``)."""
    global _COLUMNS
    if _COLUMNS is None:
        try:
            _COLUMNS = int(os.environ["COLUMNS"])
        except (KeyError, ValueError):
            stdout = sys.__stdout__
            try:
                _COLUMNS = os.get_terminal_size(stdout.fileno()).columns if stdout is not None else 80
            except (ValueError, OSError):
                _COLUMNS = 80
    return _COLUMNS


_COLUMNS: int | None = None


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or _columns() - 2)


class Parser(argparse.ArgumentParser):
    """argparse with Docker's usage-error style and exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def format_help(self) -> str:
        from freight.cli import helptext  # only for help

        return helptext.top_help(self) if self.prog == "freight" else helptext.command_help(self)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"freight: {message}\nSee '{self.prog} --help'.\n")
        sys.exit(125)

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]  # one of its overloads
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        """Reject leftovers here, so the usage error names this command, not ``freight``.

        (argparse hands a subcommand's unknown arguments up to the top-level parser.)
        """
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            word = extras[0]
            self.error(f"unknown flag: {word}" if word.startswith("-") else f"unexpected argument: {word}")
        return parsed, extras


class Subcommands:
    """Adds commands (or groups of commands) under a parser; ``wanted``: the one the command
    line asks for, when known."""

    def __init__(self, parser: argparse.ArgumentParser, prog: str, wanted: str | None = None) -> None:
        self._actions = parser.add_subparsers(metavar="COMMAND", parser_class=Parser)
        self._prog = prog
        self.wanted = wanted

    def add(self, name: str, handler: Handler, help: str, aliases: Sequence[str] = (),
            error_code: int = 1, **kwargs: Any) -> argparse.ArgumentParser:
        parser = self._actions.add_parser(name, help=help, description=help, aliases=list(aliases),
                                          allow_abbrev=False, prog=f"{self._prog} {name}", **kwargs)
        parser.set_defaults(func=handler, error_code=error_code)
        return parser

    def only(self, names: Sequence[str], then: str | None = None) -> Subcommands:
        """A view of this group that takes only ``names`` from another module's ``register``
        (``then``: the subcommand wanted of a group among them).

        It lets ``image pull`` reuse the ``pull`` command's parser and handler:
        one definition for every flag.
        """
        return _Only(self, frozenset(names), then)

    def group(self, name: str, help: str) -> Subcommands:
        parser = self._actions.add_parser(name, help=help, description=help, allow_abbrev=False,
                                          prog=f"{self._prog} {name}")
        parser.set_defaults(func=lambda args: _group_usage(parser), error_code=1)
        return Subcommands(parser, f"{self._prog} {name}")


class _Only(Subcommands):
    def __init__(self, inner: Subcommands, names: frozenset[str], then: str | None = None) -> None:
        self._inner = inner
        self._names = names
        self.wanted = then

    def add(self, name: str, handler: Handler, help: str, aliases: Sequence[str] = (),
            error_code: int = 1, **kwargs: Any) -> argparse.ArgumentParser:
        if name in self._names:
            return self._inner.add(name, handler, help, aliases, error_code, **kwargs)
        return _Discard()  # type: ignore[return-value]  # stands in for the parser (see _Discard)

    def group(self, name: str, help: str) -> Subcommands:
        if name not in self._names:
            return _Only(self, frozenset())
        group = self._inner.group(name, help)
        group.wanted = self.wanted
        return group


class _Discard:
    """Stands in for the parser of a command not being run: it takes arguments and keeps none.

    Building argparse parsers is most of a command's start-up, so ``freight run``
    builds only ``run``'s.
    """

    def __getattr__(self, name: str) -> Callable[..., _Discard]:
        return lambda *args, **kwargs: self


def _group_usage(parser: argparse.ArgumentParser) -> int:
    """``docker image`` with no subcommand: its help on stderr, and success."""
    parser.print_help(sys.stderr)
    return 0


def store(args: argparse.Namespace) -> Store:
    """Open the store the global --root names."""
    from freight.store.store import open_store  # sqlite3: not for --version and --help

    return open_store(args.root)


def _command_words(argv: Sequence[str]) -> list[str]:
    """The words of ``argv`` that are not options (the command, a group's subcommand, ...)."""
    words = []
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in ("--root",):
            skip = True
        elif not word.startswith("-"):
            words.append(word)
    return words


def build_parser(argv: Sequence[str]) -> Parser:
    parser = Parser(prog="freight", allow_abbrev=False,
                    description="A daemonless container engine for OCI images.")
    parser.add_argument("--root", default=os.environ.get("FREIGHT_ROOT"),
                        help="where freight keeps images and containers (env FREIGHT_ROOT)")
    parser.add_argument("--debug", "-D", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", "-v", action="version", version=f"freight version {__version__}")
    sub = Subcommands(parser, "freight")
    words = _command_words(argv)
    wanted = words[0] if words else None
    if wanted in COMMANDS:
        modules, sub = [COMMANDS[wanted]], sub.only([wanted], words[1] if len(words) > 1 else None)
    elif wanted is None and {"--version", "-v"} & set(argv):
        modules = []
    else:
        modules = list(dict.fromkeys(COMMANDS.values()))
    for entry in modules:
        module, _, function = entry.partition(":")
        getattr(import_module(module), function or "register")(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    words = _command_words(argv)
    if words and words[0] == "help":  # ``freight help COMMAND``: that command's --help
        argv = [*words[1:], "--help"]
        words = words[1:]
    if words and words[0] not in COMMANDS:
        sys.stderr.write(f"freight: '{words[0]}' is not a freight command.\nSee 'freight --help'\n")
        return 1
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    handler: Handler = args.func
    error_code: int = args.error_code
    try:
        if os.geteuid() != 0:  # an ordinary user: the namespace first, while single-threaded
            from freight.runtime import userns

            userns.enter()
        status = handler(args)
    except FreightError as err:
        if args.debug:
            raise
        sys.stderr.write(f"{error_prefix(err)}{err}\n")
        return error_code if err.exit_code == FreightError.exit_code else err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:
        message = _environment_error(err)
        if message is None or args.debug:
            raise
        sys.stderr.write(f"Error: {message}\n")
        return error_code
    return status or 0


def error_prefix(err: FreightError) -> str:
    """How the docker CLI introduces the error: what the engine answers for a missing object, a
    conflict or a forbidden change (its 404, 409 and 403) comes "from daemon"; other failures
    are the command's own."""
    return "Error response from daemon: " if isinstance(err, (NotFound, Conflict, Forbidden)) else "Error: "


def _environment_error(err: Exception) -> str | None:
    """The one-line message for a failure of the machine rather than of freight's logic:
    a file or directory it cannot use (OSError), or a store database sqlite cannot open or
    write (read-only, full disk, locked). None for anything else: a bug keeps its traceback."""
    if isinstance(err, OSError):
        return f"{err.strerror or err}{f': {err.filename}' if err.filename else ''}"
    sqlite3 = sys.modules.get("sqlite3")  # never imported here: only a store that is open can fail so
    if sqlite3 is not None and isinstance(err, sqlite3.Error):
        return f"store database: {err}"
    return None


def run() -> NoReturn:
    """The ``freight`` command: ``main``, then an exit that skips needless teardown."""
    _exit(main())


def _exit(status: int) -> NoReturn:
    """Exit with ``status``, without the interpreter's teardown when nothing needs it.

    Freeing every module and object at exit costs a listing command about a tenth
    of its time, and a pull or push about 50 ms. So unless another thread that
    the interpreter would wait for is still running, the exit handlers run
    (``atexit``: logging's flush, finalizers such as a temporary directory's)
    and the process leaves at once: the rest of the teardown would only free
    memory the kernel frees anyway.
    """
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    threading = sys.modules.get("threading")
    if run_exit_handlers is None or (threading is not None and any(
            thread.is_alive() and not thread.daemon for thread in threading.enumerate()
            if thread is not threading.main_thread())):
        sys.exit(status)
    run_exit_handlers()
    exit_now(status)


def exit_now(status: int) -> NoReturn:
    """Flush the output and leave at once, skipping teardown: for a command that has
    written everything and waits on no thread (closing the last sqlite connection
    would also checkpoint the WAL, which the next opener or writer does anyway)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: let the interpreter report it as usual
        sys.exit(status)
    os._exit(status)


if __name__ == "__main__":
    run()
