"""What the runner counts in a server's log: a traceback is one report, whatever its chain or group."""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable

from server_matrix.servers.serverlog import count_events


def report(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def raised(function: Callable[[], object]) -> BaseException:
    try:
        function()
    except BaseException as error:  # the exception is the test's data
        return error
    raise AssertionError("did not raise")


def chained() -> None:
    try:
        {}["missing"]
    except KeyError as error:
        try:
            raise ValueError("while handling") from None
        except ValueError:
            raise RuntimeError("caused") from error


def grouped() -> None:
    raise ExceptionGroup("two", [raised(chained), raised(lambda: 1 / 0)])


def warning_lines() -> str:
    """A DeprecationWarning as Python prints it, and granian's warning at each start on a free-threaded build."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("old", DeprecationWarning, stacklevel=1)
    printed = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught)
    return printed + "[WARNING] free-threaded Python support is experimental!\n"


def test_a_chained_exception_and_an_exception_group_are_one_traceback_each_and_warnings_none() -> None:
    """Each header was counted: the chained exception as 2, the group as 4 (its own, its members' and their chain)."""
    log = (
        warning_lines() + "[ERROR] Exception in ASGI application\n" + report(raised(chained)) + report(raised(grouped))
    )
    assert log.count("Traceback (most recent call last)") == 6
    assert count_events(log, None).tracebacks == 2
