"""``freight container ...``: every container command under the ``container`` group
(``docker container ls|run|...|prune``).

It reuses each command module's ``register`` on the group, so every flag has one
definition. As ``cli/main.py`` does for the top-level commands, it imports only
the module of the command named (``container ls`` loads what ``ps`` loads), or every
one when none is (``container --help``).
"""

from __future__ import annotations

from importlib import import_module

from freight.cli.main import Subcommands

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

    from freight.cli.main import Handler

_MODULES = {
    # module[:function]: the commands of the group it registers
    "freight.cli.run": "run create start",
    "freight.cli.restart": "restart",
    "freight.cli.execute": "exec",
    "freight.cli.lifecycle": "stop kill wait rm remove attach",
    "freight.cli.containers": "ps ls list logs",
    "freight.cli.inspect": "inspect",
    "freight.cli.stats": "top stats port",
    "freight.cli.cp": "cp",
    "freight.cli.lifecycle:register_prune": "prune",
    "freight.cli.pause": "pause unpause",
    "freight.cli.rename": "rename",
    "freight.cli.changes": "diff export",
    "freight.cli.commit": "commit",
    "freight.cli.update": "update",
}
# The group's name for a command, then its aliases (``ps`` is ``container ls``, as Docker names it).
_NAMES: dict[str, tuple[str, ...]] = {"ps": ("ls", "list", "ps"), "rm": ("rm", "remove")}
_OPTIONS = {"freight.cli.inspect": {"kind": "container"}}  # ``container inspect`` looks only for containers


class _Renamed(Subcommands):
    """Names some of another module's commands as the group names them, with aliases
    (``ps`` as ``container ls``, ``container list`` and ``container ps``)."""

    def __init__(self, inner: Subcommands, names: dict[str, tuple[str, ...]]) -> None:
        self._inner = inner
        self._names = names

    def add(self, name: str, handler: Handler, help: str, aliases: Sequence[str] = (),
            error_code: int = 1, **kwargs: Any) -> argparse.ArgumentParser:
        own, *more = self._names.get(name, (name,))
        return self._inner.add(own, handler, help, (*aliases, *more), error_code, **kwargs)


def register(sub: Subcommands) -> None:
    group = sub.group("container", help="Manage containers")
    wanted = group.wanted
    entries = [e for e, names in _MODULES.items() if wanted in names.split()] or list(_MODULES)
    for entry in entries:
        module, _, function = entry.partition(":")
        register_commands = getattr(import_module(module), function or "register")
        register_commands(_Renamed(group, _NAMES), **_OPTIONS.get(entry, {}))
