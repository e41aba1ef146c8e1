"""``freight system boot``: after a reboot (or any loss of the monitors), start again the
containers whose restart policy says so, as Docker's daemon does when it starts.

A container recorded as running whose monitor is gone is finished by the lookup
(``containers``); one left ``restarting`` by a monitor that is gone is treated the
same. Then ``always`` containers start, and ``unless-stopped`` ones unless they
were stopped by hand (``restart``). A systemd unit calls this at boot
(``contrib/systemd/freight-boot.service``).
"""

from __future__ import annotations

from freight.errors import FreightError
from freight.runtime.containers import list_containers
from freight.runtime.restart import policy_of, restarting
from freight.runtime.supervise import start

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from freight.runtime.records import Container
    from freight.store import Store


def boot(store: Store) -> tuple[list[str], list[tuple[str, str]]]:
    """Start the containers that should run; the IDs started, and (ID, error) of those that failed."""
    started: list[str] = []
    failed: list[tuple[str, str]] = []
    for c in reversed(list_containers(store, all=True)):  # oldest first, as they were created
        if not _wanted(c):
            continue
        try:
            start(store, c.id)
        except FreightError as err:
            failed.append((c.id, str(err)))
            continue
        started.append(c.id)
    return started, failed


def _wanted(c: Container) -> bool:
    if c.running or restarting(c):
        return False
    name = policy_of(c.host_config)["Name"]
    return name == "always" or (name == "unless-stopped" and not c.state.get("ManualStop"))
