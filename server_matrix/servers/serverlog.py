"""What a server's log says happened: worker timeouts, worker (re)boots, tracebacks, GIL re-enabled; and its header.

Each server says "a worker is up" in its own words (the mode's ``boot_line``); the others are the
same everywhere (gunicorn's worker timeout, Python's traceback and GIL warning).

A traceback whose exceptions include the peer gone (a connection reset, a broken pipe) reports the client
closing its connection first, not the demo failing: gunicorn's HTTP/2 logs one with its traceback when loadgen's
HTTP/2 test connection closes as soon as it has the server's settings. Those are counted apart
(``client_disconnects``), never as ``tracebacks``, whose flag says the server or the demo failed.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from demo.errors import STARTUP_FAILURE_PREFIX

WORKER_TIMEOUT = "WORKER TIMEOUT"
TRACEBACK = "Traceback (most recent call last):"
# Python prints an exception's chain in one report, each link under its own header after one of these lines; an
# exception group prints its members' headers inside its own, each line after a "|". One report: one traceback.
CHAINED = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
IN_GROUP = "|"
GROUP_HEADER = "+ Exception Group " + TRACEBACK
# An exception line in a group's print (indented, after its "|"; the code lines are indented more after it).
GROUP_RAISED = re.compile(r"^\s*\| (?=\S)")
# An exception line (in a group: after its "|") naming the peer gone: ``ConnectionResetError: Connection lost``.
PEER_GONE = re.compile(r"^[\s|]*(?:[\w.]+\.)?(?:ConnectionResetError|BrokenPipeError|ConnectionAbortedError)(?::\s|$)")
GIL_ENABLED = "The global interpreter lock (GIL) has been enabled"


@dataclass(frozen=True)
class LogEvents:
    worker_timeouts: int = 0
    worker_boots: int = 0
    tracebacks: int = 0
    gil_reenabled_warnings: int = 0
    client_disconnects: int = 0  # traceback reports of the client gone first: not the server's failure

    def __sub__(self, earlier: LogEvents) -> LogEvents:
        return LogEvents(*(a - b for a, b in zip(self.__dict__.values(), earlier.__dict__.values(), strict=True)))


def startup_failure(text: str) -> str | None:
    """The demo's own line saying why it cannot start (a database it cannot reach, a bad setting), if logged."""
    return next((line.strip() for line in text.splitlines() if line.startswith(STARTUP_FAILURE_PREFIX)), None)


def worker_boots(text: str, boot_line: str | None) -> int:
    """The workers that said they are up (the readiness wait asks only this, at each probe)."""
    return text.count(boot_line) if boot_line else 0


def count_events(text: str, boot_line: str | None) -> LogEvents:
    reports = traceback_reports(text)
    disconnects = sum(map(peer_gone, reports))
    return LogEvents(
        worker_timeouts=text.count(WORKER_TIMEOUT),
        worker_boots=worker_boots(text, boot_line),
        tracebacks=len(reports) - disconnects,
        gil_reenabled_warnings=text.count(GIL_ENABLED),
        client_disconnects=disconnects,
    )


def peer_gone(report: list[str]) -> bool:
    """Whether a traceback report is the client closing first (a connection reset, a broken pipe)."""
    return any(PEER_GONE.match(line) for line in report)


def last_error(text: str) -> str | None:
    """The exception line of the last traceback in ``text`` that is not the client gone: what the server last failed
    on (the demo's 500s with PostgreSQL stopped: ``django.db.utils.OperationalError: ... Connection refused``)."""
    for report in reversed(traceback_reports(text)):
        raised = [words for line in report if (words := _raised(line))]
        if raised and raised[-1] not in (TRACEBACK, *CHAINED) and not peer_gone(report):
            return raised[-1]
    return None


def _raised(line: str) -> str | None:
    """An exception line's words (a group member's without the "|" before it); None for any other line."""
    if group := GROUP_RAISED.match(line):
        return line[group.end() :].strip()
    return line.strip() if line.strip() and not line[0].isspace() else None


def traceback_reports(text: str) -> list[list[str]]:
    """The traceback reports in ``text``, each its lines: a chained exception or an exception group is one, not a
    header each. A report ends before the first line after its exception line (the first at the line's start) that
    is not a chain's "During handling..." or "... direct cause ..."; a group's, all of it indented, before the first
    line at the line's start (the log's next line was taken in, and said to be the last error). Warnings are not
    tracebacks: a server that warns on every clean start would flag every cell."""
    reports: list[list[str]] = []
    current: list[str] | None = None
    previous, raised = "", False  # the last line not blank; whether ``current`` printed its exception
    grouped = False  # ``current`` is an exception group's: all of it indented, it ends at a line that is not
    for line in text.splitlines():
        stripped = line.strip()
        header = stripped.endswith(TRACEBACK) and not stripped.startswith(IN_GROUP)
        done = raised or (grouped and not line[:1].isspace())
        if header and previous not in CHAINED:
            current, raised, grouped = [], False, stripped == GROUP_HEADER
            reports.append(current)
        elif current is not None and stripped and done and stripped not in CHAINED:
            current = None
        if current is not None:
            current.append(line)
            if stripped in CHAINED or header:
                raised = False
            elif stripped and not line[0].isspace():
                raised = True
        previous = stripped or previous
    return reports


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def write_header(log: io.FileIO, path: Path, command: Sequence[str]) -> int:
    """The header line written out, before the server starts: on a full disk it failed as the file closed, after the
    server had started, in a line naming nothing (``server-matrix: cannot start: No space left on device``), the
    server left to the runner's exit. Now no server starts, and the line names the log. Where the server's lines
    begin."""
    try:
        log.write(f"=== server-matrix: {' '.join(command)}\n".encode())
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from None
    return log.tell()


def boot_lines_lost(path: Path) -> str | None:
    """Why a server that answers has not logged its workers' boot lines, when they are lost, not late: its log's disk
    is full (the cell waited for them to the limit, a minute, and said "server not ready after 60 s (...; 0 of 2
    workers' boot lines in its log)")."""
    if os.statvfs(path).f_bfree:
        return None
    return f"its log {path} cannot be written, its disk full: the workers' boot lines waited for are lost"
