"""Ctrl-C, SIGTERM and SIGHUP stop a run alike: finished cells kept, servers stopped, the report written.

Each becomes :class:`Stopped` (a KeyboardInterrupt, so every ``finally`` and ``except
KeyboardInterrupt`` on the way out treats it as Ctrl-C) in the main thread, and the exit status
says which one it was: 128 + the signal number (130, 143, 129), as a shell reports it.
"""

from __future__ import annotations

import os
import signal

EXIT_INTERRUPTED = 128 + signal.SIGINT  # a plain KeyboardInterrupt, raised before the handlers were in place


class Stopped(KeyboardInterrupt):
    """A stop signal arrived: ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(interrupt: KeyboardInterrupt) -> int:
    return 128 + interrupt.signum if isinstance(interrupt, Stopped) else EXIT_INTERRUPTED


def restore_ctrl_c() -> None:
    """A shell that starts a background job (as some CI runners do) hands it SIGINT ignored: take it back."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def stop_on_signals() -> None:
    """Install the handlers. SIGHUP stays ignored when inherited so (``nohup``): the user asked to survive it."""
    terminal_fds = [fd for fd in (1, 2) if os.isatty(fd)]

    def stop(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    def hang_up(signum: int, _frame: object) -> None:
        # The terminal is gone: what is still written to it (the last progress line, the closing
        # message) would fail with EIO half-way through the clean-up.
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in terminal_fds:
            os.dup2(devnull, fd)
        os.close(devnull)
        raise Stopped(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, hang_up)
