"""The frame reader: every frame type built and read back, the same events and the same verdict
whatever the reads' split, and a reason for every frame that breaks RFC 9113's rules."""

from __future__ import annotations

import itertools

import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import Frame
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen._run.http2 import frames as f
from loadgen._run.http2.framereader import FrameReader
from loadgen._run.http2.frames import ErrorCode, H2ConnectionError


class Recorder(FrameReader):
    """A reader that writes down what it was handed; DATA content is gathered per stream, since
    how it is cut depends on the reads."""

    def __init__(self) -> None:
        super().__init__()
        self.wants_content = True
        self.events: list[tuple[object, ...]] = []
        self.content: dict[int, bytes] = {}

    def data_frame(self, stream_id: int, flags: int, length: int, content: int) -> None:
        self.events.append(("data", stream_id, flags, length))
        if content >= 0:
            self.events.append(("data_end", stream_id, flags, content))

    def data_content(self, stream_id: int, data: bytes, start: int, stop: int) -> None:
        self.content[stream_id] = self.content.get(stream_id, b"") + data[start:stop]

    def data_end(self, stream_id: int, flags: int, content: int) -> None:
        self.events.append(("data_end", stream_id, flags, content))

    def header_block(self, stream_id: int, flags: int, block: bytes) -> None:
        self.events.append(("headers", stream_id, bool(flags & f.END_STREAM), block))

    def stream_error(self, stream_id: int, code: int, reason: str) -> None:
        self.events.append(("stream_error", stream_id, code, reason))

    def reset_received(self, stream_id: int, code: int) -> None:
        self.events.append(("reset", stream_id, code))

    def settings_received(self, settings: list[tuple[int, int]]) -> None:
        self.events.append(("settings", settings))

    def settings_acked(self) -> None:
        self.events.append(("settings_ack",))

    def ping_received(self, opaque: bytes) -> None:
        self.events.append(("ping", opaque))

    def goaway_received(self, last_stream_id: int, code: int, debug: bytes) -> None:
        self.events.append(("goaway", last_stream_id, code, debug))

    def window_update(self, stream_id: int, increment: int) -> None:
        self.events.append(("window_update", stream_id, increment))


def read(data: bytes, cuts: list[int] = ()) -> tuple[Recorder, tuple[int, str] | None]:  # type: ignore[assignment]
    """Feed ``data`` in pieces cut at ``cuts``; the recorder and the error, if any."""
    reader = Recorder()
    bounds = [0, *sorted(set(cuts)), len(data)]
    try:
        for start, stop in itertools.pairwise(bounds):
            reader.feed(data[start:stop])
    except H2ConnectionError as exc:
        return reader, (exc.code, exc.reason)
    return reader, None


# -- every frame type, built and read back (and checked against hyperframe's parser) --------------


def test_every_frame_type_round_trips() -> None:
    block = b"\x82\x86\x84"
    wire = b"".join(
        [
            f.settings_frame([(f.MAX_CONCURRENT_STREAMS, 100), (f.INITIAL_WINDOW_SIZE, 65535), (0x99, 7)]),
            f.settings_frame(ack=True),
            f.headers_frame(1, block, end_stream=False, padding=3, priority=(0, 16, False)),
            f.data_frame(1, b"hello", padding=4),
            f.data_frame(1, b"", end_stream=True),
            f.headers_frame(3, block[:1], end_headers=False),
            f.continuation_frame(3, block[1:2], end_headers=False),
            f.continuation_frame(3, block[2:], end_headers=True),
            f.priority_frame(3, 1, 200, exclusive=True),
            f.rst_stream_frame(3, ErrorCode.CANCEL),
            f.ping_frame(b"12345678"),
            f.ping_frame(b"12345678", ack=True),
            f.window_update_frame(0, 1000),
            f.frame(0xEE, 0xFF, 0, b"an extension frame"),
            f.goaway_frame(3, ErrorCode.NO_ERROR, b"bye"),
        ]
    )
    reader, error = read(wire)
    assert error is None
    assert reader.events == [
        ("settings", [(f.MAX_CONCURRENT_STREAMS, 100), (f.INITIAL_WINDOW_SIZE, 65535), (0x99, 7)]),
        ("settings_ack",),
        ("headers", 1, False, block),
        ("data", 1, f.PADDED, 10),
        ("data_end", 1, f.PADDED, 5),
        ("data", 1, f.END_STREAM, 0),
        ("data_end", 1, f.END_STREAM, 0),
        ("headers", 3, False, block),
        ("reset", 3, ErrorCode.CANCEL),
        ("ping", b"12345678"),
        ("window_update", 0, 1000),
        ("goaway", 3, ErrorCode.NO_ERROR, b"bye"),
    ]
    assert reader.content == {1: b"hello"}
    # Another implementation reads the same frames from these bytes
    pos, types = 0, []
    while pos < len(wire):
        frame, length = Frame.parse_frame_header(memoryview(wire[pos : pos + 9]))
        frame.parse_body(memoryview(wire[pos + 9 : pos + 9 + length]))
        types.append(type(frame).__name__)
        pos += 9 + length
    assert types[:5] == ["SettingsFrame", "SettingsFrame", "HeadersFrame", "DataFrame", "DataFrame"]
    assert types[8:13] == ["PriorityFrame", "RstStreamFrame", "PingFrame", "PingFrame", "WindowUpdateFrame"]
    assert types[-1] == "GoAwayFrame"


