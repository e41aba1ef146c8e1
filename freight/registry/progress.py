"""What ``pull`` and ``push`` show while they work, as Docker shows it.

On a terminal each layer gets a line with a progress bar (rich, imported only
then); in a pipe only the lines that matter are printed
(``a3ed95caeb02: Pull complete``); ``-q`` prints nothing but the result.
Reporters are called from the transfer threads, so they lock.
"""

from __future__ import annotations

import sys
import threading

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any, TextIO

# Layer statuses worth a line when output is not a terminal.
FINAL = frozenset({"Pull complete", "Already exists", "Pushed", "Layer already exists"})


class Reporter:
    """Prints nothing; the base of the other reporters."""

    def message(self, text: str) -> None:
        """A whole line (``latest: Pulling from library/busybox``)."""

    def status(self, item: str, text: str, total: int | None = None) -> None:
        """A layer's state changed (``Downloading``, ``Pull complete``, ``Mounted from x``)."""

    def advance(self, item: str, count: int) -> None:
        """``count`` more bytes of ``item`` moved (negative: a download started over)."""

    def close(self) -> None:
        """Stop drawing (bars), leaving what was printed."""


class Lines(Reporter):
    """Docker's output when stdout is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def message(self, text: str) -> None:
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()

    def status(self, item: str, text: str, total: int | None = None) -> None:
        if text in FINAL or text.startswith("Mounted from"):
            self.message(f"{item}: {text}")


class Bars(Reporter):
    """A live display with one bar per layer; lines that come once the layer rows are drawn
    (``Digest:``, ``Status:``) are printed below them when the display stops, as Docker
    keeps its rows in order."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        self._progress = Progress(TextColumn("{task.fields[item]}:"), TextColumn("{task.description:<16}"),
                                  BarColumn(), DownloadColumn(),
                                  console=Console(file=stream), transient=False)
        self._tasks: dict[str, Any] = {}
        self._after: list[str] = []
        self._lock = threading.Lock()
        self._progress.start()

    def message(self, text: str) -> None:
        with self._lock:
            if self._tasks:
                self._after.append(text)
                return
        self._progress.console.print(text, highlight=False, markup=False)

    def status(self, item: str, text: str, total: int | None = None) -> None:
        with self._lock:
            task = self._tasks.get(item)
            if task is None:
                task = self._tasks[item] = self._progress.add_task(text, item=item, total=total)
            done = text in FINAL or text.startswith("Mounted from")
            self._progress.update(task, description=text, total=total or None)  # None: the total stays
            if done:
                current = self._progress.tasks[task]
                self._progress.update(task, completed=current.total or 0)
            self._progress.refresh()  # draw every change of state, not only the periodic frames

    def advance(self, item: str, count: int) -> None:
        with self._lock:
            if (task := self._tasks.get(item)) is not None:
                self._progress.advance(task, count)

    def close(self) -> None:
        self._progress.stop()
        for text in self._after:
            self._progress.console.print(text, highlight=False, markup=False)
        self._after = []


def reporter(quiet: bool = False, stream: TextIO | None = None) -> Reporter:
    """The reporter Docker would use for ``stream`` (stdout by default)."""
    stream = stream or sys.stdout
    if quiet:
        return Reporter()
    return Bars(stream) if stream.isatty() else Lines(stream)
