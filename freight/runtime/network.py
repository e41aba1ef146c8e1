"""Container networking: network modes, and the container's loopback interface.

Modes (``--network``): ``private`` (the default; also spelled ``default`` or
``bridge``) and ``none`` give the container a new network namespace with only the
loopback interface, which its process brings up before exec (``loopback_up``);
``host`` shares the host's namespace. freight has no bridge, so a private
namespace reaches nothing outside the container; published ports reach into it
through a proxy (``ports``, ``portproxy``).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct

from freight.errors import NotFound

PRIVATE = "private"
NONE = "none"
HOST = "host"

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def parse_network_mode(value: str) -> str:
    """Map ``--network`` to a mode; an unknown network fails as in Docker."""
    if value in ("", "default", "bridge", PRIVATE):
        return PRIVATE
    if value in (NONE, HOST):
        return value
    if value.startswith("container:") and len(value) > len("container:"):
        return value
    raise NotFound(f"network {value} not found")


def loopback_up() -> None:
    """Bring ``lo`` up in the calling thread's network namespace, with one ioctl (no ``ip``
    binary, and no ``socket`` module: a container's process calls it after its pivot)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.socket(2, 2 | 0o2000000, 0)  # AF_INET, SOCK_DGRAM | SOCK_CLOEXEC
    if fd < 0:
        raise OSError(ctypes.get_errno(), "socket")
    try:
        ifreq = bytearray(struct.pack("16sH22x", b"lo", 0))
        fcntl.ioctl(fd, _SIOCGIFFLAGS, ifreq)
        flags = struct.unpack_from("H", ifreq, 16)[0] | _IFF_UP
        fcntl.ioctl(fd, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags))
    finally:
        os.close(fd)
