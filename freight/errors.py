"""Errors shared by every layer of freight.

Each error carries the exit code Docker uses for the same failure, so the CLI
can turn any of them into one clear line on stderr and the right status.
"""


class FreightError(Exception):
    """A failure of the engine itself (Docker's exit code 125)."""

    exit_code = 125


class NotFound(FreightError):
    """A named object (image, container, volume, blob) does not exist."""


class InvalidReference(FreightError):
    """An image reference that does not follow Docker's grammar."""


class InvalidArgument(FreightError):
    """A flag or argument with a value freight cannot accept."""


class Conflict(FreightError):
    """The operation conflicts with the current state (image in use, name taken)."""


class Forbidden(FreightError):
    """The operation is never allowed on this object (a predefined network), or the state
    forbids it (a network in use, an address pool that overlaps another): Docker's 403."""


class LayerError(FreightError):
    """A layer tar that is malformed or tries to write outside its target."""


class DigestMismatch(FreightError):
    """Content whose bytes do not hash to the digest it was announced with."""


class CannotInvoke(FreightError):
    """The container's command exists but cannot be executed (exit 126)."""

    exit_code = 126


class CommandNotFound(FreightError):
    """The container's command does not exist (exit 127)."""

    exit_code = 127
