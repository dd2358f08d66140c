"""The runner's ``Handover`` on its own: the next group's server starts while the last one stops, and its cells wait
for that stop (the runner measures once ``Handover.start`` returns). Each server here is a real process that
leaves by itself after a while, its stop the wait for its exit: a fraction of a second, where tests/matrix/
test_handover.py watches a whole run (its boots outlast the stops, so it cannot see where the wait is)."""

from __future__ import annotations

import subprocess
import sys
import threading
from types import SimpleNamespace

from server_matrix.measuring.runner import Handover

LAST_STOP_S = 0.3  # how long the last group's server takes to stop


class Session:
    """A group's session as the runner drives it (start, close, hurry, warnings), its server a real process that
    exits ``lifetime_s`` after its start; ``beside`` is the last group's session, stopping meanwhile."""

    def __init__(self, name: str, lifetime_s: float, beside: Session | None = None) -> None:
        self.group = SimpleNamespace(mode=SimpleNamespace(id=name))
        self.lifetime_s = lifetime_s
        self.beside = beside
        self.warnings: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped = threading.Event()
        self.beside_stopping_at_start: bool | None = None

    def start(self) -> None:
        self.beside_stopping_at_start = self.beside is not None and not self.beside.stopped.is_set()
        self.process = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({self.lifetime_s})"])

    def close(self, grace_s: float = 0.0) -> None:
        assert self.process is not None
        self.process.wait()
        self.stopped.set()

    def hurry(self, grace_s: float) -> None:
        pass


def test_the_next_server_starts_while_the_last_stops_and_its_cells_wait_for_the_stop() -> None:
    last = Session("last", LAST_STOP_S)
    last.start()
    last.warnings.append("last: port 1 still in use after the server (pid 1) was stopped")
    following = Session("next", 0.0, beside=last)
    handover = Handover()
    try:
        handover.stop(last)
        assert not last.stopped.is_set()  # the stop runs in its thread: stop() does not wait for it
        warnings = handover.start(following)
        assert following.beside_stopping_at_start  # the next server started beside the stopping one...
        assert last.stopped.is_set()  # ...and start() returned, the first cell measured, only once it was stopped
        assert last.process is not None and last.process.returncode == 0
        assert warnings == last.warnings  # what went wrong stopping it, handed to the run's warnings
        assert handover.wait() == []  # nothing stopping any more
    finally:
        handover.wait()
        for session in (last, following):
            if session.process is not None:
                session.process.kill()
                session.process.wait()
