"""The registry server's errors: the distribution spec's codes, with the CNCF registry's messages.

A handler raises ``DistributionError(code, detail)``; the server answers it with the spec's
JSON body, ``{"errors": [{"code", "message", "detail"}]}``, and the code's HTTP status.
"""

from __future__ import annotations

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

# code -> (HTTP status, message): the messages are the CNCF registry's.
ERRORS: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),  # spec's; no ACLs here
    "UNSUPPORTED": (405, "The operation is unsupported."),
    "TOOMANYREQUESTS": (429, "too many requests"),
    "PAGINATION_NUMBER_INVALID": (400, "invalid number of results requested"),
}


class DistributionError(Exception):
    """An error answered with the spec's JSON body (see the module docstring)."""

    def __init__(self, code: str, detail: Any = None, *, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        default_status, self.message = ERRORS[code]
        super().__init__(f"{code}: {self.message}")
        self.code = code
        self.detail = detail
        self.status = status or default_status
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"errors": [{"code": self.code, "message": self.message, "detail": self.detail}]}
