"""How a command is asked to stop early: Ctrl-C, SIGTERM and SIGHUP set an event the run
watches, so the report of what ran still comes."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["stop_on_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP (the terminal closed) ask the run to stop, even when the shell
    started loadgen with SIGINT ignored; but SIGHUP stays ignored when loadgen was started so
    (``nohup``): the user asked it to outlive the terminal. The previous handlers come back
    afterwards."""
    caught = [
        signum
        for signum in STOP_SIGNALS
        if signum != signal.SIGHUP or signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN
    ]
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in caught}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
