"""What a server's log says happened: worker timeouts, worker (re)boots, tracebacks, GIL re-enabled.

Each server says "a worker is up" in its own words (the mode's ``boot_line``); the others are the
same everywhere (gunicorn's worker timeout, Python's traceback and GIL warning).
"""

from __future__ import annotations

from dataclasses import dataclass

WORKER_TIMEOUT = "WORKER TIMEOUT"
TRACEBACK = "Traceback (most recent call last):"
# Python prints an exception's chain in one report, each link under its own header after one of these lines; an
# exception group prints its members' headers inside its own, each line after a "|". One report: one traceback.
CHAINED = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
IN_GROUP = "|"
GIL_ENABLED = "The global interpreter lock (GIL) has been enabled"


@dataclass(frozen=True)
class LogEvents:
    worker_timeouts: int = 0
    worker_boots: int = 0
    tracebacks: int = 0
    gil_reenabled_warnings: int = 0

    def __sub__(self, earlier: LogEvents) -> LogEvents:
        return LogEvents(*(a - b for a, b in zip(self.__dict__.values(), earlier.__dict__.values(), strict=True)))


def count_events(text: str, boot_line: str | None) -> LogEvents:
    return LogEvents(
        worker_timeouts=text.count(WORKER_TIMEOUT),
        worker_boots=text.count(boot_line) if boot_line else 0,
        tracebacks=count_tracebacks(text),
        gil_reenabled_warnings=text.count(GIL_ENABLED),
    )


def count_tracebacks(text: str) -> int:
    """The traceback reports in ``text``: a chained exception or an exception group is one, not a header each.
    Warnings are not tracebacks: a server that warns on every clean start would flag every cell."""
    count, previous = 0, ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.endswith(TRACEBACK) and not stripped.startswith(IN_GROUP) and previous not in CHAINED:
            count += 1
        previous = stripped or previous
    return count


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
