"""The bytes a server sends, split into frames in one pass per read, whatever the reads' split.

:class:`FrameReader` checks what RFC 9113 asks of each frame regardless of the connection's
state (its size against ours, the stream id that its type requires, padding, the length of
fixed-size frames, SETTINGS values, CONTINUATION following HEADERS without another frame in
between) and hands each frame to a method that its subclass, the session, implements. Unknown
frame types and flags are ignored, as §4.1 and §5.5 require; the reserved bit is dropped.

DATA payloads are never copied: a DATA frame is reported once if it is whole in the read, else
as its header arrives (for flow control) and again at its end; its content as the slices of
each read that hold it (only when the subclass asks for content). Only a frame of another type
cut by the end of a read is kept, and joined to the next read's first bytes; a header block
split over HEADERS and CONTINUATION frames is joined once complete.
"""

from __future__ import annotations

from .frames import (
    CONTINUATION,
    DATA,
    DEFAULT_FRAME_SIZE,
    END_HEADERS,
    FRAME_HEADER,
    FRAME_NAMES,
    GOAWAY,
    HEADERS,
    PADDED,
    PING,
    PRIORITY,
    PRIORITY_FLAG,
    PUSH_PROMISE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    ErrorCode,
    H2ConnectionError,
    parse_goaway,
    parse_settings,
    parse_word,
    priority_depends_on,
)

__all__ = ["FrameReader"]

MAX_BLOCK = 1 << 20  # a header block longer than this (compressed) ends the connection
# ... and one in more frames than this: empty CONTINUATION frames grow no block, and a server that
# sends them without end (a CONTINUATION flood) would hold the connection, and the client's CPU, to the run's end
MAX_BLOCK_FRAMES = 1024

_UNPACK = FRAME_HEADER.unpack_from
_FIXED_LENGTHS = {PRIORITY: 5, RST_STREAM: 4, PING: 8, WINDOW_UPDATE: 4}
_PLAIN_HEADERS = END_HEADERS | PADDED | PRIORITY_FLAG  # HEADERS & this == END_HEADERS: one whole plain block


def _error(code: int, reason: str) -> H2ConnectionError:
    return H2ConnectionError(code, reason)


