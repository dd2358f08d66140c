"""What a server's log says happened: worker timeouts, worker (re)boots, tracebacks, GIL re-enabled."""

from __future__ import annotations

from dataclasses import dataclass

WORKER_TIMEOUT = "WORKER TIMEOUT"
WORKER_BOOT = "Booting worker"
TRACEBACK = "Traceback (most recent call last)"
GIL_ENABLED = "The global interpreter lock (GIL) has been enabled"


@dataclass(frozen=True)
class LogEvents:
    worker_timeouts: int = 0
    worker_boots: int = 0
    tracebacks: int = 0
    gil_reenabled_warnings: int = 0

    def __sub__(self, earlier: LogEvents) -> LogEvents:
        return LogEvents(*(a - b for a, b in zip(self.__dict__.values(), earlier.__dict__.values(), strict=True)))


def count_events(text: str) -> LogEvents:
    return LogEvents(
        worker_timeouts=text.count(WORKER_TIMEOUT),
        worker_boots=text.count(WORKER_BOOT),
        tracebacks=text.count(TRACEBACK),
        gil_reenabled_warnings=text.count(GIL_ENABLED),
    )


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
