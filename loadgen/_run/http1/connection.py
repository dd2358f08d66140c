"""One HTTP/1.1 client connection: write a request (or a pipelined batch), time it, read the responses.

Latency runs from just before the first write of a batch to the end of its last response, as in
wrk. A connection records straight into its owner's :class:`~loadgen.measurement.Tally` (as
wrk's connections write into their thread's counters) and tells its owner, through the small
:class:`~loadgen._run.protocols.Owner` interface, only what the owner must decide: a connection
is ready, a batch is done, a response arrived for the script, the connection failed or was
closed. The static closed loop (wrk's default) writes the next request itself, because this code
runs once per response and every call costs.

A connection also keeps its own account (responses, when it opened, when its first response
came), which its owner adds to the tally once, when the connection is done. The fast path counts
its responses in ``repeats`` instead of adding their bytes, at the same cost: both are folded in
before the parser runs again (the only place the repeated response can change).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from time import perf_counter_ns

from ...measurement import (
    CLOSED_BY_SERVER,
    CLOSED_WHILE_IDLE,
    MALFORMED,
    NONE_LOST,
    TRUNCATED,
    ErrorKind,
    ErrorReason,
    Stage,
)
from ..protocols import Owner, error_name
from .responseparser import HttpResponseProtocol
from .rfc9112 import parse_header_fields

__all__ = ["Connection", "Exchange"]

# RFC 9112 (9.2): bytes that came while no request was outstanding are not a response, and after
# them no response on the connection can be matched to its request
UNSOLICITED = "a response to no request: the server sent more responses than it was sent requests"
PAST_THE_END = (
    " after the end of a response, before the next request (a body longer than its Content-Length, or one"
    " after a 204, a 304 or a response to HEAD)"
)

# The response that a repeatable connection of this process parsed whole last, its head and its
# status, by whether the requests were HEAD (the same bytes mean another thing then)
_latest: dict[bool, tuple[bytes, bytes, int]] = {}


@dataclass(frozen=True)
class Exchange:
    """What every connection of a worker sends, and what it does when a batch completes."""

    request: bytes  # the static request (or pipelined batch)
    depth: int  # requests in a batch
    head_requests: bool  # every request of the batch is HEAD: responses carry no body
    repeat: bool  # static closed loop: write ``request`` again as soon as a batch completes
    collect: bool  # keep each response's head and body for the owner (a script's response())


class Connection(HttpResponseProtocol):
    """A keep-alive HTTP/1.1 connection owned by a worker."""

    capacity = 1  # one request (or pipelined batch) in flight
    goaways = pings = window_blocked = 0  # HTTP/2 counts, never HTTP/1.1's
    stream_limit = None  # HTTP/2's, never HTTP/1.1's
    __slots__ = (
        "closed",
        "depth",
        "first_read_ns",
        "first_response_ns",
        "intended_ns",
        "opened_ns",
        "owner",
        "parsed",
        "pending",
        "previous_tally",
        "read_ns",
        "repeat",
        "repeats",
        "request",
        "sent_ns",
        "take_due",
        "tally",
        "transport",
    )

    def __init__(self, owner: Owner, exchange: Exchange) -> None:
        super().__init__()
        self.owner = owner
        self.tally = self.previous_tally = owner.tally
        self.take_due = owner.take_due
        self.request = exchange.request
        self.depth = exchange.depth
        self.repeat = exchange.repeat
        self.expect_no_body = exchange.head_requests
        self.collect = exchange.collect
        self.repeatable = exchange.depth == 1 and not exchange.collect
        self.transport: asyncio.Transport | None = None
        self.pending = 0  # responses still expected for the batch in flight
        self.sent_ns = 0  # when the batch in flight was written
        self.intended_ns = 0  # when a paced batch was due (constant-rate mode), else 0
        self.first_read_ns = 0  # when the batch in flight got its first bytes, if not on the fast path
        self.read_ns = 0  # when the read being parsed arrived
        self.closed = False  # closed by us: whatever the transport reports next is expected
        self.opened_ns = 0  # when it was established
        self.first_response_ns = 0  # when its first response completed
        self.parsed = 0  # responses the parser completed
        self.repeats = 0  # responses the fast path recognised since the parser last ran

    @property
    def responses(self) -> int:
        return self.parsed + self.repeats

    @property
    def in_flight(self) -> int:
        return self.pending

    @property
    def responses_begun(self) -> int:
        return int(self.pending > 0 and self.in_response)

    @property
    def waiting_since_ns(self) -> int:
        return self.sent_ns if self.pending else 0

    @property
    def bytes_read(self) -> int:
        """Every byte of every response so far (the fast path's are counted as ``repeats``)."""
        return self.bytes_in + self.repeats * self.repeat_len

    # -- what the owner does -------------------------------------------------------------------

    def lost_due(self) -> list[int]:
        return [self.intended_ns] if self.intended_ns and self.pending else []

    def send(self, request: bytes | None = None, intended_ns: int = 0) -> bool:
        """The owner sends only on a connection it knows is open (here, runs once per response when paced)."""
        self.pending = self.depth
        self.intended_ns = intended_ns
        self.sent_ns = perf_counter_ns()
        self.transport.write(request or self.request)  # type: ignore[union-attr]
        return True

    def close(self) -> None:
        self.closed = True
        self.transport.close()  # type: ignore[union-attr]

    def abort(self) -> None:
        self.closed = True
        self.transport.abort()  # type: ignore[union-attr]

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.owner.connection_ready(self)

    def data_received(self, data: bytes) -> None:
        # the same bytes again (a static response, until the server's Date changes), or the same head
        # and length: the equality costs a fifth of the method call, which parses its arguments each time
        if data == self.repeat_data or (len(data) == self.repeat_len and data.startswith(self.repeat_head)):
            # The previous response again, whole: recognised without parsing. In a static
            # closed loop (wrk's default case and this program's hottest path) the next request
            # is written right here, and one is always outstanding; in the other modes the owner
            # decides what comes next, and a response to no request is left to the parser, which
            # refuses it.
            now = perf_counter_ns()
            if self.repeat:
                self.repeats += 1
                self.tally.record(self.repeat_status, (now - self.sent_ns) // 1000)
                self.sent_ns = now
                self.transport.write(self.request)  # type: ignore[union-attr]
                return
            if self.pending:
                self.repeats += 1
                intended = self.intended_ns  # a batch of one here (repeatable): _record's first or third case
                if intended:
                    self.tally.record_paced(self.repeat_status, (now - intended) // 1000, (now - self.sent_ns) // 1000)
                    take_due = self.take_due
                    if take_due is not None:  # a static constant rate: the next due batch, written here
                        due = take_due(now)
                        if due:
                            self.intended_ns = due
                            self.sent_ns = now
                            self.transport.write(self.request)  # type: ignore[union-attr]
                            return
                else:
                    self.tally.record(self.repeat_status, (now - self.sent_ns) // 1000)
                self.pending = 0
                self.owner.batch_done(self)
                return
        if self.repeats:  # the parser may change repeat_len: fold the repeats in first
            self.parsed += self.repeats
            self.bytes_in += self.repeats * self.repeat_len
            self.repeats = 0
        if self.pending and (self.repeat_len >= 0 or (self.repeatable and not self.bytes_in and not self.parsed)):
            # Between responses, one asked for: the last read was one whole response, or none has come yet
            latest = _latest.get(self.expect_no_body)
            if latest is not None and data == latest[0]:
                # The response another connection of this process parsed whole last, again: the
                # parser's verdict on these bytes is the one it gave there (the server's Date
                # changed, and every connection meets the new head in turn; at 10,000
                # connections each one's first response). Repeated from now on.
                if not self.parsed:  # its first response: when it came, as the parser notes it
                    self.first_response_ns = perf_counter_ns()
                self.repeat_head, self.repeat_len, self.repeat_status = latest[1], len(data), latest[2]
                self.repeat_data = data
                self.data_received(data)
                return
        self.read_ns = perf_counter_ns()
        if not self.first_read_ns:
            self.first_read_ns = self.read_ns
        HttpResponseProtocol.data_received(self, data)
        if self.repeat_len >= 0:  # one whole response, repeatable: the next connections to meet it need no parse
            _latest[self.expect_no_body] = (data, self.repeat_head, self.repeat_status)

    def response_complete(self, status: int, keep_alive: bool) -> bool:
        if not self.pending or self.read_ns < self.sent_ns:  # it came before its request was written
            reason = ErrorReason(ErrorKind.READ, Stage.EXCHANGE, MALFORMED, self._lost(UNSOLICITED))
            self._fail(reason, self._came_early())
            return False
        tally = self.tally
        self.pending -= 1
        self.parsed += 1
        if self.parsed == 1:
            self.first_response_ns = self.read_ns
        if self.collect:
            self.owner.response_received(status, parse_header_fields(self.head), b"".join(self.body_parts))
            if self.closed:  # the script stopped the run
                tally.count_response(status)
                return False
        if self.pending:
            tally.count_response(status)
            if keep_alive:
                return True
            self.owner.connection_closed(self, self.pending)
            return False
        now = perf_counter_ns()
        self._record(status, now)
        if self.first_read_ns != self.read_ns:  # the response came in several reads
            tally.record_split((now - self.sent_ns) // 1000, (self.first_read_ns - self.sent_ns) // 1000)
        self.first_read_ns = 0
        if not keep_alive:
            self.owner.connection_closed(self, 0)
            return False
        if self.repeat:
            self.pending = self.depth
            self.sent_ns = now
            self.transport.write(self.request)  # type: ignore[union-attr]
        else:
            self.owner.batch_done(self)
        return True

    def _record(self, status: int, now: int) -> None:
        """The last response of a batch: count it and the batch's latency (from its intended send
        time and from its write in constant-rate mode)."""
        tally = self.tally
        if self.intended_ns and self.depth == 1:
            tally.record_paced(status, (now - self.intended_ns) // 1000, (now - self.sent_ns) // 1000)
        elif self.intended_ns:
            tally.count_response(status)
            tally.record_batch((now - self.intended_ns) // 1000, (now - self.sent_ns) // 1000)
        elif self.depth == 1:
            tally.record(status, (now - self.sent_ns) // 1000)
        else:
            tally.count_response(status)
            tally.record_batch((now - self.sent_ns) // 1000)

    def parse_failed(self, reason: str) -> None:
        early = self._came_early()
        if early or not self.pending:  # bytes that came with no request outstanding
            reason = self._lost(reason + PAST_THE_END)
        self._fail(ErrorReason(ErrorKind.READ, Stage.EXCHANGE, MALFORMED, reason), early)

    def eof_received(self) -> bool:
        if not self.closed and not self.finish_at_eof():
            cause = TRUNCATED if self.in_response else CLOSED_BY_SERVER if self.pending else CLOSED_WHILE_IDLE
            self._fail(ErrorReason(ErrorKind.READ, Stage.EXCHANGE, cause), self.in_response and self._came_early())
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None:  # the end with no EOF before it (TLS closed by a server without close_notify) is
            self.eof_received()  # that EOF: was "closed by server" even when idle, a body to the close lost
        elif self.in_response:  # a reset in the middle of a response cuts it short, as a close does
            self._fail(ErrorReason(ErrorKind.READ, Stage.EXCHANGE, TRUNCATED, error_name(exc)), self._came_early())
        else:
            kind = ErrorKind.WRITE if isinstance(exc, BrokenPipeError) else ErrorKind.READ
            self._fail(ErrorReason(kind, Stage.EXCHANGE, error_name(exc)))

    def _lost(self, detail: str) -> str:
        """A malformed response's detail, said to have cost no request when none was in flight (an
        idle connection, with -R): such an error is not a request that ended (README, --fail-on errors)."""
        return detail if self.pending else detail + NONE_LOST

    def _came_early(self) -> bool:
        """The bytes read last came before the request in flight was written: they followed the
        response to the one before it, and are that one's fault (--targets: its target's error)."""
        return self.pending > 0 and self.read_ns < self.sent_ns

    def _fail(self, reason: ErrorReason, came_early: bool = False) -> None:
        """The connection failed: counted against the target whose response was at fault, which is
        the previous request's when the bytes at fault came before the request in flight was written."""
        if not self.closed:
            if came_early:
                self.tally = self.previous_tally
            self.owner.connection_failed(self, reason)