def test_the_error_codes_and_settings_are_rfc_9113s() -> None:
    """What goes on the wire in RST_STREAM and GOAWAY (section 7) and in SETTINGS (6.5.2), as
    another implementation (h2) numbers them."""
    assert {name: code for name, code in vars(ErrorCode).items() if name.isupper()} == {
        code.name: code.value for code in ErrorCodes
    }
    ours = [f.HEADER_TABLE_SIZE, f.ENABLE_PUSH, f.MAX_CONCURRENT_STREAMS, f.INITIAL_WINDOW_SIZE]
    ours += [f.MAX_FRAME_SIZE, f.MAX_HEADER_LIST_SIZE, f.ENABLE_CONNECT_PROTOCOL]
    assert ours == [code.value for code in SettingCodes]
    assert f.error_name(ErrorCode.FLOW_CONTROL_ERROR) == "FLOW_CONTROL_ERROR" and f.error_name(0xEE) == "0xee"


def test_push_promise_is_refused() -> None:
    _, error = read(f.push_promise_frame(1, 2, b"\x82"))
    assert error is not None and error[0] == ErrorCode.PROTOCOL_ERROR and "push" in error[1]


def test_header_frames_split_a_large_block() -> None:
    block = bytes(range(256)) * 200
    reader, error = read(f.header_frames(5, block, end_stream=True, max_frame_size=16_384))
    assert error is None and reader.events == [("headers", 5, True, block)]


# -- the same events whatever the split ----------------------------------------------------------

STREAMS = st.sampled_from([1, 3, 5, 7])
PAYLOAD = st.binary(max_size=40)
PADDING = st.none() | st.integers(0, 12)


@st.composite
def good_frame(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(["data", "headers", "continued", "priority", "rst", "settings", "ack", "ping", "window", "x"])
    )
    stream = draw(STREAMS)
    if kind == "data":
        return f.data_frame(stream, draw(PAYLOAD), draw(st.booleans()), draw(PADDING))
    if kind == "headers":
        return f.headers_frame(stream, draw(PAYLOAD), end_stream=draw(st.booleans()), padding=draw(PADDING))
    if kind == "continued":
        pieces = draw(st.lists(PAYLOAD, min_size=2, max_size=4))
        first = f.headers_frame(stream, pieces[0], end_headers=False, priority=(0, 16, False))
        rest = [f.continuation_frame(stream, piece, i == len(pieces) - 1) for i, piece in enumerate(pieces[1:], 1)]
        return first + b"".join(rest)
    if kind == "priority":
        return f.priority_frame(stream, draw(st.sampled_from([0, 9, stream])), 16)
    if kind == "rst":
        return f.rst_stream_frame(stream, draw(st.integers(0, 20)))
    if kind == "settings":
        keys = st.sampled_from([f.HEADER_TABLE_SIZE, f.MAX_CONCURRENT_STREAMS, f.MAX_HEADER_LIST_SIZE, 0x77])
        return f.settings_frame(draw(st.lists(st.tuples(keys, st.integers(0, 2**32 - 1)), max_size=4)))
    if kind == "ack":
        return f.settings_frame(ack=True)
    if kind == "ping":
        return f.ping_frame(draw(st.binary(min_size=8, max_size=8)), draw(st.booleans()))
    if kind == "window":
        return f.window_update_frame(draw(st.sampled_from([0, stream])), draw(st.integers(1, 2**31 - 1)))
    return f.frame(draw(st.integers(10, 255)), draw(st.integers(0, 255)), stream, draw(PAYLOAD))


