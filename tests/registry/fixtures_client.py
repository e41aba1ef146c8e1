"""Helpers for the registry client tests: a second store, the CLI on a store root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from freight.store import Store, open_store

FREIGHT = Path(sys.executable).parent / "freight"


def fresh_store(tmp_path: Path, name: str = "other") -> Store:
    return open_store(tmp_path / name)


def run_freight(root: Path, *args: str, input: str | None = None,
                env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(FREIGHT), "--root", str(root), *args], input=input, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
