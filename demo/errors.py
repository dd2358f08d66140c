"""The one exception type that stops a server at boot, and the one-line form of its message."""

import re

# The line a server's process prints when the demo cannot start (server_matrix's readiness wait looks for it: a
# supervisor that respawns its workers, as uvicorn --workers does, would otherwise hold the start-up limit).
STARTUP_FAILURE_PREFIX = "demo: startup failed:"


class StartupError(Exception):
    """The process cannot serve; the message, one line, tells the operator why."""


def one_line(error: BaseException) -> str:
    """``str(error)`` with its line breaks folded: driver messages often span several lines."""
    return re.sub(r"\s+", " ", str(error)).strip() or type(error).__name__
