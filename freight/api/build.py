"""``POST /build``."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from freight.api.http import Call

ROUTES: list[tuple[str, str, Callable[[Call], None]]] = []
