"""``--gpus``: Docker's GPU requests, served through CDI devices of kind ``nvidia.com/gpu``.

``parse_gpus`` reads the flag (``all``, ``2``, ``device=0,1``, ``count=``,
``capabilities=``, ``driver=``, ``options=``) into the Docker API's
DeviceRequest; ``gpu_device_names`` picks the CDI devices that serve it from
the specs ``cdi.CdiRegistry`` found.
"""

from __future__ import annotations

import csv
import re

from freight.errors import FreightError, InvalidArgument
from freight.record import Record

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from freight.runtime.cdi import CdiRegistry

GPU_KIND = "nvidia.com/gpu"


class GpuRequest(Record):
    """Docker's DeviceRequest as ``--gpus`` builds it; ``count`` -1 means all, and ``options``
    is None when ``--gpus`` gave none."""

    count: int = 0
    device_ids: list[str] | None = None
    capabilities: Sequence[Sequence[str]] = (("gpu",),)
    driver: str = ""
    options: dict[str, str] | None = None


def _gpu_count(text: str) -> int:
    if text == "all":
        return -1
    if not re.fullmatch(r"[+-]?\d+", text):
        raise InvalidArgument(
            f'invalid argument "{text}" for "--gpus" flag: invalid count ({text}): '
            f'strconv.Atoi: parsing "{text}": invalid syntax'
        )
    return int(text)


def parse_gpus(value: str) -> GpuRequest:
    """Parse ``--gpus``: ``all``, ``2``, ``device=0,1`` (quoted in CSV), ``count=``,
    ``capabilities=``, ``driver=``, ``options=``; the fields are one CSV record."""
    def bad(reason: str) -> InvalidArgument:
        return InvalidArgument(f'invalid argument "{value}" for "--gpus" flag: {reason}')

    request: dict[str, Any] = {}  # GpuRequest's fields
    seen: set[str] = set()
    for fld in next(csv.reader([value]), []):
        key, sep, val = fld.partition("=")
        if key in seen:
            raise bad(f"gpu request key '{key}' can be specified only once")
        seen.add(key)
        if not sep:
            seen.add("count")
            request["count"] = _gpu_count(key)
        elif key == "count":
            request["count"] = _gpu_count(val)
        elif key == "device":
            request["device_ids"] = val.split(",")
        elif key == "driver":
            request["driver"] = val
        elif key == "capabilities":
            request["capabilities"] = [val.split(",") + ["gpu"]]
        elif key == "options":
            options = next(csv.reader([val]), [])
            request["options"] = dict(o.partition("=")[::2] for o in options)
        else:
            raise bad(f"unexpected key '{key}' in '{fld}'")
    if "count" not in seen and "device_ids" not in request:
        request["count"] = 1
    return GpuRequest(**request)


def _capabilities_text(request: GpuRequest) -> str:
    return "[" + " ".join("[" + " ".join(c) + "]" for c in request.capabilities) + "]"


def gpu_device_names(request: GpuRequest, registry: CdiRegistry) -> list[str]:
    """Map ``--gpus`` to CDI device names of kind nvidia.com/gpu.

    ``all`` selects the spec's ``all`` device when it has one (nvidia-ctk writes one),
    else every device; ``N`` the first N GPUs by index; ``device=`` the named ones.
    """
    available = registry.devices(GPU_KIND)
    if request.driver not in ("", "nvidia") or not available:
        raise FreightError(f'could not select device driver "{request.driver}" with '
                           f"capabilities: {_capabilities_text(request)}")
    if request.device_ids is not None:
        if request.count:
            raise InvalidArgument("cannot set both Count and DeviceIDs on device request")
        return [f"{GPU_KIND}={device}" for device in request.device_ids]
    if request.count < 0:
        chosen = ["all"] if "all" in available else available
    else:
        gpus = [d for d in available if d != "all"]
        indexed = sorted((d for d in gpus if d.isdigit()), key=int)
        ordered = indexed or gpus
        if request.count > len(ordered):
            raise FreightError(f"could not select {request.count} GPUs: "
                               f"only {len(ordered)} available")
        chosen = ordered[:request.count]
    return [f"{GPU_KIND}={device}" for device in chosen]
