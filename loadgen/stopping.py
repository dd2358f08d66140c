"""How a command is asked to stop early: Ctrl-C, SIGTERM and SIGHUP set an event the run
watches, so the report of what ran still comes."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = [
    "at_work",
    "earned",
    "interrupt_on_signals",
    "interruptible",
    "over",
    "raised_by_signal",
    "signalled",
    "stop_on_signals",
]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_INTERRUPTIBLE = threading.Event()  # the main thread runs what no stop event reaches (see interruptible)
_INSTALLED: list[Callable[..., None]] = []  # loadgen's handlers in place, innermost last (see _handled)
_SIGNALLED = threading.Event()  # a stop signal came to stop_on_signals's handler (see signalled)
_EARNED: list[int] = []  # the exit code of the command whose work is done (see over)


class SignalStop(KeyboardInterrupt):
    """The KeyboardInterrupt loadgen's handlers raise for a stop signal, told apart from one the
    script's own code raises, which is a script error (exit 1) like any exception it raises."""


def raised_by_signal(exc: KeyboardInterrupt) -> bool:
    """Whether a KeyboardInterrupt may be a stop signal's: in a worker (SIGINT ignored) none is; where
    loadgen's handlers are in place, only theirs; under Python's own handler (the API), any may be Ctrl-C's."""
    handler = signal.getsignal(signal.SIGINT)
    if handler is signal.SIG_IGN:
        return False
    return isinstance(exc, SignalStop) or handler not in _INSTALLED


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP (the terminal closed) ask the run to stop, even when the shell
    started loadgen with SIGINT ignored; but SIGHUP stays ignored when loadgen was started so
    (``nohup``): the user asked it to outlive the terminal. The previous handlers come back
    afterwards."""

    def stopping(*_: object) -> None:
        _SIGNALLED.set()
        stop.set()
        if _INTERRUPTIBLE.is_set():
            raise SignalStop

    with _handled(stopping):
        yield


def at_work() -> None:
    """A command starts: no exit code earned yet (in one process, a command after another)."""
    _EARNED.clear()


def over(code: int) -> int:
    """The command's work is done (its report, files and the script's ``done()``): ``code`` is its exit code, whatever
    stop signal comes on its way out, its run's handlers given back (a Ctrl-C then said ``loadgen: interrupted``,
    exit 130, after a whole report). Returns ``code``."""
    _EARNED.append(code)
    return code


def earned() -> int | None:
    """The exit code :func:`over` recorded; None while the command is at work."""
    return _EARNED[-1] if _EARNED else None


def signalled() -> bool:
    """Whether a stop signal has come to this process's run (its ``stop`` may be the API's): what would
    wait for another process (a FIFO's reader) does not wait once the user asked to stop."""
    return _SIGNALLED.is_set()


@contextmanager
def interruptible() -> Iterator[None]:
    """The main thread runs what no stop event reaches: the script's own code in the parent (its top
    level, ``setup()``), or the open and read of a file given before the run, which blocks on a FIFO
    nobody writes. A stop raises KeyboardInterrupt there (a ``setup()`` that hung, or ``-s`` or
    ``--cacert`` naming such a FIFO, held loadgen through every signal until it was killed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _INTERRUPTIBLE.set()
    try:
        yield
    finally:
        _INTERRUPTIBLE.clear()


def _interrupt(*_: object) -> None:
    raise SignalStop


@contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """The same signals raise KeyboardInterrupt where the command is (the script's ``done()``,
    which no stop event reaches): SIGTERM ended the command without a word, and Ctrl-C was lost
    when the shell started loadgen with SIGINT ignored."""
    with _handled(_interrupt):
        yield


@contextmanager
def _handled(handler: Callable[..., None]) -> Iterator[None]:
    """``handler`` for the stop signals (see :func:`stop_on_signals`), the previous ones back afterwards."""
    caught = [
        signum
        for signum in STOP_SIGNALS
        if signum != signal.SIGHUP or signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN
    ]
    previous = {signum: signal.signal(signum, handler) for signum in caught}
    _INSTALLED.append(handler)
    try:
        yield
    finally:
        _INSTALLED.remove(handler)
        for signum, previous_handler in previous.items():
            signal.signal(signum, previous_handler)
