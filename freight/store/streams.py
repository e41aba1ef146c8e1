"""The shapes of the streams the store reads and writes, for type checkers only.

A layer is unpacked from whatever has ``read``: a file, a decompressor, a download still
arriving (``freight.store.blobstream``), a reader that hashes or copies what passes.
Nothing imports this module at run time (it imports ``typing``, which costs start-up time).
"""

from __future__ import annotations

from typing import Protocol


class Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> object: ...
