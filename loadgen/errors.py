"""The errors loadgen reports to users as one line, never as a traceback."""

from __future__ import annotations


class LoadgenError(Exception):
    """A problem the user can fix; its message is the whole explanation.

    ``wrk_message`` marks wrk's own messages, which the command prints exactly as wrk prints
    them; it prints the others after ``loadgen:``.
    """

    exit_code = 1

    def __init__(self, message: str, *, wrk_message: bool = False) -> None:
        super().__init__(message)
        self.wrk_message = wrk_message


class UsageError(LoadgenError):
    """Bad command-line input: the CLI prints the message, then the usage text."""


class SetupError(LoadgenError):
    """The run cannot start: the target cannot be resolved or reached, the script fails to load."""


class WorkerError(LoadgenError):
    """A worker process could not start or run (wrk exits 2 when a thread cannot start)."""

    exit_code = 2


class Interrupted(LoadgenError):
    """Stopped (Ctrl-C, SIGTERM, the API's ``stop``) before the run started: nothing was measured."""

    exit_code = 130
