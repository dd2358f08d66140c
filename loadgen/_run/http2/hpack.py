"""HPACK (RFC 7541): the integer and string primitives, the static table, a decoder with its
dynamic table, and the field representations a request's encoder writes.

The decoder enforces every limit with a reason: the table size this side announced (size
updates above it, or not at the start of a block, are errors), indices outside both tables,
integers longer than any HTTP/2 quantity, strings running past the block, Huffman errors, and
the header list size (past it, decoding goes on to keep the dynamic table in step, but the
fields are no longer kept and the block is reported oversized). It also says whether a block
read the dynamic table and what it inserted, and bumps ``version`` at every change: a block that
read nothing decodes the same again whatever the table holds (its insertions replayed), and a
block that read the table but changed nothing decodes the same while the version is the same,
which is what lets the session cache decoded responses by their bytes.

The encoder side writes indexed static fields, literals without indexing, never-indexed
literals for credentials, and, for the request a connection sends again and again, literals
that insert a field once and indexed fields that refer to it after that (requestblock.py).
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from .huffman import HuffmanError, encoded_length
from .huffman import decode as huffman_decode
from .huffman import encode as huffman_encode

MAX_HEADER_LIST = 65_536  # a response header list kept, name + value + 32 each (RFC 9113 6.5.2): announced in SETTINGS

__all__ = [
    "MAX_HEADER_LIST",
    "STATIC_TABLE",
    "DecodedBlock",
    "Decoder",
    "HpackError",
    "dynamic_index",
    "encode_field",
    "encode_integer",
    "entry_size",
    "static_index",
]

# RFC 7541 Appendix A; index 1 is the first entry.
STATIC_TABLE: tuple[tuple[bytes, bytes], ...] = (
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
)
_STATIC = (None, *STATIC_TABLE)  # by index
STATIC_LENGTH = len(STATIC_TABLE)
ENTRY_OVERHEAD = 32  # RFC 7541 §4.1
# Huffman-coded strings decoded before: a server codes the same values again and again (its
# name, a content type, the Date of this second), in blocks that differ in another field.
_decoded: dict[bytes, bytes] = {}
MAX_DECODED = 4096
MAX_INTEGER = 2**32 - 1  # above any HTTP/2 quantity (table sizes, lengths, indices); 5 bytes after a prefix hold it


class HpackError(ValueError):
    """A field block that cannot be decoded: a COMPRESSION_ERROR for the connection."""


class DecodedBlock(NamedTuple):
    """A decoded field block: its fields (None past the header list limit), whether it read the
    dynamic table, the entries it inserted (oldest first), and whether it resized the table."""

    fields: list[tuple[bytes, bytes]] | None
    read_table: bool
    inserted: tuple[tuple[bytes, bytes], ...]
    resized: bool


def entry_size(name: bytes, value: bytes) -> int:
    return len(name) + len(value) + ENTRY_OVERHEAD


def _integer(block: bytes, pos: int, mask: int) -> tuple[int, int]:
    """The integer whose prefix is the ``mask`` bits of ``block[pos]`` (RFC 7541 §5.1), and the
    position after it."""
    value = block[pos] & mask
    pos += 1
    if value < mask:
        return value, pos
    shift = 0
    end = len(block)
    while True:
        if pos >= end:
            raise HpackError("field block ends inside an integer")
        byte = block[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        if value > MAX_INTEGER:
            raise HpackError("integer larger than 2**32 in a field block")
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise HpackError("integer longer than 5 bytes after its prefix in a field block")


def _string(block: bytes, pos: int) -> tuple[bytes, int]:
    """A string literal (RFC 7541 §5.2) at ``pos``, and the position after it."""
    if pos >= len(block):
        raise HpackError("field block ends before a string")
    coded = block[pos] & 0x80
    length, pos = _integer(block, pos, 0x7F)
    end = pos + length
    if end > len(block):
        raise HpackError("string runs past the end of its field block")
    if not coded:
        return block[pos:end], end
    data = block[pos:end]
    text = _decoded.get(data)
    if text is None:
        try:
            text = huffman_decode(data)
        except HuffmanError as exc:
            raise HpackError(str(exc)) from None
        if len(_decoded) >= MAX_DECODED:
            _decoded.clear()
        _decoded[data] = text
    return text, end


class Decoder:
    """The decoding side of one connection's HPACK context.

    Besides decoding, it can :meth:`replay` the insertions of a block decoded before, which is
    what a cached block costs: nginx inserts the same fields with every response (and never reads
    them back), so replays are only queued, as runs of the same block's, and folded into the table
    when a block is decoded (the entries that survive a run of insertions are the newest that fit,
    which is all the folding needs to find: however long the run, it reads a table's worth).
    """

    def __init__(self, max_table_size: int = 4096, max_list_size: int = MAX_HEADER_LIST) -> None:
        self.max_table_size = max_table_size  # what this side announced (SETTINGS_HEADER_TABLE_SIZE)
        self.max_list_size = max_list_size  # what this side keeps (SETTINGS_MAX_HEADER_LIST_SIZE)
        self.table_size = max_table_size  # the encoder's current choice, up to max_table_size
        self.entries: deque[tuple[bytes, bytes]] = deque()  # the dynamic table, oldest first
        self.used = 0  # the size of its entries (RFC 7541 §4.1)
        self.version = 0  # bumped at every change to the dynamic table
        # replayed insertions not folded in yet: (a block's insertions, how many times in a row)
        self._queued: list[tuple[tuple[tuple[bytes, bytes], ...], int]] = []

    @property
    def table(self) -> list[tuple[bytes, bytes]]:
        """The dynamic table, newest first (its HPACK index order)."""
        self._fold()
        return list(reversed(self.entries))

    def replay(self, inserted: tuple[tuple[bytes, bytes], ...], times: int = 1) -> None:
        """Insert what a block decoded before inserted (not nothing), as decoding it again
        ``times`` would."""
        queued = self._queued
        self.version += times
        if queued and queued[-1][0] is inserted:
            queued[-1] = (inserted, queued[-1][1] + times)
        else:
            queued.append((inserted, times))
            if len(queued) > 64:
                self._fold()

    def _fold(self) -> None:
        """Apply the queued insertions: the table becomes the newest entries that fit, back to
        the first that does not (an entry larger than the table empties it, RFC 7541 §4.4)."""
        queued = self._queued
        if not queued:
            return
        self._queued = []
        newest: list[tuple[bytes, bytes]] = []
        budget = self.table_size
        for inserted, times in reversed(queued):
            for _ in range(times):
                for name, value in reversed(inserted):
                    size = len(name) + len(value) + ENTRY_OVERHEAD
                    if size > budget:
                        self.entries = deque(reversed(newest))
                        self.used = self.table_size - budget
                        return
                    newest.append((name, value))
                    budget -= size
        for name, value in newest[::-1]:
            self.entries.append((name, value))
        self.used = self.table_size - budget + self.used
        self._evict()

    def _entry(self, index: int) -> tuple[tuple[bytes, bytes], bool]:
        """The entry at ``index`` and whether it came from the dynamic table."""
        if 0 < index <= STATIC_LENGTH:
            return _STATIC[index], False  # type: ignore[return-value]
        entries = self.entries
        if index <= 0 or index - STATIC_LENGTH > len(entries):
            raise HpackError(f"field index {index} is in neither table ({len(entries)} dynamic entries)")
        return entries[STATIC_LENGTH - index], True

    def _insert(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + ENTRY_OVERHEAD
        if size > self.table_size:  # not an error: the table empties (RFC 7541 §4.4)
            self.entries.clear()
            self.used = 0
            return
        self.entries.append((name, value))
        self.used += size
        self._evict()

    def _evict(self) -> None:
        entries = self.entries
        while self.used > self.table_size:
            name, value = entries.popleft()
            self.used -= len(name) + len(value) + ENTRY_OVERHEAD

    def decode(self, block: bytes) -> DecodedBlock:
        """Decode one complete field block; raises :class:`HpackError` with the reason."""
        self._fold()
        fields: list[tuple[bytes, bytes]] | None = []
        inserted: list[tuple[bytes, bytes]] = []
        listed = 0
        read_table = resized = False
        pos = 0
        end = len(block)
        at_start = True
        while pos < end:
            byte = block[pos]
            if byte & 0x80:  # indexed field (§6.1)
                if byte != 0xFF:  # the index fits in the prefix
                    index = byte & 0x7F
                    pos += 1
                else:
                    index, pos = _integer(block, pos, 0x7F)
                field, dynamic = self._entry(index)
                read_table |= dynamic
            elif byte & 0x40:  # literal with incremental indexing (§6.2.1)
                field, pos, dynamic = self._literal(block, pos, 0x3F)
                read_table |= dynamic
                self._insert(*field)
                inserted.append(field)
            elif byte & 0x20:  # dynamic table size update (§6.3)
                if not at_start:
                    raise HpackError("dynamic table size update after the first field of a block")
                size, pos = _integer(block, pos, 0x1F)
                if size > self.max_table_size:
                    raise HpackError(f"dynamic table size update to {size}, above the {self.max_table_size} allowed")
                self.table_size = size
                self._evict()
                resized = True
                continue
            else:  # literal without indexing (§6.2.2) or never indexed (§6.2.3)
                field, pos, dynamic = self._literal(block, pos, 0x0F)
                read_table |= dynamic
            at_start = False
            if fields is not None:
                listed += len(field[0]) + len(field[1]) + ENTRY_OVERHEAD
                if listed > self.max_list_size:
                    fields = None
                else:
                    fields.append(field)
        if inserted or resized:
            self.version += 1
        return DecodedBlock(fields, read_table, tuple(inserted), resized)

    def _literal(self, block: bytes, pos: int, mask: int) -> tuple[tuple[bytes, bytes], int, bool]:
        """A literal field whose name is indexed (the prefix is not 0) or follows as a string."""
        if block[pos] & mask:
            index, pos = _integer(block, pos, mask)
            (name, _), dynamic = self._entry(index)
        else:
            name, pos = _string(block, pos + 1)
            dynamic = False
        value, pos = _string(block, pos)
        return (name, value), pos, dynamic


# -- the encoder side: representations that leave the dynamic table alone ----------------------


def encode_integer(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """``value`` with a ``prefix_bits`` prefix, OR-ed with the representation's ``first`` bits."""
    mask = (1 << prefix_bits) - 1
    if value < mask:
        return bytes((first | value,))
    out = bytearray((first | mask,))
    value -= mask
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _encode_string(data: bytes) -> bytes:
    """A string literal, Huffman-coded when that is shorter."""
    if encoded_length(data) < len(data):
        coded = huffman_encode(data)
        return encode_integer(len(coded), 7, 0x80) + coded
    return encode_integer(len(data), 7) + data


_STATIC_FIELDS = {field: index for index, field in reversed(list(enumerate(STATIC_TABLE, 1)))}
_STATIC_NAMES = {name: index for index, (name, _) in reversed(list(enumerate(STATIC_TABLE, 1)))}
SIZE_UPDATE_TO_ZERO = b"\x20"  # a dynamic table size update to 0 (§6.3), valid at any block start


def static_index(name: bytes, value: bytes) -> int | None:
    """The static table's index of the whole field, if it holds it."""
    return _STATIC_FIELDS.get((name, value))


def encode_field(name: bytes, value: bytes, sensitive: bool = False, insert: bool = False) -> bytes:
    """One field: indexed when the static table has it whole, else a literal that is not indexed
    (never indexed when ``sensitive``; with incremental indexing, into the dynamic table, when
    ``insert``), its name indexed from the static table when it is there."""
    index = _STATIC_FIELDS.get((name, value))
    if index is not None and not sensitive:
        return encode_integer(index, 7, 0x80)
    first, prefix = (0x40, 6) if insert else (0x10 if sensitive else 0x00, 4)
    name_index = _STATIC_NAMES.get(name)
    if name_index is not None:
        return encode_integer(name_index, prefix, first) + _encode_string(value)
    return bytes((first,)) + _encode_string(name) + _encode_string(value)


def dynamic_index(newer: int) -> bytes:
    """An indexed field from the dynamic table: the entry with ``newer`` entries after it."""
    return encode_integer(STATIC_LENGTH + 1 + newer, 7, 0x80)
