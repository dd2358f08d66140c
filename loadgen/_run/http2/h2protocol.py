"""An HTTP/2 session on an asyncio transport: the session's frames written once per read (or
once per event-loop turn when the owner sends from outside a read), and the transport's end
turned into the session's.
"""

from __future__ import annotations

import asyncio

from ...measurement import ErrorKind, ErrorReason, Stage
from ..protocols import error_name
from .alpn import H2, negotiated
from .frames import MAX_WINDOW
from .session import H2Exchange, Session, SessionOwner

__all__ = ["ALPN_REFUSED", "H2Connection"]

ALPN_REFUSED = "h2 not accepted"  # ErrorReason.cause when a TLS server chose another protocol


class H2Connection(Session, asyncio.Protocol):
    """One HTTP/2 connection owned by a worker."""

    def __init__(self, owner: SessionOwner, exchange: H2Exchange, window: int = MAX_WINDOW) -> None:
        super().__init__(owner, exchange, window)
        self.transport: asyncio.Transport | None = None
        self._flush_due = False

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.closed:  # its owner let it go while it was being made (the run ended): never used
            self.abort()
            return
        chosen = negotiated(transport)
        if transport.get_extra_info("ssl_object") is not None and chosen != H2:
            detail = f"the server chose {chosen}" if chosen else "the server chose no protocol by ALPN"
            self.owner.connection_failed(self, ErrorReason(ErrorKind.CONNECT, Stage.TLS, ALPN_REFUSED, detail))
            self.abort()
            return
        self.start()
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.receive(data)
        if self.out:
            self._flush()

    def eof_received(self) -> bool:
        self.ended()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None:
            self.ended()
        else:
            kind = ErrorKind.WRITE if isinstance(exc, BrokenPipeError) else ErrorKind.READ
            self.ended(ErrorReason(kind, Stage.EXCHANGE, error_name(exc)))

    # -- Session's transport hooks -----------------------------------------------------------------

    def flush_soon(self) -> None:
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        out = self.out
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))
        out.clear()

    def close(self) -> None:
        super().close()  # closed first: a TLS transport may report the server's EOF within close()
        if self.transport is not None and not self.transport.is_closing():
            self._flush()
            self.transport.close()

    def abort(self) -> None:
        super().abort()
        if self.transport is not None and not self.transport.is_closing():
            self._flush()
            self.transport.abort()
