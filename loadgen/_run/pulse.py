"""The worker's end of the live channel: each second it closes, posted without ever blocking
its loop.

The socket is non-blocking; what it cannot take at once waits in a buffer that the loop writes
out when the socket is writable. A parent that stops reading costs at most :data:`BACKLOG_BYTES`
of memory: past that, whole seconds are dropped from the view (never from the measurement, which
is sent whole at the end). The window's last second is closed as the loop stops: it is posted
then (:meth:`Pulse.post_last`), for the final view's figures of each worker.
"""

from __future__ import annotations

import socket
import time

from ..live.framing import frame
from ..live.record import WorkerSecond
from ..measurement import WorkerCpu
from .sampling import usage
from .worker import Worker

__all__ = ["Pulse"]

BACKLOG_BYTES = 8 << 20
LAST_TIMEOUT_S = 1.0


class Pulse:
    """Posts a worker's seconds on the socket ``fd``; wire :meth:`post` as the worker's ``on_second``."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self.sock.setblocking(False)
        self.host = socket.gethostname()
        self.pending = bytearray()
        self.waiting = False  # a writer is armed on the loop
        self.worker: Worker | None = None

    def post(self, worker: Worker) -> None:
        """The worker just closed a second of its timeline."""
        self.worker = worker
        data = frame(self._record(worker, last=False))
        if len(self.pending) + len(data) > BACKLOG_BYTES:
            return
        self.pending += data
        self._flush()

    def post_last(self, worker: Worker) -> None:
        """The loop has stopped, its window's last second closed: post it, with what the loop had
        no time to write, waiting :data:`LAST_TIMEOUT_S` at most (no loop is left to wait on)."""
        if not worker.timeline.intervals:
            return
        self.pending += frame(self._record(worker, last=True))
        try:
            self.sock.settimeout(LAST_TIMEOUT_S)
            self.sock.sendall(self.pending)
        except OSError:  # the parent is gone or not reading: the final view goes without it
            pass
        self.pending.clear()

    def _record(self, worker: Worker, last: bool) -> WorkerSecond:
        """The worker's newest second and its state now."""
        tally = worker.tally
        wall_s = (time.perf_counter_ns() - worker.start_ns) / 1e9
        return WorkerSecond(
            index=worker.spec.index,
            host=self.host,
            second=len(worker.timeline.intervals) - 1,
            interval=worker.timeline.intervals[-1],
            end_us=worker.timeline.closed_us,
            status_counts=dict(tally.status_counts),
            error_reasons=dict(tally.error_reasons),
            connections_open=len(worker.pool.open),
            connections_opened=tally.connections_opened,
            cpu=WorkerCpu.between(worker.start_cpu, usage(worker.script), wall_s),
            last=last,
        )

    def _flush(self) -> None:
        try:
            sent = self.sock.send(self.pending)
        except BlockingIOError:
            sent = 0
        except OSError:  # the parent is gone: nobody is watching any more
            self.pending.clear()
            sent = 0
        del self.pending[:sent]
        assert self.worker is not None
        if self.pending and not self.waiting:
            self.worker.loop.add_writer(self.sock.fileno(), self._flush)
            self.waiting = True
        elif not self.pending and self.waiting:
            self.worker.loop.remove_writer(self.sock.fileno())
            self.waiting = False

    def close(self) -> None:
        self.sock.close()
