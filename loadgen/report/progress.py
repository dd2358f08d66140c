"""The live progress line on stderr: elapsed time, requests, current rate, errors; the requests
of workers that died, which the figures (the line's and the report's) do not have; and, past the
end, the silent workers the run waits for (it showed 0 req/s for 15 s, saying nothing). Its time is
the measured window's, as the report's: through a ``--warmup``, the line says it is one (it counted
from the run's start, "4.0s" on the last line above "in 2.00s", and the warm-up's requests)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .._run.engine import Progress  # the renderer needs only its shape


class ProgressLine:
    """On a terminal, rewrites one line in place and :meth:`clear` leaves no trace before the report; elsewhere
    (``--progress`` into a file or a CI log) each update is a line of its own, with no control characters."""

    def __init__(self, stream: TextIO, warmup_s: float = 0.0) -> None:
        self.stream = stream
        self.warmup_s = warmup_s
        self.in_place = stream.isatty()
        self.last: Progress | None = None
        self.shown = False

    def update(self, progress: Progress) -> None:
        last = self.last
        # from the last update, or from the warm-up's end: its counts are none, "10160 req/s" of 51,000
        interval = progress.elapsed_s - max(last.elapsed_s if last else 0.0, self.warmup_s)
        # every response counted, a dead worker's too (whose are taken out of ``requests`` as it dies)
        counted = progress.requests + progress.lost
        rate = (counted - (last.requests + last.lost if last else 0)) / interval if interval > 0 else 0.0
        self.last = progress
        if progress.elapsed_s < self.warmup_s:
            fields: tuple[str, ...] = (
                f"{progress.elapsed_s:6.1f}s",
                f"warming up for {self.warmup_s:g}s (not measured)",
            )
        else:
            fields = (
                f"{progress.elapsed_s - self.warmup_s:6.1f}s",
                f"{progress.requests:>10} requests",
                f"{rate:>10.0f} req/s",
                f"{progress.errors} errors",
                *([f"{progress.lost} more lost with a dead worker"] if progress.lost else []),
                *([f"waiting for {_workers(progress.waiting)} to stop (silent)"] if progress.waiting else []),
            )
        line = "  " + "  ".join(fields)
        if self.in_place:
            self.stream.write(f"\r\033[K{fitted(line, fields, self._columns())}")
        else:
            self.stream.write(f"{line}\n")
        self.stream.flush()
        self.shown = True

    def _columns(self) -> int | None:
        """The terminal's width now (it may have been resized), None if it cannot be told (a
        terminal that says 0 columns has not been given a size)."""
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or None
        except (OSError, ValueError):
            return None

    def clear(self) -> None:
        if self.shown and self.in_place:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _workers(indexes: tuple[int, ...]) -> str:
    return f"worker {indexes[0]}" if len(indexes) == 1 else f"workers {', '.join(map(str, indexes))}"


def fitted(line: str, fields: tuple[str, ...], columns: int | None) -> str:
    """``line`` on one row of a terminal ``columns`` wide: a line that wrapped left a row behind
    at each update, which ``\\r`` cannot reach (the last figures cut short, "331" for 33,192 req/s).
    Narrower, the fields unpadded, then as many whole ones as fit: a figure is never cut."""
    if columns is None or len(line) < columns:
        return line
    kept = ""
    for field in (field.strip() for field in fields):
        wider = f"{kept} {field}" if kept else field
        if len(wider) >= columns:
            break
        kept = wider
    return kept
