"""Restart policies (``--restart``): which exits a container's monitor answers with a restart,
and after how long.

The monitor that started a container keeps supervising it across restarts
(``supervise``). A ``stop`` or ``kill`` through freight marks the container as
stopped by hand (``ManualStop`` in its state, written by the CLI process, read by
the monitor when the process exits): then no policy restarts it, as Docker's
``HasBeenManuallyStopped``. Back-off is Docker's restart manager's: 100 ms,
doubled at each restart up to a minute, back to 100 ms once a run lasted 10 s.
"""

from __future__ import annotations

import json
import time

from freight.errors import InvalidArgument
from freight.pids import alive
from freight.record import Record
from freight.runtime.records import save_state
from freight.store.db import transaction

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.runtime.records import Container
    from freight.store import Store

POLICIES = ("no", "on-failure", "always", "unless-stopped")
_FIRST_DELAY = 0.1
_MAX_DELAY = 60.0
_RESET_AFTER = 10.0  # a run at least this long resets the delay


def parse_policy(text: str) -> dict[str, Any]:
    """``--restart NAME[:MAX]`` as HostConfig.RestartPolicy; Docker's messages when refused."""
    name, sep, count = text.partition(":")
    if name not in POLICIES:
        raise InvalidArgument(f"invalid restart policy: unknown policy '{name}'; use one of "
                              "'no', 'always', 'on-failure', or 'unless-stopped'")
    if sep and name != "on-failure":
        raise InvalidArgument("invalid restart policy: maximum retry count can only be used with "
                              "'on-failure'")
    if sep and not count.isdigit():
        raise InvalidArgument("invalid restart policy format: maximum retry count must be an integer")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def policy_of(host: dict[str, Any]) -> dict[str, Any]:
    """A container's RestartPolicy, Docker's zero value ``{"Name": "no"...}`` when unset."""
    policy = host.get("RestartPolicy") or {}
    return {"Name": policy.get("Name") or "no", "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0)}


class Restarts(Record, frozen=False):
    """The restart manager of one monitor: its count and current back-off delay."""

    policy: dict[str, Any]
    count: int = 0
    delay: float = 0.0

    def next_delay(self, code: int, manual_stop: bool, ran_for: float) -> float | None:
        """After an exit with ``code`` of a run that lasted ``ran_for`` seconds: the delay
        before the restart, or None for no restart."""
        if manual_stop or self.policy["Name"] == "no":
            return None
        name, most = self.policy["Name"], self.policy["MaximumRetryCount"]
        if name == "on-failure" and (code == 0 or (most and self.count >= most)):
            return None
        if ran_for >= _RESET_AFTER:
            self.delay = 0.0
        self.delay = min(_MAX_DELAY, self.delay * 2 if self.delay else _FIRST_DELAY)
        self.count += 1
        return self.delay


def restarting(c: Container) -> bool:
    """Whether ``c``'s monitor is waiting to restart it (a live monitor, in state restarting)."""
    return bool(c.state.get("Restarting")) and alive(int(c.state.get("MonitorPid") or 0),
                                                      c.state.get("MonitorStartTime"))


def give_up(store: Store, c: Container) -> Container:
    """``c`` waits no more for a restart (a stop cancelled it, or its monitor is gone): exited."""
    c.state.update(Status="exited", Restarting=False)
    for key in ("MonitorPid", "MonitorStartTime"):
        c.state.pop(key, None)
    save_state(store, c)
    return c


def count(store: Store, cid: str, restarts: int) -> None:
    """Record ``RestartCount`` (only that key of the record: others may rename or update it)."""
    with transaction(store.db) as db:
        db.execute("UPDATE containers SET config = json_set(config, '$.RestartCount', ?) WHERE id = ?",
                   (restarts, cid))


def manual_stop(store: Store, cid: str, stopped: bool = True) -> None:
    """Record (or clear, on a start) that ``cid`` was stopped by hand; only this key changes,
    whatever its monitor writes meanwhile (``records.save_state`` keeps it)."""
    with transaction(store.db) as db:
        db.execute("UPDATE containers SET state = json_set(state, '$.ManualStop', json(?)) WHERE id = ?",
                   (json.dumps(stopped), cid))


def stopped_by_hand(store: Store, cid: str) -> bool | None:
    """Whether ``cid`` was stopped by hand; None when its row is gone (removed)."""
    row = store.db.execute("SELECT json_extract(state, '$.ManualStop') FROM containers WHERE id = ?",
                           (cid,)).fetchone()
    return None if row is None else bool(row[0])


def wait_out(store: Store, cid: str, delay: float) -> bool:
    """Sleep ``delay`` seconds before a restart; False as soon as a stop (or removal) cancels it."""
    deadline = time.monotonic() + delay
    while True:
        if stopped_by_hand(store, cid) is not False:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(left, 0.05))
