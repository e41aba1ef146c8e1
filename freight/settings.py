"""Where freight keeps its store (and that nobody else may reach it), and other per-user settings."""

from __future__ import annotations

import os
from functools import cache

from freight.errors import FreightError


def default_root() -> str:
    """``FREIGHT_ROOT``, else /var/lib/freight for root, else $XDG_DATA_HOME/freight."""
    if env := os.environ.get("FREIGHT_ROOT"):
        return env
    if os.geteuid() == 0 and not rootless():
        return "/var/lib/freight"
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "freight")


def config_file() -> str:
    """freight's configuration file (insecure registries, OCI runtimes), as Docker's
    daemon.json: ``$FREIGHT_CONFIG``, else ``$XDG_CONFIG_HOME/freight/registries.json``."""
    if env := os.environ.get("FREIGHT_CONFIG"):
        return env
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "freight", "registries.json")


FUSE_OVERLAYFS = "fuse-overlayfs"
_KERNEL_OVERLAY_IN_USERNS = (5, 11)  # overlayfs mounts in a user namespace (FS_USERNS_MOUNT) since 5.11


@cache
def storage_driver() -> str:
    """How containers' and builds' overlay mounts are made (``docker info``'s Driver):
    ``"overlay"`` (the kernel's overlayfs) or ``"fuse-overlayfs"`` (the FUSE program, as rootless Podman and Docker use
    where the kernel refuses overlayfs in a user namespace).

    ``FREIGHT_STORAGE_DRIVER``, else the configuration file's ``"storage-driver"`` (Docker's
    daemon.json key), forces one; otherwise fuse-overlayfs only in a user namespace on a
    kernel older than 5.11. Decided once per process.
    """
    wanted = os.environ.get("FREIGHT_STORAGE_DRIVER") or _configured_driver()
    if wanted in ("overlay2", "overlay"):
        return "overlay"
    if wanted == FUSE_OVERLAYFS:
        return FUSE_OVERLAYFS
    if wanted:
        raise FreightError(f"storage driver {wanted!r} is not supported: use overlay2 or fuse-overlayfs")
    return FUSE_OVERLAYFS if rootless() and not kernel_overlay_in_userns(os.uname().release) else "overlay"


def kernel_overlay_in_userns(release: str) -> bool:
    """Whether a kernel of this release (``uname -r``) mounts overlayfs in a user namespace."""
    numbers = [int(n) for n in release.split("-")[0].split(".")[:2] if n.isdigit()]
    return tuple(numbers) >= _KERNEL_OVERLAY_IN_USERNS


def _configured_driver() -> str:
    import json  # only when the environment does not say

    try:
        with open(config_file()) as f:
            config = json.load(f)
    except FileNotFoundError:
        return ""
    except ValueError as err:
        raise FreightError(f"{config_file()}: {err}") from None
    return str(config.get("storage-driver") or "") if isinstance(config, dict) else ""


@cache
def rootless() -> bool:
    """Whether this process runs in a user namespace (root in it is an ordinary user outside).

    Read from ``/proc/self/uid_map`` (the initial namespace maps every ID to itself), once:
    ``userns.enter`` learns it anew when it joins one. Without /proc (a process inside a
    container's root, as ``cp`` runs) and nothing learnt before: False.
    """
    try:
        return _uid_map() != [(0, 0, 4294967295)]
    except FileNotFoundError:
        return False


def host_uid() -> int:
    """The user's ID outside any user namespace (the one that owns the store and runtime dir)."""
    inside = os.geteuid()
    for start, outside, count in _uid_map():
        if start <= inside < start + count:
            return outside + inside - start
    return inside


def _uid_map() -> list[tuple[int, int, int]]:
    with open("/proc/self/uid_map") as f:
        return [(int(a), int(b), int(c)) for a, b, c in (line.split() for line in f)]


def runtime_dir() -> str:
    """Where freight keeps runtime state (locks, the user namespace's pid, caches), created private.

    ``FREIGHT_RUNTIME_DIR``, else /run/freight for root, else ``$XDG_RUNTIME_DIR/freight``,
    else (under ``su`` or ``runuser``, which set no XDG_RUNTIME_DIR) ``/tmp/freight-run-UID``
    as Podman falls back to ``/tmp/podman-run-UID``: refused unless the user owns it, and
    made private (0700).
    """
    if env := os.environ.get("FREIGHT_RUNTIME_DIR"):
        path = env
    elif os.geteuid() == 0 and not rootless():
        path = "/run/freight"
    elif (xdg := os.environ.get("XDG_RUNTIME_DIR")) and os.access(xdg, os.W_OK):
        path = os.path.join(xdg, "freight")
    else:
        path = f"/tmp/freight-run-{host_uid()}"
    try:
        os.mkdir(path, PRIVATE)
    except FileNotFoundError:
        os.makedirs(path, PRIVATE, exist_ok=True)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if st.st_uid != os.geteuid() or (st.st_mode & 0o170000) != 0o040000:
        raise FreightError(f"cannot use {path} as the runtime directory: not a directory of this user")
    if st.st_mode & 0o077:
        os.chmod(path, PRIVATE)
    return path


PRIVATE = 0o700  # the store root: other users reach nothing below it (see make_root)
_TIGHTENED = ("snapshots", "containers", "tmp")  # older stores made these 0755 too


def make_root(path: str) -> None:
    """``mkdir -p`` the store root, private to its owner; an existing one is made private too.

    Layers and containers' upper dirs hold setuid-root programs; a store other
    users can traverse lets any of them run those as root (Docker's
    CVE-2021-41091), so the root is 0700, as Podman's storage (Docker's is 0710).
    Containers and builds do not need it: the overlay reaches its layers with the
    mounter's credentials, volumes and host files are bind-mounted. An existing
    root costs one ``stat`` (and, once, the ``chmod``s that tighten a store made
    before): no walk, so that ``images`` and ``ps`` stay fast.
    """
    try:
        os.mkdir(path, PRIVATE)
    except FileNotFoundError:
        os.makedirs(path, PRIVATE, exist_ok=True)
    except FileExistsError:
        _tighten(path)
    except NotADirectoryError:
        raise FreightError(f"cannot use {path} as the store root: not a directory") from None


def _tighten(path: str) -> None:
    st = os.stat(path)
    if (st.st_mode & 0o170000) != 0o040000:
        raise FreightError(f"cannot use {path} as the store root: not a directory")
    if st.st_mode & 0o077 == 0:
        return
    for name in ("", *_TIGHTENED):
        try:
            os.chmod(os.path.join(path, name), PRIVATE)
        except FileNotFoundError:
            pass
        except PermissionError:
            return  # another user's store: its owner's next command tightens it
