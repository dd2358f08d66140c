"""The errors loadgen reports to users as one line, never as a traceback, and the exit codes:
every code the ``loadgen`` command and its commands return is in :class:`ExitCode` (the README's
table says when each is returned)."""

from __future__ import annotations

import os
from enum import IntEnum

__all__ = [
    "NOTHING_MEASURED",
    "ExitCode",
    "Interrupted",
    "LoadgenError",
    "SetupError",
    "UsageError",
    "WorkerError",
    "excerpt",
    "shown",
]

# every worker failed and none's measurement came home (a lost Dask scheduler takes its tasks' results
# along): a report, a JSON or a Result would say that 0 requests were made, which is not what happened.
# Here, not in api.py, so that the commands that only read files say it without importing the engine.
EXCERPT = 80  # characters of a bad input quoted in its message: a line of megabytes is not read out whole
# characters of a URL or a file's name shown whole: no real one is longer (a path of 90 characters, a test's
# under pytest-xdist, was cut at EXCERPT, its file's name lost), a value of 5,000 is still cut
SHOWN = 1024
NOTHING_MEASURED = "no worker's result could be collected: nothing was measured that can be reported"


class ExitCode(IntEnum):
    """The one table of exit codes."""

    OK = 0  # the run completed (as wrk, even with socket errors or error statuses)
    USAGE = 1  # bad input, an unreachable target, a script error (or one that sent nothing), an unreadable document,
    # runs compare cannot gate
    WORKER = 2  # a worker process failed (wrk exits 2 when a thread cannot start)
    SERVER = 3  # the server failed: malformed or truncated responses, refused connections, not one response
    THRESHOLD = 4  # a --fail-on threshold, compare's --fail-above or every capacity step failed
    CLIENT = 5  # capacity: the client, not the server, limited the rate
    INTERRUPTED = 130  # stopped before the run started (capacity: during the search), or in the script's parent code


class LoadgenError(Exception):
    """A problem the user can fix; its message is the whole explanation.

    ``wrk_message`` marks wrk's own messages, which the command prints exactly as wrk prints
    them; it prints the others after ``loadgen:`` (a command's after its name: ``loadgen merge:``).
    """

    exit_code: int = ExitCode.USAGE

    def __init__(self, message: str, *, wrk_message: bool = False) -> None:
        super().__init__(message)
        self.wrk_message = wrk_message


class UsageError(LoadgenError):
    """Bad command-line input: the CLI prints the message, then the usage text."""


class SetupError(LoadgenError):
    """The run cannot start: the target cannot be resolved or reached, the script fails to load."""


class WorkerError(LoadgenError):
    """A worker process could not start or run."""

    exit_code = ExitCode.WORKER


class Interrupted(LoadgenError):
    """Stopped (Ctrl-C, SIGTERM, the API's ``stop``) before the run started: nothing was measured;
    or, ``running`` said, while that ran (the script's top level, ``setup()``, or ``done()`` after the report)."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str = "interrupted before the run started", *, running: str = "") -> None:
        super().__init__(message)
        self.running = running

    @property
    def line(self) -> str:
        """What a command says on stderr: ``loadgen: interrupted``, and what was running, if known."""
        return f"loadgen: interrupted{self.running and ' while ' + self.running}"


def check_count(name: str, value: object) -> None:
    """UsageError unless ``value``, the argument ``name`` of a public check, is an int (not a bool): it was
    Python's own TypeError from deep inside (``check_open_files('x')``: can only concatenate str (not "int") to str)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be an int, not {value!r}")


def excerpt(text: str, at_most: int = EXCERPT) -> str:
    """``text`` quoted in a one-line message: its repr, cut to its first ``at_most`` characters
    (and ``...``) when longer, so that a message stays a line a terminal shows whatever it quotes."""
    return repr(text) if len(text) <= at_most else f"{text[:at_most]!r}..."


def shown(text: str | os.PathLike[str]) -> str:
    """A URL, a file's name or a value as typed, as a one-line message shows it: quoted (``'a\\nb'``) when it
    holds a newline, a tab or another character that is not printable, which split the line (``--body-file
    $'a\\nb'``), or when longer than ``SHOWN`` characters, then cut (a value of 5,000 characters was
    a line of 5,000)."""
    text = os.fspath(text)
    return text if text.isprintable() and len(text) <= SHOWN else excerpt(text, SHOWN)
