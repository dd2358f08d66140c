"""The client side of one HTTP/2 connection, without I/O: bytes in, frames out, and what happened
recorded into the owner's tally, as loadgen's HTTP/1.1 connections do.

The session writes the connection preface with its SETTINGS (push disabled, the largest windows
announced at once), waits for the server's SETTINGS before it tells its owner the connection is
ready, and then opens streams: up to ``min(streams asked, the server's MAX_CONCURRENT_STREAMS)``
at a time. Each stream's latency runs from the write of its first HEADERS frame to the frame
that ends the response (END_STREAM). In the static closed loop a finished stream opens the next
one right there, as the HTTP/1.1 connection re-sends in ``data_received``, and a response that
is the one before again, all but its stream id, is recognised by its bytes (``_same_responses``,
as HTTP/1.1's fast path recognises a read equal to the previous response).

What the peer does wrong is never a crash: a connection error (a frame that breaks the rules,
a field block that cannot be decoded) sends GOAWAY with its code and fails the connection with
a reason; a stream error (a malformed response, a flow-control breach on one stream) resets that
stream and counts one error; a stream the server resets counts one error named by its code.
A GOAWAY stops new streams: the streams above its last stream id were never processed, so they
are handed back to the owner as lost (never counted), and the owner replaces the connection at
once, while the streams below end on it (RFC 9113 6.8 lets them complete, as h2load does) until
they have, or --timeout passes (then they are asked again). One with an error code counts one
error, and the connection's end, whenever the server closes it, was announced.

Frames to send are gathered in ``out``; the subclass that owns the transport writes them at once
at the end of each read (and once per event-loop turn for sends from outside a read).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Protocol

from ...measurement import (
    CLOSED_BY_SERVER,
    CLOSED_WHILE_IDLE,
    GOAWAY_CAUSE,
    MALFORMED,
    STREAM_RESET,
    TRUNCATED,
    ErrorKind,
    ErrorReason,
    Stage,
    Tally,
)
from .framereader import FrameReader
from .frames import (
    DATA,
    DEFAULT_FRAME_SIZE,
    DEFAULT_WINDOW,
    ENABLE_PUSH,
    END_HEADERS,
    END_STREAM,
    FRAME_HEADER,
    HEADER_TABLE_SIZE,
    HEADERS,
    INITIAL_WINDOW_SIZE,
    MAX_CONCURRENT_STREAMS,
    MAX_FRAME_SIZE,
    MAX_HEADER_LIST_SIZE,
    MAX_WINDOW,
    PREFACE,
    SETTINGS,
    ErrorCode,
    H2ConnectionError,
    error_name,
    goaway_frame,
    header_frames,
    ping_frame,
    rst_stream_frame,
    settings_frame,
    window_update_frame,
)
from .hpack import MAX_HEADER_LIST, SIZE_UPDATE_TO_ZERO, Decoder, HpackError
from .requestblock import EncodedRequest
from .responsehead import ResponseHead, ResponseHeads

__all__ = ["GOAWAY_CAUSE", "STREAM_RESET", "H2Exchange", "Session", "SessionOwner"]

MAX_STREAM_ID = 2**31 - 1
SETTINGS_ACK = settings_frame(ack=True)
_KEPT_RESETS = 1024  # stream ids remembered after a reset, to tell late frames from wrong ones
_NO_UNPACK = struct.Struct("").unpack_from


@dataclass(frozen=True)
class H2Exchange:
    """What every stream of a worker's connections sends, and what happens when one ends."""

    request: EncodedRequest
    streams: int  # -m: concurrent streams wanted per connection
    repeat: bool  # static closed loop: a finished stream opens the next at once
    collect: bool  # hand each response's fields and content to the owner (a script's response())

    @property
    def depth(self) -> int:
        """Responses that complete one send: a stream's one."""
        return 1


class SessionOwner(Protocol):
    """What a session needs from the worker that owns it: the names of loadgen's HTTP/1.1
    :class:`~loadgen._run.protocols.Owner`, per stream where HTTP/1.1 says per batch."""

    tally: Tally

    def connection_ready(self, conn: Session) -> None: ...

    def batch_done(self, conn: Session) -> None: ...

    def response_received(self, status: int, headers: dict[str, str], body: bytes) -> None: ...

    def connection_failed(self, conn: Session, reason: ErrorReason) -> None: ...

    def connection_closed(self, conn: Session, lost: int) -> None: ...

    def connection_replaced(self, conn: Session, lost: int) -> None: ...

    def stream_drained(self, conn: Session) -> None: ...

    def slots_withdrawn(self, conn: Session) -> None: ...

    def stream_lost(self, conn: Session, intended_ns: int) -> None: ...


