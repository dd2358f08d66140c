"""The live progress line on stderr: elapsed time, requests, current rate, errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .._run.engine import Progress  # the renderer needs only its shape


class ProgressLine:
    """On a terminal, rewrites one line in place and :meth:`clear` leaves no trace before the report; elsewhere
    (``--progress`` into a file or a CI log) each update is a line of its own, with no control characters."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.in_place = stream.isatty()
        self.last: Progress | None = None
        self.shown = False

    def update(self, progress: Progress) -> None:
        last = self.last
        interval = progress.elapsed_s - last.elapsed_s if last else progress.elapsed_s
        rate = (progress.requests - (last.requests if last else 0)) / interval if interval > 0 else 0.0
        self.last = progress
        line = (
            f"  {progress.elapsed_s:6.1f}s  {progress.requests:>10} requests  {rate:>10.0f} req/s  "
            f"{progress.errors} errors"
        )
        self.stream.write(f"\r\033[K{line}" if self.in_place else f"{line}\n")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown and self.in_place:
            self.stream.write("\r\033[K")
            self.stream.flush()
