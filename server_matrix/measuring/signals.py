"""Ctrl-C, SIGTERM and SIGHUP stop a run alike: finished cells kept, servers stopped, the report written.

Each becomes a KeyboardInterrupt in the main thread, so every ``finally`` and ``except
KeyboardInterrupt`` on the way out treats it as Ctrl-C, and the exit status says which signal it
was: 128 + its number (130, 143, 129), as a shell reports it. The signal is remembered here, not
carried by the exception, because a library may catch the interrupt and raise a plain one again
(loadgen does, after stopping its workers). Once the run is stopping (its last server's stop, its last save, the
report), a stop signal is held instead: noted (the run ends as interrupted once its files are written), and the
server stop under way hurried.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

_received: list[int] = []  # the stop signals received, first first
_holding: list[Callable[[], None]] = []  # once the run is stopping: a stop signal is then noted and each called


def exit_code() -> int:
    """128 + the first stop signal received; Ctrl-C's 130 when none was (a KeyboardInterrupt of its own)."""
    return 128 + (_received[0] if _received else signal.SIGINT)


def stop_received() -> bool:
    """Whether a stop signal came: one held (the run stopping, or writing its files) ends it as interrupted too."""
    return bool(_received)


def hold_stop_signals(hurry: Callable[[], None]) -> None:
    """The run is stopping (its servers, then the report and the chart): a second Ctrl-C, as an impatient user
    presses, would cut that short, leaving no chart and no closing line. ``hurry`` is called on each signal held (a
    server's graceful stop cut to a second). The watchdog covers a kill -9."""
    _holding.append(hurry)


def restore_ctrl_c() -> None:
    """A shell that starts a background job (as some CI runners do) hands it SIGINT ignored: take it back."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def ignore_stop_signals() -> None:
    """The command is over (its files and closing line written): a stop signal in Python's exit raised in its exit
    functions (a traceback) or, once CPython had put the default handlers back, killed the command (-1 after the
    run's last line), its status lost. Ignored from here, for every thread; the status stands."""
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)


def stop_on_signals() -> None:
    """Install the handlers, for a run that starts with no signal noted or held: a run before it in this process
    (a caller's own) left the stop signals held, noted and not obeyed, and this one could not be stopped. SIGHUP stays
    ignored when inherited so (``nohup``): the user asked to survive it."""
    _received.clear()
    _holding.clear()
    terminal_fds = [fd for fd in (1, 2) if os.isatty(fd)]

    def stop(signum: int, _frame: object) -> None:
        _received.append(signum)
        if not _holding:
            raise KeyboardInterrupt
        for hurry in _holding:
            hurry()

    def hang_up(signum: int, frame: object) -> None:
        # The terminal is gone: what is still written to it (the last progress line, the closing
        # message) would fail with EIO half-way through the clean-up.
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in terminal_fds:
            os.dup2(devnull, fd)
        os.close(devnull)
        stop(signum, frame)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, hang_up)
