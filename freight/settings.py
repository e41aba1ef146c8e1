"""Where freight keeps its store (and that nobody else may reach it), and other per-user settings."""

from __future__ import annotations

import os

from freight.errors import FreightError


def default_root() -> str:
    """``FREIGHT_ROOT``, else /var/lib/freight for root, else $XDG_DATA_HOME/freight."""
    if env := os.environ.get("FREIGHT_ROOT"):
        return env
    if os.geteuid() == 0:
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