class FrameReader:
    """Frames out of a byte stream; the subclass implements the handlers below."""

    def __init__(self, max_frame_size: int = DEFAULT_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size  # ours (SETTINGS_MAX_FRAME_SIZE as we announced it)
        self.wants_content = False  # hand DATA content to data_content()
        self._kept = b""  # the start of a frame cut by the end of a read (never DATA payload)
        # The DATA frame being read across reads: its stream, flags, payload bytes still to come,
        # padding at its end (-1: the pad length byte has not come yet) and content so far.
        self._data_stream = 0
        self._data_flags = 0
        self._data_left = 0
        self._data_pad = 0
        self._data_content = 0
        # The header block being joined: its stream (0: none), HEADERS' flags, its fragments.
        self._block_stream = 0
        self._block_flags = 0
        self._block_parts: list[bytes] = []
        self._block_size = 0

    # -- the handlers ------------------------------------------------------------------------

    def data_frame(self, stream_id: int, flags: int, length: int, content: int) -> None:
        """A DATA frame: ``length`` counts against flow control (padding included); ``content``
        is its content's length when the whole frame is here (after its content was handed to
        :meth:`data_content`), or -1: the rest follows in later reads, then :meth:`data_end`."""
        raise NotImplementedError

    def data_content(self, stream_id: int, data: bytes, start: int, stop: int) -> None:
        """Content of a DATA frame, ``data[start:stop]`` (when ``wants_content``)."""
        raise NotImplementedError

    def data_end(self, stream_id: int, flags: int, content: int) -> None:
        """The end of a DATA frame that came in several reads, with ``content`` bytes in all."""
        raise NotImplementedError

    def header_block(self, stream_id: int, flags: int, block: bytes) -> None:
        """A complete field block, from HEADERS and any CONTINUATION frames; ``flags`` are the
        HEADERS frame's (END_STREAM among them)."""
        raise NotImplementedError

    def stream_error(self, stream_id: int, code: int, reason: str) -> None:
        """A frame that is an error for its stream only (§5.4.2)."""
        raise NotImplementedError

    def reset_received(self, stream_id: int, code: int) -> None:
        raise NotImplementedError

    def settings_received(self, settings: list[tuple[int, int]]) -> None:
        raise NotImplementedError

    def settings_acked(self) -> None:
        raise NotImplementedError

    def ping_received(self, opaque: bytes) -> None:
        raise NotImplementedError

    def goaway_received(self, last_stream_id: int, code: int, debug: bytes) -> None:
        raise NotImplementedError

    def window_update(self, stream_id: int, increment: int) -> None:
        raise NotImplementedError

    # -- reading -----------------------------------------------------------------------------

    @property
    def in_frame(self) -> bool:
        """Part of a frame (or of a header block) has arrived, and not all of it."""
        return bool(self._kept or self._data_stream or self._block_stream)

    def feed(self, data: bytes) -> None:
        """Read every complete frame in ``data`` (and the DATA content of an incomplete one);
        raises :class:`H2ConnectionError` at the first frame that breaks a rule."""
        pos = 0
        if self._data_stream:
            pos = self._data_rest(data, 0)
            if pos == len(data):
                return
        kept = self._kept
        if kept:
            self._kept = b""
            if len(kept) < 9:  # a frame header cut in two: rare enough to join the whole read
                data = kept + data[pos:]
                pos = 0
            else:
                need = 9 + (_UNPACK(kept)[0] >> 8) - len(kept)
                if len(data) - pos < need:
                    self._kept = kept + data[pos:]
                    return
                self._frames(kept + data[pos : pos + need], 0)
                pos += need
        self._frames(data, pos)

    def _frames(self, data: bytes, pos: int) -> None:
        end = len(data)
        max_size = self.max_frame_size
        while end - pos >= 9:
            type_length, flags, stream_id = _UNPACK(data, pos)
            length = type_length >> 8
            frame_type = type_length & 0xFF
            stream_id &= 0x7FFF_FFFF
            if length > max_size:
                raise _error(ErrorCode.FRAME_SIZE_ERROR, f"{length}-byte frame, above the {max_size} announced")
            start = pos + 9
            stop = start + length
            if self._block_stream and (frame_type != CONTINUATION or stream_id != self._block_stream):
                name = FRAME_NAMES[frame_type] if frame_type < len(FRAME_NAMES) else f"type 0x{frame_type:x}"
                raise _error(ErrorCode.PROTOCOL_ERROR, f"{name} frame inside a header block")
            if frame_type == DATA:
                if not stream_id:
                    raise _error(ErrorCode.PROTOCOL_ERROR, "DATA frame on stream 0")
                if stop <= end:
                    pad = 0
                    if flags & PADDED:
                        if not length:
                            raise _error(ErrorCode.FRAME_SIZE_ERROR, "padded DATA frame without its pad length")
                        pad = data[start]
                        start += 1
                        if pad > stop - start:
                            raise _error(ErrorCode.PROTOCOL_ERROR, "DATA frame padding longer than its payload")
                    content = stop - start - pad
                    if content and self.wants_content:
                        self.data_content(stream_id, data, start, start + content)
                    self.data_frame(stream_id, flags, length, content)
                    pos = stop
                    continue
                self._data_stream = stream_id
                self._data_flags = flags
                self._data_left = length
                self._data_content = 0
                if flags & PADDED:
                    self._data_pad = -1  # data_frame() once the pad length is read and checked
                else:
                    self._data_pad = 0
                    self.data_frame(stream_id, flags, length, -1)
                self._data_rest(data, start)
                return
            if stop > end:
                break
            if frame_type == HEADERS:
                if flags & _PLAIN_HEADERS == END_HEADERS and stream_id:  # the common case, inline
                    self.header_block(stream_id, flags, data[start:stop])
                else:
                    self._headers(data, flags, stream_id, start, stop)
            elif frame_type == CONTINUATION:
                self._continuation(data, flags, stream_id, start, stop)
            elif frame_type <= WINDOW_UPDATE:
                self._control(data, frame_type, flags, stream_id, start, stop)
            pos = stop
        self._kept = data[pos:]

    def _data_rest(self, data: bytes, pos: int) -> int:
        """Go on with the DATA frame in progress; where it (or ``data``) ends."""
        end = len(data)
        left = self._data_left
        stream_id = self._data_stream
        if self._data_pad < 0:
            if pos == end:
                return pos
            self._data_pad = data[pos]
            pos += 1
            left -= 1
            if self._data_pad > left:
                raise _error(ErrorCode.PROTOCOL_ERROR, "DATA frame padding longer than its payload")
            self.data_frame(stream_id, self._data_flags, left + 1, -1)
        content_left = left - self._data_pad
        if content_left > 0 and pos < end:
            take = min(content_left, end - pos)
            if self.wants_content:
                self.data_content(stream_id, data, pos, pos + take)
            self._data_content += take
            pos += take
            left -= take
            content_left -= take
        if content_left <= 0:
            skip = min(left, end - pos)
            pos += skip
            left -= skip
        self._data_left = left
        if not left:
            self._data_stream = 0
            self.data_end(stream_id, self._data_flags, self._data_content)
        return pos

    def _headers(self, data: bytes, flags: int, stream_id: int, start: int, stop: int) -> None:
        if not stream_id:
            raise _error(ErrorCode.PROTOCOL_ERROR, "HEADERS frame on stream 0")
        if flags & (PADDED | PRIORITY_FLAG):
            start, stop = self._strip(data, flags, stream_id, start, stop)
        block = data[start:stop]
        if flags & END_HEADERS:
            self.header_block(stream_id, flags, block)
        else:
            self._block_stream = stream_id
            self._block_flags = flags
            self._block_parts = [block]
            self._block_size = len(block)

    def _strip(self, data: bytes, flags: int, stream_id: int, start: int, stop: int) -> tuple[int, int]:
        """The fragment of a HEADERS frame without its padding and priority fields."""
        pad = 0
        need = (1 if flags & PADDED else 0) + (5 if flags & PRIORITY_FLAG else 0)
        if stop - start < need:
            raise _error(ErrorCode.FRAME_SIZE_ERROR, "HEADERS frame too short for its padding and priority fields")
        if flags & PADDED:
            pad = data[start]
            start += 1
        if flags & PRIORITY_FLAG:
            if priority_depends_on(data, start) == stream_id:
                self.stream_error(
                    stream_id, ErrorCode.PROTOCOL_ERROR, "HEADERS frame makes its stream depend on itself"
                )
            start += 5
        if pad > stop - start:
            raise _error(ErrorCode.PROTOCOL_ERROR, "HEADERS frame padding longer than its payload")
        return start, stop - pad

    def _continuation(self, data: bytes, flags: int, stream_id: int, start: int, stop: int) -> None:
        if not self._block_stream:
            raise _error(ErrorCode.PROTOCOL_ERROR, "CONTINUATION frame without a header block to continue")
        self._block_parts.append(data[start:stop])
        self._block_size += stop - start
        if self._block_size > MAX_BLOCK:
            raise _error(ErrorCode.ENHANCE_YOUR_CALM, f"header block longer than {MAX_BLOCK >> 20} MiB")
        if len(self._block_parts) > MAX_BLOCK_FRAMES:
            raise _error(
                ErrorCode.ENHANCE_YOUR_CALM,
                f"header block in more than {MAX_BLOCK_FRAMES:,} frames: a CONTINUATION flood",
            )
        if flags & END_HEADERS:
            block = b"".join(self._block_parts)
            self._block_stream = 0
            self._block_parts = []
            self.header_block(stream_id, self._block_flags, block)

    def _control(self, data: bytes, frame_type: int, flags: int, stream_id: int, start: int, stop: int) -> None:
        """The frames that are neither content nor header blocks."""
        length = stop - start
        name = FRAME_NAMES[frame_type]
        fixed = _FIXED_LENGTHS.get(frame_type)
        on_stream = frame_type in (PRIORITY, RST_STREAM)
        if on_stream and not stream_id:
            raise _error(ErrorCode.PROTOCOL_ERROR, f"{name} frame on stream 0")
        if frame_type in (SETTINGS, PING, GOAWAY) and stream_id:
            raise _error(ErrorCode.PROTOCOL_ERROR, f"{name} frame on stream {stream_id}")
        if fixed is not None and length != fixed:
            if frame_type == PRIORITY:
                self.stream_error(stream_id, ErrorCode.FRAME_SIZE_ERROR, f"PRIORITY frame of {length} bytes")
                return
            raise _error(ErrorCode.FRAME_SIZE_ERROR, f"{name} frame of {length} bytes, not {fixed}")
        payload = data[start:stop]
        if frame_type == SETTINGS:
            if not flags & 0x1:
                self.settings_received(parse_settings(payload))
            elif length:
                raise _error(ErrorCode.FRAME_SIZE_ERROR, f"SETTINGS ACK with a {length}-byte payload")
            else:
                self.settings_acked()
        elif frame_type == WINDOW_UPDATE:
            increment = parse_word(payload) & 0x7FFF_FFFF
            if increment:
                self.window_update(stream_id, increment)
            elif stream_id:
                self.stream_error(stream_id, ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE with an increment of 0")
            else:
                raise _error(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE with an increment of 0 on the connection")
        elif frame_type == PING:
            if not flags & 0x1:
                self.ping_received(payload)
        elif frame_type == GOAWAY:
            if length < 8:
                raise _error(ErrorCode.FRAME_SIZE_ERROR, f"GOAWAY frame of {length} bytes")
            self.goaway_received(*parse_goaway(payload))
        elif frame_type == RST_STREAM:
            self.reset_received(stream_id, parse_word(payload))
        elif frame_type == PRIORITY:
            if priority_depends_on(payload, 0) == stream_id:
                self.stream_error(
                    stream_id, ErrorCode.PROTOCOL_ERROR, "PRIORITY frame makes its stream depend on itself"
                )
        elif frame_type == PUSH_PROMISE:
            raise _error(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE although this client disabled push")
