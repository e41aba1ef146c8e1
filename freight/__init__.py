"""freight: a daemonless container engine for OCI images."""

__version__ = "0.1.0"
