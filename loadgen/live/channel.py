"""The parent's end of the live channels: one socket per worker, read by one thread that hands
every record, whole, to a callback (the merge), so that the engine's own loop never waits on it;
once a channel closes (its worker ended or died), a :class:`WorkerGone` after its last record;
and, each time it has read all its channels held (at least every :data:`TICK_S`), :class:`Caught`."""

from __future__ import annotations

import os
import selectors
import socket
import threading
from collections.abc import Callable

from .framing import Unframer
from .record import Caught, LivePost, WorkerGone

__all__ = ["Channels"]

READ_SIZE = 1 << 16
TICK_S = 0.25  # how often the reader says it is caught up when nothing comes: a held worker posts nothing


class Channels:
    """Open one channel per worker with :meth:`open`, then :meth:`start`; :meth:`close` reads
    what is left and stops the thread."""

    def __init__(self, deliver: Callable[[LivePost], None]) -> None:
        self.deliver = deliver
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        self.thread = threading.Thread(target=self._read, name="loadgen-live", daemon=True)

    def open(self, index: int) -> socket.socket:
        """A new channel for worker ``index``; the returned socket is the worker's end, for the
        caller to pass and close (a copy left open anywhere would hide the worker's death)."""
        ours, theirs = socket.socketpair()
        self.selector.register(ours, selectors.EVENT_READ, (index, Unframer()))
        return theirs

    def start(self) -> None:
        self.thread.start()

    def _read(self) -> None:
        while True:
            for key, _ in self.selector.select(TICK_S):
                if key.fileobj == self.wake_r:
                    self._drain()
                    return
                self._empty(key)
            self.deliver(Caught())

    def _empty(self, key: selectors.SelectorKey) -> None:
        """Read one channel until it has nothing more now."""
        while self._receive(key):
            pass

    def _receive(self, key: selectors.SelectorKey) -> bool:
        """Read what one channel has now; False when there is nothing more to read now."""
        sock: socket.socket = key.fileobj  # type: ignore[assignment]
        try:
            data = sock.recv(READ_SIZE, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        index, unframer = key.data
        if not data:  # its worker closed it: ended, or died
            self.selector.unregister(sock)
            sock.close()
            self.deliver(WorkerGone(index))
            return False
        for record in unframer.feed(data):
            self.deliver(record)
        return True

    def _drain(self) -> None:
        """Whatever the workers posted before they stopped."""
        for key in [key for key in self.selector.get_map().values() if key.fileobj != self.wake_r]:
            self._empty(key)

    def close(self) -> None:
        if self.thread.is_alive():
            os.write(self.wake_w, b"x")
            self.thread.join()
        for key in list(self.selector.get_map().values()):
            if key.fileobj != self.wake_r:
                key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
