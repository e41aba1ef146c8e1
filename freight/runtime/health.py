"""Health checks (``HEALTHCHECK``, ``--health-*``): a container's check with Docker's defaults,
Docker's health state machine, and the status ``ps`` shows and ``--filter health=`` selects.

``State.Health`` holds Docker's ``Status``, ``FailingStreak`` and the last five
results in ``Log``; the checks are run by the monitor's checker (``healthcheck``).
As Docker's, failures during the start period do not count until a check
succeeded, and ``Retries`` failures in a row make the container ``unhealthy``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
STATUSES = (STARTING, HEALTHY, UNHEALTHY, "none")
SECOND = 1_000_000_000
_DEFAULTS = {"Interval": 30 * SECOND, "Timeout": 30 * SECOND, "StartPeriod": 0,
             "StartInterval": 5 * SECOND, "Retries": 3}
_LOG_ENTRIES = 5


def check_of(config: dict[str, Any]) -> dict[str, Any] | None:
    """The container's health check with Docker's defaults for zero values; None without one
    (no Healthcheck, or its test ``NONE``)."""
    check = config.get("Healthcheck") or {}
    test = check.get("Test") or []
    if not test or test[0] == "NONE":
        return None
    return {**{k: check.get(k) or default for k, default in _DEFAULTS.items()}, "Test": test}


def command(test: list[str]) -> list[str]:
    """The argv of ``CMD ...`` or ``CMD-SHELL cmd``."""
    return ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else list(test[1:])


def record(health: dict[str, Any], result: dict[str, Any], retries: int, in_start_period: bool) -> dict[str, Any]:
    """The health after ``result``: Docker's state machine."""
    log = [*health["Log"], result][-_LOG_ENTRIES:]
    if result["ExitCode"] == 0:
        return {"Status": HEALTHY, "FailingStreak": 0, "Log": log}
    if in_start_period and health["Status"] == STARTING:  # failures in the start period do not count
        return {**health, "Log": log}
    streak = health["FailingStreak"] + 1
    status = UNHEALTHY if streak >= retries else health["Status"]
    return {"Status": status, "FailingStreak": streak, "Log": log}


def status(state: dict[str, Any]) -> str:
    """The health status a container's state holds: starting, healthy, unhealthy or "none"."""
    health = state.get("Health") or {}
    return str(health.get("Status") or "none")


def health_suffix(state: dict[str, Any]) -> str:
    """What ``ps`` adds to a running container's status: `` (healthy)``, `` (health: starting)``."""
    current = status(state)
    if current == "none":
        return ""
    return " (health: starting)" if current == STARTING else f" ({current})"
