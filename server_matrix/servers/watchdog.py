"""A watchdog process that kills every server when the runner dies, however it dies (SIGKILL included).

The servers run in process groups of their own (a terminal's Ctrl-C must reach only the runner),
so nothing would stop them if the runner vanished. The watchdog is a small process in a session
of its own: the runner tells it, through a pipe, each process group it starts (``+pgid``) and
stops (``-pgid``). When the pipe closes without a word (the runner is gone), it SIGKILLs every
group still on its list and exits. It imports only the standard library.

Each server's leader also has ``PR_SET_PDEATHSIG`` (see ``server.py``): that covers the moment
between its start and its registration here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
WAIT_S = 5.0
_BOOTSTRAP = (
    f"import sys; sys.path.insert(0, {PACKAGE_PARENT!r}); from server_matrix.servers.watchdog import main; main()"
)


def main() -> None:
    """The watchdog's side: read the pipe until it closes, then kill what is left."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin:
        sign, pgid = line[:1], int(line[1:])
        if sign == "+":
            groups.add(pgid)
        else:
            groups.discard(pgid)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Watchdog:
    """The runner's side: :meth:`watch` and :meth:`release` process groups, :meth:`close` at the end."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()  # a server may be stopped in one thread while the next starts in another

    def start(self) -> None:
        """Start the watchdog process (OSError if it cannot be)."""
        if self.process is None:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP], stdin=subprocess.PIPE, text=True, start_new_session=True
            )

    def watch(self, pgid: int) -> None:
        self._tell(f"+{pgid}")

    def release(self, pgid: int) -> None:
        self._tell(f"-{pgid}")

    def close(self) -> None:
        """Close the pipe and wait for the watchdog to leave (harmless twice)."""
        if self.process is not None:
            try:
                if self.process.stdin is not None:  # always: started with stdin=PIPE
                    self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def _tell(self, message: str) -> None:
        if self.process is None or self.process.stdin is None:
            return  # not started: a server outside a run (the leaders' PDEATHSIG still holds)
        try:
            with self._lock:
                self.process.stdin.write(message + "\n")
                self.process.stdin.flush()
        except OSError:
            pass  # the watchdog died: nothing better to do than go on; PDEATHSIG still covers each leader


WATCHDOG = Watchdog()  # one per runner process