BAD_FRAMES = [
    f.frame(f.DATA, 0, 0, b"x"),
    f.frame(f.HEADERS, f.END_HEADERS | f.PADDED, 1, b"\x0a\x82"),  # padding longer than the fragment
    f.frame(f.RST_STREAM, 0, 1, b"\0\0\0"),
    f.frame(f.PING, 0, 0, b"1234567"),
    f.frame(f.CONTINUATION, f.END_HEADERS, 1, b"\x82"),
    f.headers_frame(1, b"\x82", end_headers=False) + f.data_frame(1, b"x"),
    f.frame(f.DATA, f.PADDED, 1, b"\x05abc"),
    f.settings_frame([(f.MAX_FRAME_SIZE, 100)]),
    f.frame(f.DATA, 0, 1, bytes(16_385)),
]


@settings(max_examples=300)
@given(
    st.lists(good_frame(), max_size=12),
    st.none() | st.sampled_from(BAD_FRAMES),
    st.lists(st.integers(0, 2000), max_size=12),
)
def test_events_and_verdict_do_not_depend_on_the_split(frames: list[bytes], bad: bytes | None, cuts: list[int]) -> None:
    data = b"".join(frames) + (bad or b"") + b"".join(frames[:2])
    whole, verdict = read(data)
    split, split_verdict = read(data, [cut % (len(data) + 1) for cut in cuts])
    assert split.events == whole.events
    assert split.content == whole.content
    assert split_verdict == verdict
    assert (verdict is None) == (bad is None)


def test_data_content_is_handed_over_as_slices_of_each_read() -> None:
    reader = Recorder()
    wire = f.data_frame(1, b"a" * 1000, end_stream=True, padding=10)
    pieces = []
    reader.data_content = lambda stream_id, data, start, stop: pieces.append((data, start, stop))  # type: ignore[method-assign]
    reader.feed(wire[:300])
    reader.feed(wire[300:])
    assert [stop - start for _, start, stop in pieces] == [290, 710]
    assert pieces[0][0] is not None and len(pieces[1][0]) == len(wire) - 300  # the read itself, not a copy


# -- malformed frames: a reason each ---------------------------------------------------------------