def script_headers(fields: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """A response's fields as a script's ``response()`` gets HTTP/1.1's: name -> value (a repeated
    name keeps the last), without the pseudo-header fields (the status is given apart)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in fields if not name.startswith(b":")}


class Stream:
    """One request and its response, while the stream is open."""

    __slots__ = (
        "content",
        "expected",
        "fields",
        "first_ns",
        "id",
        "intended_ns",
        "parts",
        "request",
        "send_window",
        "sent_ns",
        "status",
        "unsent",
        "window",
    )

    def __init__(
        self, stream_id: int, request: EncodedRequest, sent_ns: int, intended_ns: int, window: int, send_window: int
    ) -> None:
        self.id = stream_id
        self.request = request
        self.sent_ns = sent_ns
        self.intended_ns = intended_ns  # when a paced request was due (constant-rate mode), else 0
        self.first_ns = 0  # the read that brought the response's head
        self.status = 0  # the final status, once its head arrived
        self.content = 0  # content bytes received
        self.expected = -1  # the content-length to check at the end, or -1
        self.window = window  # ours: what the server may still send on this stream
        self.send_window = send_window  # the server's: what this side may still send
        self.unsent = len(request.body)  # request content not sent yet
        self.fields: list[tuple[bytes, bytes]] = []  # the response's fields, when collecting
        self.parts: list[bytes] = []  # its content, when collecting


class Session(FrameReader):
    """One HTTP/2 connection's protocol state; ``window`` is the receive window announced for the
    connection and each stream (the largest by default; the tests use HTTP/2's default too)."""

    def __init__(self, owner: SessionOwner, exchange: H2Exchange, window: int = MAX_WINDOW) -> None:
        super().__init__()
        self.owner = owner
        self.tally = owner.tally
        self.exchange = exchange
        self.repeat = exchange.repeat
        self.collect = self.wants_content = exchange.collect
        self.streams: dict[int, Stream] = {}
        self.next_id = 1
        self.capacity = 0  # streams that may be open at once: min(asked, the server's limit)
        self.server_limit: int | None = None  # the server's MAX_CONCURRENT_STREAMS, if it set one
        self.stream_limit: int | None = None  # that limit, when it capped the streams asked at the start
        self.out: list[bytes | memoryview] = []  # frames to write
        self.bytes_in = 0
        self.read_ns = 0  # when the read being handled arrived
        self.ready = False  # the server's SETTINGS arrived
        self.closed = False  # closed by this side: whatever the transport reports next is expected
        self.goaway_last: int | None = None  # the server's last stream id, once it sent GOAWAY
        self.goaways = 0
        self.replaced = False  # after a GOAWAY: the owner opened a new connection in its place, the streams below end
        self.goaway_counted = False  # a GOAWAY with an error code was counted: the connection's end is announced
        self.pings = 0
        self.lost_intended: list[int] = []  # streams never processed (intended times, 0 if unpaced)
        self.pending = 0  # streams lost when the connection failed (the owner reads it)
        # The connection's own account, as HTTP/1.1's (the owner sets opened_ns when it is ready)
        self.responses = 0
        self.opened_ns = 0
        self.first_response_ns = 0  # when its first response ended
        self.sent_ns = 0  # when its first stream opened
        self.resets: dict[int, bool] = {}  # recently reset streams -> reset by the server
        # Flow control: ours to receive (announced) and the server's to send into
        self.window = window
        self.window_low = window // 2  # a WINDOW_UPDATE once a window is down to this
        self.recv_window = window
        self.send_window = DEFAULT_WINDOW
        self.peer_window = DEFAULT_WINDOW  # the server's SETTINGS_INITIAL_WINDOW_SIZE
        self.peer_frame_size = DEFAULT_FRAME_SIZE
        self.blocked: list[Stream] = []  # streams with content waiting for window
        self.answered_early: set[int] = set()  # streams whose response ended before their request's content
        self.heads = ResponseHeads(Decoder())
        self.table_update_due = False  # the server lowered its table size: say so in every block
        self.inserted = False  # the static request's fields are in the server's dynamic table
        self._receiving = False
        self._repeating = exchange.repeat  # the static loop goes on: no GOAWAY, not closed, ids left
        self._set_request(exchange.request)
        # The response the static loop's fast path recognises (see _same_responses), once learned
        self._same_head: ResponseHead | None = None
        self._same_front = b""  # its HEADERS frame's header up to the stream id
        self._same_middle = b""  # its field block and its DATA frame's header up to the stream id
        self._same_size = 0  # both frames' bytes
        self._same_largest = 0  # the larger frame's payload, to check against max_frame_size
        self._same_unpack = _NO_UNPACK

    def _set_request(self, request: EncodedRequest) -> None:
        """The static request's HEADERS frame as one ``struct`` packing, for the fast path (once
        its first stream has inserted its fields into the server's table)."""
        if self.table_update_due:
            block = SIZE_UPDATE_TO_ZERO + request.block
        else:
            block = request.indexed if self.inserted else request.inserting
        fits = len(block) <= self.peer_frame_size and (self.inserted or self.table_update_due)
        self._fast_request = request if fits else None
        # the static loop may reopen a finished stream's object: nothing of it outlives the response
        self._reuse = self._fast_request is not None and not request.body and not self.collect
        self._pack_headers = struct.Struct(f">IBI{len(block)}s").pack
        self._headers_type = len(block) << 8 | HEADERS
        self._headers_flags = END_HEADERS | (0 if request.body else END_STREAM)
        self._request_block = block

    # -- what the transport's owner calls -----------------------------------------------------

    def start(self) -> None:
        """The client preface, this side's SETTINGS and the connection window opened wide."""
        settings = [(ENABLE_PUSH, 0), (MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST)]
        if self.window != DEFAULT_WINDOW:
            settings.append((INITIAL_WINDOW_SIZE, self.window))
        self.out.append(PREFACE + settings_frame(settings))
        if self.window > DEFAULT_WINDOW:
            self.out.append(window_update_frame(0, self.window - DEFAULT_WINDOW))

    def receive(self, data: bytes) -> None:
        """Bytes from the server."""
        if self.closed:
            return
        self.bytes_in += len(data)
        self.read_ns = perf_counter_ns()
        self._receiving = True
        try:
            if not self.ready:
                self._check_server_preface(data)
            self.feed(data)
        except H2ConnectionError as exc:
            self._connection_error(exc.code, exc.reason)
        except HpackError as exc:
            self._connection_error(ErrorCode.COMPRESSION_ERROR, str(exc))
        finally:
            self._receiving = False

    def ended(self, error: ErrorReason | None = None) -> None:
        """The server closed the connection (EOF), or the transport failed with ``error``."""
        if self.closed:
            return
        if self.goaway_counted or (error is None and self.draining and not self.streams):
            self._finish()  # after a GOAWAY with an error code its end was announced (and counted)
            return
        if self.in_frame or any(stream.status for stream in self.streams.values()):
            # cut short, by a close or a reset (its errno the detail): truncated, as over HTTP/1.1
            reason = ErrorReason(ErrorKind.READ, Stage.EXCHANGE, TRUNCATED, error.cause if error else "")
        elif error is not None:
            reason = error
        else:  # with no stream open (-R, delay()) no request was lost: as over HTTP/1.1
            cause = CLOSED_BY_SERVER if self.streams else CLOSED_WHILE_IDLE
            reason = ErrorReason(ErrorKind.READ, Stage.EXCHANGE, cause)
        self._fail(reason)

    def give_up(self) -> None:
        """The streams left after a GOAWAY with an error code outlasted --timeout: they join the
        lost ones and the connection closes (its owner's timer)."""
        self._finish()

    def send(self, request: EncodedRequest | None = None, intended_ns: int = 0) -> bool:
        """Open one stream for ``request`` (the exchange's by default); ``intended_ns``: when a
        paced request was due. After a GOAWAY the request joins the lost ones, handed back by
        ``connection_closed``; on a closed connection it is refused (False): it stays the owner's."""
        if self.closed:
            return False
        if self.draining:
            self.lost_intended.append(intended_ns)
            return True
        self._open(request or self.exchange.request, perf_counter_ns(), intended_ns)
        if not self._receiving:
            self.flush_soon()
        return True

    # -- what the transport's owner implements --------------------------------------------------

    def flush_soon(self) -> None:
        """Write ``out`` before the event loop's next turn (frames queued outside a read)."""

    def close(self) -> None:
        """Close the transport after writing ``out`` (the subclass, then this)."""
        self.closed = True
        self._repeating = False

    def abort(self) -> None:
        """Close the transport now (the subclass, then this)."""
        self.closed = True
        self._repeating = False

    # -- streams -------------------------------------------------------------------------------

    @property
    def bytes_read(self) -> int:
        return self.bytes_in

    @property
    def in_flight(self) -> int:
        return len(self.streams)

    @property
    def responses_begun(self) -> int:
        return sum(1 for stream in self.streams.values() if stream.status)

    @property
    def window_blocked(self) -> int:
        return sum(1 for stream in self.blocked if stream.id in self.streams)

    @property
    def waiting_since_ns(self) -> int:
        return min((stream.sent_ns for stream in self.streams.values()), default=0)

    def lost_due(self) -> list[int]:
        """The intended send times of the streams lost or never processed (0: unpaced)."""
        return self.lost_intended

    def _open(self, request: EncodedRequest, now: int, intended_ns: int = 0) -> None:
        if not self.sent_ns:
            self.sent_ns = now
        stream_id = self.next_id
        self.next_id = stream_id + 2
        if stream_id == MAX_STREAM_ID:
            self._repeating = False
        stream = Stream(stream_id, request, now, intended_ns, self.window, self.peer_window)
        self.streams[stream_id] = stream
        if request is self._fast_request:
            self.out.append(self._pack_headers(self._headers_type, self._headers_flags, stream_id, self._request_block))
        else:
            self._write_headers(stream)
        if request.body:
            self._send_content(stream)

    def _write_headers(self, stream: Stream) -> None:
        """A HEADERS frame (and CONTINUATION frames) off the fast path, with the field block that
        the server's table allows (see requestblock.py)."""
        request = stream.request
        if self.table_update_due:
            block = SIZE_UPDATE_TO_ZERO + request.block
        elif request is not self.exchange.request:
            block = request.block
        elif self.inserted:
            block = request.indexed
        else:
            block = request.inserting
            self.inserted = True
            self._set_request(request)
        self.out.append(header_frames(stream.id, block, not request.body, self.peer_frame_size))

    def _send_content(self, stream: Stream) -> None:
        """As much of the request's content as both windows allow; the rest when they open."""
        body = stream.request.body
        sent = len(body) - stream.unsent
        out = self.out
        while sent < len(body):
            size = min(len(body) - sent, self.send_window, stream.send_window, self.peer_frame_size)
            if size <= 0:
                if stream not in self.blocked:
                    self.blocked.append(stream)
                break
            last = sent + size == len(body)
            out.append(FRAME_HEADER.pack(size << 8 | DATA, END_STREAM if last else 0, stream.id))
            out.append(memoryview(body)[sent : sent + size])
            sent += size
            self.send_window -= size
            stream.send_window -= size
        stream.unsent = len(body) - sent
        if not stream.unsent and self.answered_early:
            self._content_sent(stream)

    def _content_sent(self, stream: Stream) -> None:
        """A request's content is all sent: a response that came before it is done now."""
        if stream.id in self.answered_early:
            self.answered_early.discard(stream.id)
            self._complete(stream)

    def _complete(self, stream: Stream) -> None:
        """The response ended: check its length, record it, and free its slot. A response that
        ended before the request's content was all sent waits for the rest to go (RFC 9113 §8.1,
        as h2load): a reset at once sent 64 KiB of a 1 MB body and counted it done."""
        stream_id = stream.id
        streams = self.streams
        if stream.expected >= 0 and stream.expected != stream.content:
            self._malformed(stream, f"content-length {stream.expected} but {stream.content} bytes of content")
            return
        if stream.unsent:
            self.answered_early.add(stream_id)
            return
        del streams[stream_id]
        now = self.read_ns
        status = stream.status
        sent = stream.sent_ns
        if not self.responses:
            self.first_response_ns = now
        self.responses += 1
        if self.collect:
            self.owner.response_received(status, script_headers(stream.fields), b"".join(stream.parts))
            if self.closed:  # the script stopped the run: its histograms are closed
                self.tally.count_response(status)
                return
        if stream.intended_ns:
            self.tally.record_paced(status, (now - stream.intended_ns) // 1000, (now - sent) // 1000)
        else:
            self.tally.record(status, (now - sent) // 1000)
        if stream.first_ns != now:  # the head came in an earlier read than the end
            self.tally.record_split((now - sent) // 1000, (stream.first_ns - sent) // 1000)
        if not (self._repeating and len(streams) < self.capacity):
            self._slot_free(now)
        elif self._reuse:  # the static loop's next stream, at once, in this one's object
            stream_id = self.next_id
            self.next_id = stream_id + 2
            if stream_id == MAX_STREAM_ID:
                self._repeating = False
            stream.id = stream_id
            stream.sent_ns = now
            stream.first_ns = stream.status = stream.content = 0
            stream.expected = -1
            stream.window = self.window
            stream.send_window = self.peer_window
            streams[stream_id] = stream
            self.out.append(self._pack_headers(self._headers_type, self._headers_flags, stream_id, self._request_block))
        else:
            self._open(self.exchange.request, now)

    @property
    def draining(self) -> bool:
        """No new stream will open: the server sent GOAWAY, or the stream ids ran out."""
        return self.goaway_last is not None or self.next_id > MAX_STREAM_ID

    def _slot_free(self, now: int) -> None:
        """A stream ended: the static loop opens the next, else the owner decides."""
        if self.closed:
            return
        if self.draining:
            if not self.repeat:  # no new stream here: the -n quota may be answered all the same
                self.owner.stream_drained(self)
            if not self.streams:
                self._finish()
        elif self.repeat:
            if len(self.streams) < self.capacity:
                self._open(self.exchange.request, now)
        elif len(self.streams) < self.capacity:  # the server may have lowered its limit (RFC 9113 5.1.2)
            self.owner.batch_done(self)

    def _malformed(self, stream: Stream, problem: str, code: int = ErrorCode.PROTOCOL_ERROR) -> None:
        """A stream error of this side's making: reset the stream with the error's ``code`` (RFC 9113
        names it: FLOW_CONTROL_ERROR for a window breached, FRAME_SIZE_ERROR for a PRIORITY frame's
        length), count one malformed response."""
        del self.streams[stream.id]
        self.tally.count_error(ErrorReason(ErrorKind.READ, Stage.EXCHANGE, MALFORMED, problem))
        self._reset(stream.id, code)
        self._lost(stream)

    def _reset(self, stream_id: int, code: int) -> None:
        self.out.append(rst_stream_frame(stream_id, code))
        self._remember_reset(stream_id, by_server=False)

    def _remember_reset(self, stream_id: int, by_server: bool) -> None:
        resets = self.resets
        resets[stream_id] = by_server
        if len(resets) > _KEPT_RESETS:
            del resets[next(iter(resets))]

    def _check_opened(self, stream_id: int, what: str) -> None:
        """A frame on a stream this side never opened, still idle (an even one: push is disabled),
        is a connection error (§5.1, §6.4 for RST_STREAM)."""
        if stream_id % 2 == 0:
            raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, f"{what} on an even stream, which no one opened")
        if stream_id >= self.next_id:
            raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, f"{what} on an idle stream (above the last one opened)")

    def _unknown_stream(self, stream_id: int, what: str, closing_frame: bool) -> None:
        """A frame for a stream that is not open. Frames still in flight when this side reset a
        stream are dropped; anything else is the server's error (§5.1)."""
        self._check_opened(stream_id, what)
        by_server = self.resets.get(stream_id)
        if by_server is None and (self.goaway_last is None or stream_id <= self.goaway_last) and closing_frame:
            raise H2ConnectionError(ErrorCode.STREAM_CLOSED, f"{what} on a stream after its END_STREAM")
        if by_server:
            self.out.append(rst_stream_frame(stream_id, ErrorCode.STREAM_CLOSED))

    # -- the static loop's fast path ------------------------------------------------------------

    def _frames(self, data: bytes, pos: int) -> None:
        """The static loop's repeated responses first (learning the read's first one when it is
        a cached response the fast path does not know yet), then the rest frame by frame."""
        if self._repeating and self._reuse and not self._block_stream and len(self.streams) <= self.capacity:
            pos = self._same_responses(data, pos)
            if pos == len(data):
                return  # nothing kept: the read ended with a response
            if self._learn(data, pos):
                pos = self._same_responses(data, pos)
        super()._frames(data, pos)

    def _same_responses(self, data: bytes, pos: int) -> int:
        """Take the responses at ``pos`` that are the learned one again, whole, on streams waiting
        for their head; where the first that is not starts. A server that answers every request
        alike (nginx's ``return 200``) sends the same HEADERS frame and DATA frame for every
        stream, all but the stream id: recognised by their bytes, each costs what the general
        path's frames would do with them (the head's insertions replayed, the connection's window
        and its WINDOW_UPDATE, the response recorded, the stream's object reused for the next
        request) without parsing them, handing them to three handlers and setting the stream's
        fields that its reuse resets. Anything else, or a response the general path would not end
        in the static loop's reuse (a paced or collected stream, content still to send, a window
        breached, the last stream id), is left to the general path from its first byte."""
        head = self._same_head
        size = self._same_size
        end = len(data)
        if (
            head is None
            or end - pos < size
            or self._same_largest > self.max_frame_size
            or (head.version >= 0 and head.version != self.heads.decoder.version)
        ):
            return pos
        unpack, front, middle = self._same_unpack, self._same_front, self._same_middle
        length, status, now = head.expected, head.status, self.read_ns
        streams, out, record = self.streams, self.out, self.tally.record
        window, low, full, peer_window = self.recv_window, self.window_low, self.window, self.peer_window
        next_id, pack, headers_type, headers_flags, block = (
            self.next_id,
            self._pack_headers,
            self._headers_type,
            self._headers_flags,
            self._request_block,
        )
        count = 0
        while end - pos >= size and next_id < MAX_STREAM_ID:
            headers, stream_id, same, again = unpack(data, pos)
            if headers != front or same != middle or again != stream_id:
                break
            # waiting for its head, a stream has the whole window, no less than the connection's: one check
            stream = streams.get(stream_id)
            if stream is None or stream.status or stream.unsent or stream.intended_ns:
                break
            if window - length < low:
                if window < length:
                    break
                out.append(window_update_frame(0, full - window + length))
                window = full + length
            window -= length
            del streams[stream_id]
            record(status, (now - stream.sent_ns) // 1000)
            stream.id = next_id
            stream.sent_ns = now
            stream.window = full
            stream.send_window = peer_window
            streams[next_id] = stream
            out.append(pack(headers_type, headers_flags, next_id, block))
            next_id += 2
            pos += size
            count += 1
        if count:
            if not self.responses:
                self.first_response_ns = now
            self.responses += count
            self.recv_window = window
            self.next_id = next_id
            if head.inserted:
                self.heads.decoder.replay(head.inserted, count)
        return pos

    def _learn(self, data: bytes, pos: int) -> bool:
        """Whether a new response for the fast path to recognise starts at ``pos``: a HEADERS
        frame with END_HEADERS alone, whose block is cached, a final head with a content-length
        (its DATA frame then is one, with END_STREAM alone, of that length, so never a content
        longer than this side's largest frame: nginx's 20 MB file crashed the worker, whose frame
        header for it could not be packed in a frame length's 24 bits)."""
        if len(data) - pos < 9:
            return False
        type_length, flags, _ = FRAME_HEADER.unpack_from(data, pos)
        size = type_length >> 8
        if type_length & 0xFF != HEADERS or flags != END_HEADERS or len(data) - pos - 9 < size:
            return False
        block = data[pos + 9 : pos + 9 + size]
        head = self.heads.cache.get(block)
        if head is None or head is self._same_head or not head.final or not 0 <= head.expected <= self.max_frame_size:
            return False
        self._same_head = head
        self._same_front = FRAME_HEADER.pack(type_length, flags, 0)[:5]
        self._same_middle = block + FRAME_HEADER.pack(head.expected << 8 | DATA, END_STREAM, 0)[:5]
        self._same_size = 18 + size + head.expected
        self._same_largest = max(size, head.expected)
        self._same_unpack = struct.Struct(f">5sI{size + 5}sI").unpack_from
        return True

    # -- frames (FrameReader's handlers) ---------------------------------------------------------

    def header_block(self, stream_id: int, flags: int, block: bytes) -> None:
        heads = self.heads
        head = heads.cache.get(block)
        if head is None or (head.version >= 0 and head.version != heads.decoder.version):
            head = heads.decode(block)  # even for a stream that is closed: the table must follow
        elif head.inserted:
            heads.decoder.replay(head.inserted)
        stream = self.streams.get(stream_id)
        if stream is None:
            self._unknown_stream(stream_id, "HEADERS", True)
        elif stream.status:
            self._trailers(stream, flags & END_STREAM, head)
        elif head.final:
            stream.status = head.status
            stream.first_ns = self.read_ns
            if head.expected >= 0 and not stream.request.no_content:
                stream.expected = head.expected
            if self.collect:
                stream.fields = head.fields or []
            if flags & END_STREAM:
                self._complete(stream)
        elif head.problem or not head.status or head.status == 101 or flags & END_STREAM:
            self._malformed(stream, self._head_problem(head))
        # else an interim (1xx) response: the final one follows

    @staticmethod
    def _head_problem(head: ResponseHead) -> str:
        if head.problem:
            return head.problem
        if not head.status:
            return "response without :status"
        if head.status == 101:
            return "status 101, which HTTP/2 does not have"
        return f"interim response {head.status} ends its stream"

    def _trailers(self, stream: Stream, end_stream: int, head: ResponseHead) -> None:
        if not end_stream:
            self._malformed(stream, "a second header block that does not end the stream")
        elif head.problem or head.status:
            self._malformed(stream, head.problem or "pseudo-header in trailers")
        else:
            self._complete(stream)

    def data_frame(self, stream_id: int, flags: int, length: int, content: int) -> None:
        window = self.recv_window - length
        if window < self.window_low:
            if window < 0:
                raise H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "DATA beyond the connection's window")
            self.out.append(window_update_frame(0, self.window - window))
            window = self.window
        self.recv_window = window
        stream = self.streams.get(stream_id)
        if stream is None:
            self._unknown_stream(stream_id, "DATA", True)
            return
        window = stream.window - length
        if window < self.window_low:
            if window < 0:
                self._malformed(stream, "DATA beyond the stream's window", ErrorCode.FLOW_CONTROL_ERROR)
                return
            if not flags & END_STREAM:  # a stream that ends needs no more window
                self.out.append(window_update_frame(stream_id, self.window - window))
                window = self.window
        stream.window = window
        if not stream.status:
            self._malformed(stream, "DATA before the response's head")
        elif content >= 0:
            stream.content += content
            if flags & END_STREAM:
                self._complete(stream)

    def data_content(self, stream_id: int, data: bytes, start: int, stop: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.parts.append(data[start:stop])

    def data_end(self, stream_id: int, flags: int, content: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        stream.content += content
        if flags & END_STREAM:
            self._complete(stream)

    def stream_error(self, stream_id: int, code: int, reason: str) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None:
            self._malformed(stream, reason, code)

    def reset_received(self, stream_id: int, code: int) -> None:
        if code == ErrorCode.NO_ERROR and stream_id in self.answered_early:  # send no more; the response stands
            answered = self.streams.get(stream_id)
            if answered is not None:
                answered.unsent = 0
                self._content_sent(answered)
                return
        stream = self.streams.pop(stream_id, None)
        if stream is None:
            self._check_opened(stream_id, "RST_STREAM")
            return
        self._remember_reset(stream_id, by_server=True)
        if stream in self.blocked:
            self.blocked.remove(stream)
        self.tally.count_error(ErrorReason(ErrorKind.READ, Stage.EXCHANGE, STREAM_RESET, error_name(code)))
        self._lost(stream)

    def _lost(self, stream: Stream) -> None:
        """A stream ended without a response: its owner may ask for the request again (-n), and
        its slot is free."""
        if not self.repeat and not self.closed:
            self.owner.stream_lost(self, stream.intended_ns)
        self._slot_free(self.read_ns)

    def settings_received(self, settings: list[tuple[int, int]]) -> None:
        opened = False
        for key, value in settings:
            if key == MAX_CONCURRENT_STREAMS:
                self.server_limit = value
            elif key == INITIAL_WINDOW_SIZE:
                delta = value - self.peer_window
                self.peer_window = value
                for stream in self.streams.values():
                    stream.send_window += delta
                    if stream.send_window > MAX_WINDOW:
                        raise H2ConnectionError(
                            ErrorCode.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE overflows a window"
                        )
                opened = delta > 0
            elif key == MAX_FRAME_SIZE:
                self.peer_frame_size = value
            elif key == HEADER_TABLE_SIZE and value < 4096:
                self.table_update_due = True
        self.out.append(SETTINGS_ACK)
        self._set_request(self.exchange.request)
        before = self.capacity
        wanted = self.exchange.streams
        self.capacity = wanted if self.server_limit is None else min(wanted, self.server_limit)
        if not self.ready:
            self.ready = True
            if self.capped:  # counted by the owner with the connections opened: the notice says so, once per run
                self.stream_limit = self.capacity
            self.owner.connection_ready(self)
            return
        if opened:
            self._unblock()
        if self.draining:
            return
        if self.capacity < before and not self.repeat:  # lowered: the slots the owner holds are withdrawn
            self.owner.slots_withdrawn(self)
            before = 0  # and those still free under the new limit offered again
        for _ in range(self.capacity - max(before, len(self.streams))):
            if self.repeat:
                self._open(self.exchange.request, self.read_ns)
            else:
                self.owner.batch_done(self)

    @property
    def capped(self) -> bool:
        """The server allows fewer concurrent streams than were asked for."""
        return self.capacity < self.exchange.streams

    def settings_acked(self) -> None:
        pass  # this side's settings only ever raise limits: nothing waits for the ACK

    def ping_received(self, opaque: bytes) -> None:
        self.pings += 1
        self.out.append(ping_frame(opaque, ack=True))

    def goaway_received(self, last_stream_id: int, code: int, debug: bytes) -> None:
        if self.goaway_last is not None and last_stream_id > self.goaway_last:
            raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "GOAWAY raised its last stream id")
        self.goaways += 1
        self.goaway_last = last_stream_id
        self._repeating = False
        for stream_id in [stream_id for stream_id in self.streams if stream_id > last_stream_id]:
            self.lost_intended.append(self.streams.pop(stream_id).intended_ns)
        if code != ErrorCode.NO_ERROR:
            text = debug[:100].decode("utf-8", "replace")
            detail = f"{error_name(code)}: {text}" if text else error_name(code)
            self._goaway_error(ErrorReason(ErrorKind.READ, Stage.EXCHANGE, GOAWAY_CAUSE, detail))
        elif not self.streams:
            self._finish()
        else:
            self._hand_over()

    def _goaway_error(self, reason: ErrorReason) -> None:
        """A GOAWAY with an error code: one error, and the streams below its last id left to end
        beside the connection's replacement (:meth:`_hand_over`)."""
        if self.goaway_counted:  # a second one: the first was counted
            if not self.streams:
                self._finish()
        elif not self.streams:
            self._fail(reason)
        else:
            self.tally.count_error(reason)
            self.goaway_counted = True
            self._hand_over()

    def _hand_over(self) -> None:
        """The streams below a GOAWAY's last id may still end (RFC 9113 6.8), so the connection
        stays for them, while the owner opens its replacement now and asks again for the streams
        above (and for those below, if --timeout passes first). Waiting for them to end before
        the replacement left the closed loop short of the connection meanwhile, or, from a server
        that never answers them nor closes (hypercorn 0.18 after its 1,000th request), for good."""
        if not self.replaced:
            self.replaced = True
            self.owner.connection_replaced(self, len(self.lost_intended))
            self.lost_intended = []  # handed back: the owner asks for them again

    def window_update(self, stream_id: int, increment: int) -> None:
        if not stream_id:
            self.send_window += increment
            if self.send_window > MAX_WINDOW:
                raise H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "WINDOW_UPDATE overflows the connection's window")
            self._unblock()
            return
        stream = self.streams.get(stream_id)
        if stream is None:
            self._unknown_stream(stream_id, "WINDOW_UPDATE", False)
            return
        stream.send_window += increment
        if stream.send_window > MAX_WINDOW:
            self._malformed(stream, "WINDOW_UPDATE overflows the stream's window", ErrorCode.FLOW_CONTROL_ERROR)
        elif stream in self.blocked:
            self._unblock()

    def _unblock(self) -> None:
        """Send what the windows now allow of the requests' content waiting for them."""
        waiting, self.blocked = self.blocked, []
        for stream in waiting:
            if stream.id in self.streams:
                self._send_content(stream)

    # -- the connection's end ----------------------------------------------------------------

    def _check_server_preface(self, data: bytes) -> None:
        """The server's first frame must be SETTINGS (§3.4); an HTTP/1.1 answer says what it is."""
        first = self._kept + data if self._kept else data
        if first.startswith(b"HTTP/1."):
            raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "the server answered in HTTP/1.1: it does not speak h2c")
        if len(first) >= 9 and (first[3] != SETTINGS or first[4] & 0x1):
            raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "the server's first frame is not SETTINGS")

    def _connection_error(self, code: int, reason: str) -> None:
        """This side found the connection broken: say why in GOAWAY, then fail it."""
        self.out.append(goaway_frame(0, code, reason.encode()[:200]))
        self._fail(ErrorReason(ErrorKind.READ, Stage.EXCHANGE, MALFORMED, f"{reason} ({error_name(code)})"))

    def _lose_open_streams(self) -> int:
        """Every stream still open joins the lost ones; how many streams are lost in all."""
        self.lost_intended += [stream.intended_ns for stream in self.streams.values()]
        self.streams.clear()
        self.blocked = []
        self.answered_early.clear()
        return len(self.lost_intended)

    def _fail(self, reason: ErrorReason) -> None:
        if self.closed:  # closed earlier in this read (after a GOAWAY, a failure): its owner was told once
            return
        self.pending = self._lose_open_streams()
        self.owner.connection_failed(self, reason)
        self.abort()

    def _finish(self) -> None:
        """The server said GOAWAY (or stream ids ran out) and every stream below has ended."""
        if self.closed:
            return
        lost = self._lose_open_streams()
        self.close()
        self.owner.connection_closed(self, lost)
