"""One client connection: write a request (or a pipelined batch), time it, read the responses.

Latency runs from just before the first write of a batch to the end of its last response, as in
wrk. The closed-loop, static-request case (wrk's default) is handled inline, because this method
runs once per response and every call costs.
"""

from __future__ import annotations

import asyncio
import errno
from time import perf_counter_ns
from typing import TYPE_CHECKING

from .http1 import HttpResponseProtocol

if TYPE_CHECKING:
    from .worker import Worker


class Connection(HttpResponseProtocol):
    """A keep-alive HTTP/1.1 connection owned by a worker."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.worker = worker
        self.transport: asyncio.Transport | None = None
        self.pending = 0  # responses still expected for the batch in flight
        self.sent_ns = 0  # when the batch in flight was written
        self.intended_ns = 0  # when a paced batch was due (constant-rate mode), else 0
        self.closed = False  # closed by us: whatever the transport reports next is expected
        self.expect_no_body = worker.head_requests
        self.collect = worker.collect_responses
        self.repeatable = worker.static_closed_loop and worker.depth == 1 and not self.collect

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.worker.connection_ready(self)

    def data_received(self, data: bytes) -> None:
        if len(data) == self.repeat_len and data.startswith(self.repeat_head):
            # The previous response again, whole, in a static closed loop: wrk's default case
            # and this program's hottest path, so it is handled here without parsing.
            worker = self.worker
            self.bytes_in += self.repeat_len
            worker.complete += 1
            worker.status_counts[self.repeat_status] += 1
            now = perf_counter_ns()
            latency = (now - self.sent_ns) // 1000
            if latency > worker.timeout_us:
                worker.timeouts += 1
            else:
                worker.latency[latency] += 1
            self.sent_ns = now
            self.transport.write(worker.request)
            return
        HttpResponseProtocol.data_received(self, data)

    def send(self, data: bytes, depth: int, intended_ns: int = 0) -> None:
        self.pending = depth
        self.intended_ns = intended_ns
        self.sent_ns = perf_counter_ns()
        self.transport.write(data)

    def response_complete(self, status: int, keep_alive: bool) -> bool:
        worker = self.worker
        worker.complete += 1
        worker.status_counts[status] += 1
        if worker.response_hook is not None:
            worker.call_response_hook(self, status)
        self.pending -= 1
        if self.pending == 0:
            now = perf_counter_ns()
            if self.intended_ns:
                worker.record_paced(now, self)
            else:
                latency = (now - self.sent_ns) // 1000
                if latency > worker.timeout_us:
                    worker.timeouts += 1
                else:
                    worker.latency[latency] += 1
            if keep_alive:
                if worker.static_closed_loop:
                    self.pending = worker.depth
                    self.sent_ns = now
                    self.transport.write(worker.request)
                else:
                    worker.batch_done(self)
                return True
        elif keep_alive:
            return True
        worker.replace(self, lost=self.pending)
        return False

    def parse_failed(self, reason: str) -> None:
        self.worker.connection_failed(self, "read", f"malformed response: {reason}", failure="malformed")

    def eof_received(self) -> bool:
        if self.closed:
            return False
        if not self.finish_at_eof():
            if self.in_response:
                self.worker.connection_failed(self, "read", "truncated response", failure="truncated")
            else:
                self.worker.connection_failed(self, "read", "closed by server")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        if exc is None:
            self.worker.connection_failed(self, "read", "closed by server")
        else:
            kind = "write" if isinstance(exc, BrokenPipeError) else "read"
            self.worker.connection_failed(self, kind, error_name(exc))


def error_name(exc: BaseException) -> str:
    """A short, stable name for a socket error: the errno symbol when there is one."""
    code = getattr(exc, "errno", None)
    if code is not None and code in errno.errorcode:
        return errno.errorcode[code]
    return type(exc).__name__
