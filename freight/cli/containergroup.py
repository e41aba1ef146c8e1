"""``freight container ...``: every container command under the ``container`` group
(``docker container ls|run|...|prune``).

It reuses each command module's ``register`` on the group, so every flag has one
definition; so ``container`` builds (and imports) every container command.
"""

from __future__ import annotations

from freight.cli import containers, cp, execute, inspect, lifecycle, restart, run, stats
from freight.cli.main import Subcommands

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

    from freight.cli.main import Handler


class _WithAliases(Subcommands):
    """Adds aliases to some of another module's commands (``container ls`` for ``ps``)."""

    def __init__(self, inner: Subcommands, aliases: dict[str, tuple[str, ...]]) -> None:
        self._inner = inner
        self._aliases = aliases

    def add(self, name: str, handler: Handler, help: str, aliases: Sequence[str] = (),
            error_code: int = 1, **kwargs: Any) -> argparse.ArgumentParser:
        return self._inner.add(name, handler, help, (*aliases, *self._aliases.get(name, ())), error_code,
                               **kwargs)


def register(sub: Subcommands) -> None:
    group = sub.group("container", help="Manage containers")
    run.register(group)
    restart.register(group)
    execute.register(group)
    lifecycle.register(group)
    containers.register(_WithAliases(group, {"ps": ("ls", "list")}))
    inspect.register(group, kind="container")
    stats.register(group)
    cp.register(group)
    lifecycle.register_prune(group)
