"""The worker's end of the live channel: each second it closes, posted without ever blocking
its loop.

The socket is non-blocking; what it cannot take at once waits in a buffer that the loop writes
out when the socket is writable. A parent that stops reading costs at most :data:`BACKLOG_BYTES`
of memory: past that, whole seconds are dropped from the view (never from the measurement, which
is sent whole at the end).
"""

from __future__ import annotations

import socket
import time

from ..live.framing import frame
from ..live.record import WorkerSecond
from ..measurement import WorkerCpu
from .sampling import cpu_seconds
from .worker import Worker

__all__ = ["Pulse"]

BACKLOG_BYTES = 8 << 20


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
        tally = worker.tally
        cpu_s, waiting_s = cpu_seconds()
        wall_s = (time.perf_counter_ns() - worker.start_ns) / 1e9
        record = WorkerSecond(
            index=worker.spec.index,
            host=self.host,
            second=len(worker.timeline.intervals) - 1,
            interval=worker.timeline.intervals[-1],
            status_counts=dict(tally.status_counts),
            error_reasons=dict(tally.error_reasons),
            connections_open=len(worker.pool.open),
            connections_opened=tally.connections_opened,
            cpu=WorkerCpu(cpu_s - worker.start_cpu[0], wall_s, waiting_s - worker.start_cpu[1]),
        )
        data = frame(record)
        if len(self.pending) + len(data) > BACKLOG_BYTES:
            return
        self.pending += data
        self._flush()

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
