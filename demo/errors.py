"""The one exception type that stops a server at boot, and the one-line form of its message."""

import re


class StartupError(Exception):
    """The process cannot serve; the message, one line, tells the operator why."""


def one_line(error: BaseException) -> str:
    """``str(error)`` with its line breaks folded: driver messages often span several lines."""
    return re.sub(r"\s+", " ", str(error)).strip() or type(error).__name__
