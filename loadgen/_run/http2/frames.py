"""HTTP/2 frames (RFC 9113 §4 and §6): the types, flags, error codes and settings; each frame
type built as bytes; the payloads of the control frames read back with a client's checks.

Splitting a byte stream into frames is framereader.py's job; what a frame means for the
connection is the session's.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # the client connection preface (§3.4)

# Frame types (§6)
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
FRAME_NAMES = (
    "DATA",
    "HEADERS",
    "PRIORITY",
    "RST_STREAM",
    "SETTINGS",
    "PUSH_PROMISE",
    "PING",
    "GOAWAY",
    "WINDOW_UPDATE",
    "CONTINUATION",
)

# Flags
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# Settings (§6.5.2), and two extensions whose values are checked the same way (0 or 1)
HEADER_TABLE_SIZE = 0x1
ENABLE_PUSH = 0x2
MAX_CONCURRENT_STREAMS = 0x3
INITIAL_WINDOW_SIZE = 0x4
MAX_FRAME_SIZE = 0x5
MAX_HEADER_LIST_SIZE = 0x6
ENABLE_CONNECT_PROTOCOL = 0x8  # RFC 8441
NO_RFC7540_PRIORITIES = 0x9  # RFC 9218

FRAME_HEADER = struct.Struct(">IBI")  # length << 8 | type, flags, R bit + stream id
FRAME_HEADER_SIZE = 9
DEFAULT_WINDOW = 65_535
MAX_WINDOW = 2**31 - 1
DEFAULT_FRAME_SIZE = 16_384
MAX_FRAME_SIZE_LIMIT = 2**24 - 1
STREAM_ID_MASK = 0x7FFF_FFFF
_SETTING = struct.Struct(">HI")
_TWO_WORDS = struct.Struct(">II")
_WORD = struct.Struct(">I")


class ErrorCode:
    """The error codes (§7)."""

    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD


_ERROR_NAMES = {code: name for name, code in vars(ErrorCode).items() if name.isupper()}


def error_name(code: int) -> str:
    """The code's name, or its value in hex for a code RFC 9113 does not define."""
    return _ERROR_NAMES.get(code, f"0x{code:x}")


class H2ConnectionError(Exception):
    """A connection error (§5.4.1): the code to send in GOAWAY, and the reason for the user."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# -- building frames ------------------------------------------------------------------------


def frame(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return FRAME_HEADER.pack(len(payload) << 8 | frame_type, flags, stream_id) + payload


def _padded(flags: int, payload: bytes, padding: int | None) -> tuple[int, bytes]:
    if padding is None:
        return flags, payload
    return flags | PADDED, bytes((padding,)) + payload + bytes(padding)


def data_frame(stream_id: int, data: bytes, end_stream: bool = False, padding: int | None = None) -> bytes:
    flags, payload = _padded(END_STREAM if end_stream else 0, data, padding)
    return frame(DATA, flags, stream_id, payload)


def headers_frame(
    stream_id: int,
    block: bytes,
    *,
    end_stream: bool = False,
    end_headers: bool = True,
    padding: int | None = None,
    priority: tuple[int, int, bool] | None = None,
) -> bytes:
    """``priority``: (stream dependency, weight 1-256, exclusive), RFC 9113's deprecated fields."""
    flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
    if priority is not None:
        flags |= PRIORITY_FLAG
        block = _priority_fields(*priority) + block
    flags, payload = _padded(flags, block, padding)
    return frame(HEADERS, flags, stream_id, payload)


def _priority_fields(depends_on: int, weight: int, exclusive: bool) -> bytes:
    return struct.pack(">IB", depends_on | (0x8000_0000 if exclusive else 0), weight - 1)


def priority_frame(stream_id: int, depends_on: int, weight: int = 16, exclusive: bool = False) -> bytes:
    return frame(PRIORITY, 0, stream_id, _priority_fields(depends_on, weight, exclusive))


def rst_stream_frame(stream_id: int, code: int) -> bytes:
    return frame(RST_STREAM, 0, stream_id, _WORD.pack(code))


def settings_frame(settings: Iterable[tuple[int, int]] = (), ack: bool = False) -> bytes:
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(_SETTING.pack(key, value) for key, value in settings))


