"""An exclusive, time-bounded lock on a file, shared by all processes on one machine."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POLL_INTERVAL = 0.05


class LockTimeout(Exception):
    """Another process held the lock for longer than we were willing to wait."""


@contextmanager
def exclusive_file_lock(path: Path, *, timeout: float) -> Iterator[None]:
    """Hold ``flock(LOCK_EX)`` on ``path`` (created if missing), waiting at most ``timeout`` seconds.

    The kernel drops the lock when its holder exits, so a crashed worker never leaves it stale.
    """
    with open(path, "a+b") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"timed out after {timeout:g} s waiting for the lock {path}") from None
                time.sleep(POLL_INTERVAL)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
