"""One connection before the run (the target's test connection, the HTTP/2 probe, the TLS check)
that a stop ends at once.

A blocking socket with a 5 s timeout sits out Ctrl-C and SIGTERM (their handlers only set the
stop event) while a server that accepts and never answers keeps it waiting. This one's socket
does not block: every wait is cut into slices of :data:`SLICE_S`, the stop event checked
between them, so a stop ends it with :class:`~loadgen.errors.Interrupted` (exit 130) well
within the two seconds the README promises. Its whole life is bounded by one deadline, past
which it raises TimeoutError.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from .errors import Interrupted

if TYPE_CHECKING:
    from .target import Address

__all__ = ["PRE_RUN_TIMEOUT_S", "PreRunConnection"]

PRE_RUN_TIMEOUT_S = 5.0
SLICE_S = 0.1
T = TypeVar("T")


class PreRunConnection:
    """Connected on entry, closed on exit; ``send``, ``recv`` and ``start_tls`` wait as the module says."""

    sock: socket.socket
    deadline: float

    def __init__(self, address: Address, stop: threading.Event | None, timeout: float = PRE_RUN_TIMEOUT_S) -> None:
        self.address = address
        self.stop = stop
        self.timeout = timeout

    def __enter__(self) -> PreRunConnection:
        """Connected (an OSError when it cannot be, as a blocking connect's)."""
        self.deadline = time.monotonic() + self.timeout
        self.sock = socket.socket(self.address.family, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        try:
            self._connect()
        except BaseException:
            self.sock.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def _connect(self) -> None:
        address = self.address
        code = self.sock.connect_ex(address.host if address.family == socket.AF_UNIX else (address.host, address.port))
        if code == errno.EINPROGRESS:  # (a Unix socket's EAGAIN is a full backlog: refused, as below)
            self._wait(select.POLLOUT)
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code))

    def start_tls(self, context: ssl.SSLContext, server_name: str | None) -> ssl.SSLSocket:
        """The handshake done; the connection goes on over TLS."""
        tls = context.wrap_socket(self.sock, server_hostname=server_name, do_handshake_on_connect=False)
        self.sock = tls
        self._patiently(tls.do_handshake, select.POLLIN)
        return tls

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._patiently(partial(self.sock.send, view), select.POLLOUT) :]

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes, as soon as some come (b"": the server closed)."""
        return self._patiently(partial(self.sock.recv, size), select.POLLIN)

    def _patiently(self, step: Callable[[], T], ready: int) -> T:
        """``step`` tried again each time the socket is ready for what it waits for (TLS may
        want to read when writing and to write when reading)."""
        while True:
            try:
                return step()
            except ssl.SSLWantWriteError:
                self._wait(select.POLLOUT)
            except ssl.SSLWantReadError:
                self._wait(select.POLLIN)
            except BlockingIOError:
                self._wait(ready)

    def _wait(self, event: int) -> None:
        poller = select.poll()
        poller.register(self.sock, event)
        while True:
            if self.stop is not None and self.stop.is_set():
                raise Interrupted()
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(errno.ETIMEDOUT, os.strerror(errno.ETIMEDOUT))
            if poller.poll(min(left, SLICE_S) * 1000):
                return