def push_promise_frame(
    stream_id: int, promised_id: int, block: bytes, end_headers: bool = True, padding: int | None = None
) -> bytes:
    flags, payload = _padded(END_HEADERS if end_headers else 0, _WORD.pack(promised_id) + block, padding)
    return frame(PUSH_PROMISE, flags, stream_id, payload)


def ping_frame(opaque: bytes, ack: bool = False) -> bytes:
    return frame(PING, ACK if ack else 0, 0, opaque)


def goaway_frame(last_stream_id: int, code: int, debug: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, _TWO_WORDS.pack(last_stream_id, code) + debug)


def window_update_frame(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, _WORD.pack(increment))


def continuation_frame(stream_id: int, block: bytes, end_headers: bool = True) -> bytes:
    return frame(CONTINUATION, END_HEADERS if end_headers else 0, stream_id, block)


def header_frames(stream_id: int, block: bytes, end_stream: bool, max_frame_size: int) -> bytes:
    """A field block as one HEADERS frame, or HEADERS and CONTINUATION frames when it is larger
    than the peer's frame size."""
    if len(block) <= max_frame_size:
        return headers_frame(stream_id, block, end_stream=end_stream)
    pieces = [block[i : i + max_frame_size] for i in range(0, len(block), max_frame_size)]
    first = headers_frame(stream_id, pieces[0], end_stream=end_stream, end_headers=False)
    rest = (continuation_frame(stream_id, piece, i == len(pieces) - 1) for i, piece in enumerate(pieces[1:], 1))
    return first + b"".join(rest)


# -- reading control payloads ---------------------------------------------------------------


def _setting_error(key: int, value: int) -> str | None:
    """Why a setting's value is invalid (§6.5.2), if it is."""
    if key in (ENABLE_PUSH, ENABLE_CONNECT_PROTOCOL, NO_RFC7540_PRIORITIES) and value > 1:
        return f"SETTINGS value {value} for setting 0x{key:x}, which must be 0 or 1"
    if key == INITIAL_WINDOW_SIZE and value > MAX_WINDOW:
        return f"SETTINGS_INITIAL_WINDOW_SIZE {value} is above 2**31-1"
    if key == MAX_FRAME_SIZE and not DEFAULT_FRAME_SIZE <= value <= MAX_FRAME_SIZE_LIMIT:
        return f"SETTINGS_MAX_FRAME_SIZE {value} is outside 16384 to 2**24-1"
    return None


def parse_settings(payload: bytes) -> list[tuple[int, int]]:
    """The (identifier, value) pairs of a SETTINGS frame that is not an ACK, checked; unknown
    identifiers are kept (the session ignores them). A server announcing push is an error: a
    client must refuse it (§6.5.2)."""
    if len(payload) % 6:
        raise H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, f"SETTINGS payload of {len(payload)} bytes")
    pairs = [_SETTING.unpack_from(payload, i) for i in range(0, len(payload), 6)]
    for key, value in pairs:
        problem = _setting_error(key, value)
        if problem is not None:
            code = ErrorCode.FLOW_CONTROL_ERROR if key == INITIAL_WINDOW_SIZE else ErrorCode.PROTOCOL_ERROR
            raise H2ConnectionError(code, problem)
        if key == ENABLE_PUSH and value == 1:
            raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "the server sent SETTINGS_ENABLE_PUSH 1")
    return pairs


def parse_goaway(payload: bytes) -> tuple[int, int, bytes]:
    """(last stream id, error code, debug data) of a GOAWAY frame of at least 8 bytes."""
    last, code = _TWO_WORDS.unpack_from(payload)
    return last & STREAM_ID_MASK, code, payload[8:]


def parse_word(payload: bytes) -> int:
    """The 32-bit value of a RST_STREAM (error code) or WINDOW_UPDATE (R bit and increment)."""
    return int(_WORD.unpack(payload)[0])


def priority_depends_on(payload: bytes, start: int) -> int:
    """The stream a PRIORITY frame or a HEADERS frame's priority fields name as parent."""
    return int(_WORD.unpack_from(payload, start)[0]) & STREAM_ID_MASK