CONNECTION_ERRORS = [
    (f.frame(f.DATA, 0, 0, b"x"), ErrorCode.PROTOCOL_ERROR, "DATA frame on stream 0"),
    (f.frame(f.DATA, 0, 1, bytes(16_385)), ErrorCode.FRAME_SIZE_ERROR, "above the 16384 announced"),
    (f.frame(f.DATA, f.PADDED, 1, b""), ErrorCode.FRAME_SIZE_ERROR, "without its pad length"),
    (f.frame(f.DATA, f.PADDED, 1, b"\x03ab"), ErrorCode.PROTOCOL_ERROR, "padding longer"),
    (f.frame(f.HEADERS, f.END_HEADERS, 0, b"\x82"), ErrorCode.PROTOCOL_ERROR, "HEADERS frame on stream 0"),
    (f.frame(f.HEADERS, f.END_HEADERS | f.PRIORITY_FLAG, 1, b"\0\0"), ErrorCode.FRAME_SIZE_ERROR, "too short"),
    # RFC 9113 4.2: too small for its mandatory fields, the 5 bytes of priority (one short here), the pad length
    (f.frame(f.HEADERS, f.END_HEADERS | f.PRIORITY_FLAG, 1, bytes(4)), ErrorCode.FRAME_SIZE_ERROR, "too short"),
    (f.frame(f.HEADERS, f.END_HEADERS | f.PADDED, 1, b""), ErrorCode.FRAME_SIZE_ERROR, "too short"),  # no pad length
    (f.frame(f.HEADERS, f.END_HEADERS | f.PADDED, 1, b"\x05\x82"), ErrorCode.PROTOCOL_ERROR, "padding longer"),
    (f.frame(f.PRIORITY, 0, 0, bytes(5)), ErrorCode.PROTOCOL_ERROR, "PRIORITY frame on stream 0"),
    (f.frame(f.RST_STREAM, 0, 0, bytes(4)), ErrorCode.PROTOCOL_ERROR, "RST_STREAM frame on stream 0"),
    (f.frame(f.RST_STREAM, 0, 1, bytes(5)), ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM frame of 5 bytes"),
    (f.frame(f.SETTINGS, 0, 1, b""), ErrorCode.PROTOCOL_ERROR, "SETTINGS frame on stream 1"),
    (f.frame(f.SETTINGS, 0, 0, bytes(5)), ErrorCode.FRAME_SIZE_ERROR, "SETTINGS payload of 5 bytes"),
    (f.frame(f.SETTINGS, f.ACK, 0, bytes(6)), ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a 6-byte payload"),
    (f.settings_frame([(f.ENABLE_PUSH, 1)]), ErrorCode.PROTOCOL_ERROR, "ENABLE_PUSH 1"),
    (f.settings_frame([(f.ENABLE_PUSH, 2)]), ErrorCode.PROTOCOL_ERROR, "must be 0 or 1"),
    (f.settings_frame([(0x9, 2)]), ErrorCode.PROTOCOL_ERROR, "must be 0 or 1"),  # RFC 9218 2.1's NO_RFC7540_PRIORITIES
    (f.settings_frame([(f.INITIAL_WINDOW_SIZE, 2**31)]), ErrorCode.FLOW_CONTROL_ERROR, "above 2**31-1"),
    (f.settings_frame([(f.MAX_FRAME_SIZE, 16_383)]), ErrorCode.PROTOCOL_ERROR, "MAX_FRAME_SIZE 16383"),
    (f.settings_frame([(f.MAX_FRAME_SIZE, 2**24)]), ErrorCode.PROTOCOL_ERROR, "MAX_FRAME_SIZE 16777216"),
    (f.push_promise_frame(1, 2, b"\x82"), ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE"),
    (f.frame(f.PING, 0, 0, bytes(9)), ErrorCode.FRAME_SIZE_ERROR, "PING frame of 9 bytes"),
    (f.frame(f.PING, 0, 3, bytes(8)), ErrorCode.PROTOCOL_ERROR, "PING frame on stream 3"),
    (f.frame(f.GOAWAY, 0, 0, bytes(7)), ErrorCode.FRAME_SIZE_ERROR, "GOAWAY frame of 7 bytes"),
    (f.frame(f.GOAWAY, 0, 1, bytes(8)), ErrorCode.PROTOCOL_ERROR, "GOAWAY frame on stream 1"),
    (f.frame(f.WINDOW_UPDATE, 0, 0, bytes(3)), ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE frame of 3 bytes"),
    (f.window_update_frame(0, 0), ErrorCode.PROTOCOL_ERROR, "increment of 0 on the connection"),
    (f.continuation_frame(1, b"\x82"), ErrorCode.PROTOCOL_ERROR, "without a header block"),
    (
        f.headers_frame(1, b"\x82", end_headers=False) + f.continuation_frame(3, b"\x84"),
        ErrorCode.PROTOCOL_ERROR,
        "CONTINUATION frame inside a header block",
    ),
    (
        f.headers_frame(1, b"\x82", end_headers=False) + f.frame(0xEE, 0, 0, b""),
        ErrorCode.PROTOCOL_ERROR,
        "type 0xee frame inside a header block",
    ),
    (
        f.headers_frame(1, b"\x82", end_headers=False) + f.continuation_frame(1, bytes(16_000), False) * 70,
        ErrorCode.ENHANCE_YOUR_CALM,
        "longer than 1 MiB",
    ),
]


@pytest.mark.parametrize(("wire", "code", "reason"), CONNECTION_ERRORS)
def test_malformed_frames_are_connection_errors_with_a_reason(wire: bytes, code: int, reason: str) -> None:
    _, error = read(wire)
    assert error is not None, "accepted"
    assert error[0] == code and reason in error[1], error


@pytest.mark.parametrize(
    ("wire", "code", "reason"),
    [
        (f.frame(f.PRIORITY, 0, 1, bytes(4)), ErrorCode.FRAME_SIZE_ERROR, "PRIORITY frame of 4 bytes"),
        (f.priority_frame(5, 5), ErrorCode.PROTOCOL_ERROR, "depend on itself"),
        (f.headers_frame(7, b"\x82", priority=(7, 16, False)), ErrorCode.PROTOCOL_ERROR, "depend on itself"),
        (f.window_update_frame(3, 0), ErrorCode.PROTOCOL_ERROR, "increment of 0"),
    ],
)
def test_some_are_errors_of_their_stream_only(wire: bytes, code: int, reason: str) -> None:
    reader, error = read(wire)
    assert error is None
    stream_errors = [event for event in reader.events if event[0] == "stream_error"]
    assert len(stream_errors) == 1 and stream_errors[0][2] == code and reason in str(stream_errors[0][3])


def test_the_reserved_bit_and_unknown_flags_are_ignored() -> None:
    wire = f.FRAME_HEADER.pack(8 << 8 | f.PING, 0xFE, 0x8000_0000) + b"abcdefgh"
    reader, error = read(wire)
    assert error is None and reader.events == [("ping", b"abcdefgh")]
