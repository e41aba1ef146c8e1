"""OCI hooks: programs a container's devices (CDI) ask to run at points of its life.

A hook gets the OCI runtime state (``oci_state``) on its stdin, its own ``env``
and nothing inherited, and a ``timeout`` in seconds (None: no limit). The stages
run as runc runs them: ``createRuntime`` (and the deprecated ``prestart``) in the
runtime's namespaces after the container's namespaces exist and before its pivot
(``launch``), ``createContainer`` in the container's mount namespace before the
pivot and ``startContainer`` in the container just before exec (``child``; its
``path`` is then the container's own), ``poststart`` once the command runs and
``poststop`` after it exited (``supervise``). A failing hook of the first three
stages fails the start (exit 125, with the hook's output); ``poststart`` and
``poststop`` failures are only printed as warnings.

A container's PID 1 runs hooks after its pivot, so this module imports what it
needs at the top: ``child`` imports it before the pivot.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time

from freight.errors import FreightError
from freight.record import Record

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


class Hook(Record):
    """One OCI hook; ``args[0]`` is argv[0] as in the OCI spec."""

    path: str
    args: list[str]
    env: list[str]
    timeout: int | None


def oci_state(container_id: str, status: str, bundle: str, pid: int | None = None) -> dict[str, Any]:
    """The OCI runtime state a hook reads on its stdin."""
    state: dict[str, Any] = {"ociVersion": "1.0.2", "id": container_id, "status": status}
    if pid:
        state["pid"] = pid
    state["bundle"] = bundle
    return state


def run_hooks(stage: str, hooks: list[Hook] | None, state: dict[str, Any],
              fatal: bool = True, warn: Callable[[str], None] | None = None) -> None:
    """Run ``hooks`` in order; the first failure raises (``fatal``) or is a warning, given to
    ``warn`` (by default printed)."""
    for number, hook in enumerate(hooks or ()):
        try:
            _run_hook(hook, json.dumps(state, separators=(",", ":")).encode())
        except FreightError as exc:
            message = f"error running {stage} hook #{number}: {exc}"
            if fatal:
                raise FreightError(message) from None
            if warn is not None:
                warn(f"WARNING: {message}\n")
            else:
                os.write(2, f"WARNING: {message}\n".encode())


def _run_hook(hook: Hook, state: bytes) -> None:
    """Spawn one hook with ``state`` on stdin, its output captured; FreightError if it fails.

    No thread and no fork of the caller (which may be a container's PID 1 after its pivot):
    ``posix_spawn``, then ``select`` on the output pipe against the hook's timeout.
    """
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    actions = [(os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
               (os.POSIX_SPAWN_DUP2, out_w, 2)]
    try:
        pid = os.posix_spawn(hook.path, hook.args or [hook.path], _hook_env(hook),
                             file_actions=actions, setsigdef=(signal.SIGPIPE,))
    except OSError as exc:
        os.close(in_w)
        os.close(out_r)
        raise FreightError(f"{hook.path}: {exc.strerror or exc}") from None
    finally:
        os.close(in_r)
        os.close(out_w)
    try:
        os.write(in_w, state)  # a few hundred bytes: the pipe buffer holds them
    except BrokenPipeError:
        pass  # a hook need not read its stdin
    finally:
        os.close(in_w)
    output = _read_until_exit(hook, pid, out_r)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code != 0:
        status = f"signal {-code}" if code < 0 else f"exit status {code}"
        text = output.decode(errors="replace").strip()
        raise FreightError(f"{hook.path}: {status}" + (f", output: {text}" if text else ""))


def _read_until_exit(hook: Hook, pid: int, out_r: int) -> bytes:
    """The hook's output (its last 4 KiB) up to end-of-file; kill it past its timeout."""
    deadline = None if hook.timeout is None else time.monotonic() + hook.timeout
    output = b""
    try:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([out_r], [], [], wait)[0]:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise FreightError(f"{hook.path}: timed out after {hook.timeout}s")
            chunk = os.read(out_r, 65536)
            if not chunk:
                return output
            output = (output + chunk)[-4096:]
    finally:
        os.close(out_r)


def _hook_env(hook: Hook) -> dict[str, str]:
    """The hook's ``env`` entries (OCI: exactly those, nothing inherited)."""
    return dict(entry.partition("=")[::2] for entry in hook.env)
