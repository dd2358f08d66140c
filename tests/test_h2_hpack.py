"""HPACK and its Huffman code, against the ``hpack`` package as an oracle: the same strings, the
same fields and the same dynamic table after every block, the same verdict on broken blocks;
and the cache of decoded responses, which must leave the decoder where decoding would."""

from __future__ import annotations

import os

import hpack
import pytest
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.table import HeaderTable
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen._run.http2 import huffman
from loadgen._run.http2.hpack import STATIC_TABLE, Decoder, HpackError, encode_field, encode_integer, entry_size
from loadgen._run.http2.requestblock import encode_request
from loadgen._run.http2.responsehead import ResponseHeads

ORACLE_HUFFMAN = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)


# -- Huffman ----------------------------------------------------------------------------------


def test_the_code_is_appendix_b() -> None:
    assert list(REQUEST_CODES) == huffman.CODES
    assert list(huffman.LENGTHS) == list(REQUEST_CODES_LENGTH)
    # A few rows of the appendix, as printed there
    assert (huffman.CODES[ord("a")], huffman.LENGTHS[ord("a")]) == (0x3, 5)
    assert (huffman.CODES[0], huffman.LENGTHS[0]) == (0x1FF8, 13)
    assert (huffman.CODES[huffman.EOS], huffman.LENGTHS[huffman.EOS]) == (0x3FFFFFFF, 30)


@given(st.binary(max_size=200))
def test_huffman_matches_the_oracle(data: bytes) -> None:
    coded = ORACLE_HUFFMAN.encode(data)
    assert huffman.encode(data) == coded
    assert huffman.encoded_length(data) == len(coded)
    assert huffman.decode(coded) == data


@given(st.binary(max_size=40))
def test_huffman_verdict_on_any_bytes_matches_the_oracle(data: bytes) -> None:
    try:
        expected: bytes | None = hpack.huffman_table.decode_huffman(data)
    except hpack.HPACKDecodingError:
        expected = None
    try:
        got: bytes | None = huffman.decode(data)
    except huffman.HuffmanError:
        got = None
    assert got == expected


@pytest.mark.parametrize(
    ("coded", "reason"),
    [
        (b"\xff\xff\xff\xff", "EOS"),  # 30 ones: EOS itself
        (b"\x1f\xff", "padding"),  # '0' then 11 bits of padding: more than 7
        (b"\x00", "padding"),  # '0' then 3 zero bits: padding that is not EOS's prefix
    ],
)
def test_invalid_huffman_strings_give_a_reason(coded: bytes, reason: str) -> None:
    with pytest.raises(huffman.HuffmanError, match=reason):
        huffman.decode(coded)


# -- the decoder against the oracle -----------------------------------------------------------


def test_the_static_table_is_appendix_a() -> None:
    assert tuple(HeaderTable.STATIC_TABLE) == STATIC_TABLE


def _string(data: bytes, coded: bool) -> bytes:
    if coded:
        data = huffman.encode(data)
        return encode_integer(len(data), 7, 0x80) + data
    return encode_integer(len(data), 7) + data


NAMES = st.sampled_from([b"content-type", b"x-a", b"date", b"server", b"set-cookie", b"x-longer-name"])
VALUES = st.binary(max_size=24) | st.sampled_from([b"", b"text/html", b"nginx", b"x" * 100])


@st.composite
def representation(draw: st.DrawFn) -> bytes:
    """One field representation of any kind (RFC 7541 §6), valid or not: indices may point past
    the tables, and a table size update may come anywhere."""
    kind = draw(st.sampled_from(["indexed", "incremental", "without", "never", "size"]))
    if kind == "indexed":
        return encode_integer(draw(st.integers(0, 75)), 7, 0x80)
    if kind == "size":
        return encode_integer(draw(st.sampled_from([0, 60, 200, 4096, 4097])), 5, 0x20)
    prefix, first = {"incremental": (6, 0x40), "without": (4, 0x00), "never": (4, 0x10)}[kind]
    value = _string(draw(VALUES), draw(st.booleans()))
    name_index = draw(st.integers(0, 70))
    if name_index:
        return encode_integer(name_index, prefix, first) + value
    return bytes((first,)) + _string(draw(NAMES), draw(st.booleans())) + value


@st.composite
def raw_block(draw: st.DrawFn) -> bytes:
    sizes = draw(st.lists(st.sampled_from([0, 60, 200, 4096]), max_size=2))
    fields = draw(st.lists(representation(), max_size=8))
    return b"".join(encode_integer(size, 5, 0x20) for size in sizes) + b"".join(fields)


def _oracle_decode(oracle: hpack.Decoder, block: bytes) -> list[tuple[bytes, bytes]] | None:
    try:
        return [(bytes(name), bytes(value)) for name, value in oracle.decode(block, raw=True)]
    except (hpack.HPACKDecodingError, hpack.InvalidTableIndex):
        return None


def _decode(decoder: Decoder, block: bytes) -> list[tuple[bytes, bytes]] | None:
    try:
        return decoder.decode(block).fields
    except HpackError:
        return None


def _assert_same_run(blocks: list[bytes]) -> None:
    """Both decoders through the same blocks: the same fields and table after each, the same
    verdict on the first block either refuses (after which a connection would be over)."""
    mine, oracle = Decoder(), hpack.Decoder()
    for block in blocks:
        expected = _oracle_decode(oracle, block)
        assert _decode(mine, block) == expected, block.hex()
        if expected is None:
            return
        assert mine.table == list(oracle.header_table.dynamic_entries)
        assert mine.table_size == oracle.header_table_size


@pytest.mark.slow
@settings(max_examples=300)
@given(st.lists(raw_block(), min_size=1, max_size=6))
def test_decoder_matches_the_oracle_on_any_representation(blocks: list[bytes]) -> None:
    _assert_same_run(blocks)


@settings(max_examples=200)
@given(st.lists(raw_block(), min_size=1, max_size=4), st.data())
def test_decoder_matches_the_oracle_on_damaged_blocks(blocks: list[bytes], data: st.DataObject) -> None:
    """A block cut short or with a byte changed: the same verdict, never another exception."""
    damaged = []
    for block in blocks:
        if not block or not data.draw(st.booleans()):
            damaged.append(block)
            continue
        at = data.draw(st.integers(0, len(block) - 1))
        if data.draw(st.booleans()):
            damaged.append(block[:at])
        else:
            damaged.append(block[:at] + bytes((data.draw(st.integers(0, 255)),)) + block[at + 1 :])
    _assert_same_run(damaged)


HEADER_LISTS = st.lists(st.lists(st.tuples(NAMES, st.binary(max_size=16)), max_size=6), min_size=1, max_size=8)


@settings(max_examples=200)
@given(HEADER_LISTS, st.data())
def test_decoder_reads_what_the_oracle_encoder_writes(
    lists: list[list[tuple[bytes, bytes]]], data: st.DataObject
) -> None:
    """The oracle's encoder indexes everything and refers back to its table, Huffman-codes at
    will and shrinks its table when told: the decoder follows it block after block."""
    encoder, mine = hpack.Encoder(), Decoder()
    for fields in lists:
        if data.draw(st.booleans()):
            encoder.header_table_size = data.draw(st.sampled_from([0, 64, 256, 4096]))
        block = encoder.encode(fields, huffman=data.draw(st.booleans()))
        assert mine.decode(block).fields == fields
        assert mine.table == list(encoder.header_table.dynamic_entries)


def test_limits_are_errors_with_a_reason() -> None:
    cases = {
        encode_integer(4097, 5, 0x20): "above the 4096 allowed",
        b"\x82" + encode_integer(0, 5, 0x20): "after the first field",
        b"\x80": "index 0",
        encode_integer(62, 7, 0x80): "neither table",
        b"\xff\x80\x80\x80\x80\x80\x01": "5 bytes",
        b"\xff\xff\xff\xff\xff\x7f": r"2\*\*32",
        encode_integer(2**32, 7, 0x80): r"2\*\*32",  # no HTTP/2 quantity reaches 2**32
        encode_integer(2**32 - 1, 7, 0x80): "neither table",  # the largest integer read
        b"\x40\x05ab": "past the end",
        b"\x40": "before a string",
        b"\xff": "inside an integer",
    }
    for block, reason in cases.items():
        with pytest.raises(HpackError, match=reason):
            Decoder().decode(block)


def test_an_entry_larger_than_the_table_empties_it() -> None:
    """RFC 7541 4.4: inserting an entry larger than the table empties it, and is not an error;
    the table is empty then, and the next entries fill it from nothing (an entry's size: its name's
    and value's lengths and 32)."""
    decoder = Decoder()
    decoder.decode(encode_field(b"x-a", b"a" * 3000, insert=True))
    decoder.decode(encode_field(b"x-big", b"b" * 5000, insert=True))
    assert decoder.table == [] and decoder.used == 0
    decoder.decode(encode_field(b"x-c", b"c" * 3000, insert=True))
    assert decoder.table == [(b"x-c", b"c" * 3000)]
    assert decoder.used == entry_size(b"x-c", b"c" * 3000) == 3 + 3000 + 32  # RFC 7541 4.1's size of an entry


def test_replayed_insertions_count_in_the_tables_size() -> None:
    """RFC 7541 4.1: the table's size is the sum of its entries' sizes, however they came in
    (decoded, or replayed for a cached block); past the 4,096 allowed, the oldest go (4.4)."""
    decoder = Decoder()
    first = decoder.decode(encode_field(b"x-a", b"a" * 1000, insert=True)).inserted
    second = decoder.decode(encode_field(b"x-b", b"b" * 1000, insert=True)).inserted
    decoder.replay(first)
    assert decoder.table == [*first, *second, *first] and decoder.used == 3 * 1035
    decoder.replay(second)
    assert decoder.table == [*second, *first, *second] and decoder.used == 3 * 1035
    # an entry may fill the table to its last byte (3 + 4,061 + 32 = 4,096), decoded or replayed
    whole = decoder.decode(encode_field(b"x-c", b"c" * 4061, insert=True)).inserted
    assert decoder.table == list(whole) and decoder.used == 4096
    decoder.replay(whole)
    assert decoder.table == list(whole) and decoder.used == 4096


def test_rfc_7541_appendix_c6_responses_in_a_256_byte_table() -> None:
    """The RFC's own example (C.6): Huffman-coded responses, the oldest entries evicted."""
    decoder = Decoder(max_table_size=256)
    blocks = [
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad"
        " 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2"
        " e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ]
    private, location = (b"cache-control", b"private"), (b"location", b"https://www.example.com")
    date, newer_date = (b"date", b"Mon, 21 Oct 2013 20:13:21 GMT"), (b"date", b"Mon, 21 Oct 2013 20:13:22 GMT")
    gzip, cookie = (
        (b"content-encoding", b"gzip"),
        (b"set-cookie", b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"),
    )
    expected = [  # the fields, and the table's size after them (RFC 7541 4.1)
        ([(b":status", b"302"), private, date, location], 222),
        ([(b":status", b"307"), private, date, location], 222),  # :status 302 evicted
        ([(b":status", b"200"), private, newer_date, location, gzip, cookie], 215),
    ]
    for block, (fields, size) in zip(blocks, expected, strict=True):
        assert decoder.decode(bytes.fromhex(block.replace(" ", ""))).fields == fields
        assert decoder.used == size
    assert decoder.table == [cookie, gzip, newer_date]


def test_a_header_list_past_the_limit_is_dropped_but_the_table_follows() -> None:
    encoder = hpack.Encoder()
    block = encoder.encode([(b"x-big", b"v" * 3000), (b"x-more", b"w" * 1000)])
    decoder = Decoder(max_list_size=2000)
    decoded = decoder.decode(block)
    assert decoded.fields is None
    assert decoder.table == list(encoder.header_table.dynamic_entries)
    # the limit holds a list of its size (RFC 9113 6.5.2: lengths of names and values, and 32 each)
    field = encode_field(b"x-a", b"v" * 100)
    assert Decoder(max_list_size=135).decode(field).fields == [(b"x-a", b"v" * 100)]
    assert Decoder(max_list_size=134).decode(field).fields is None


# -- the request's block ------------------------------------------------------------------------


def test_the_request_block_reads_the_same_in_any_table_state() -> None:
    """A value is sent without the spaces around it that -H keeps for HTTP/1.1 (RFC 9113 8.2.1)."""
    request = encode_request(
        "POST",
        "https",
        "/search?q=1",
        [
            ("Host", "example.test:8443"),
            ("Authorization", "Bearer x"),
            ("X-Custom", "  Value\t"),
            ("Connection", "close"),
        ],
        b"body",
    )
    expected = [
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":authority", b"example.test:8443"),
        (b":path", b"/search?q=1"),
        (b"authorization", b"Bearer x"),
        (b"x-custom", b"Value"),
        (b"content-length", b"4"),
    ]
    oracle = hpack.Decoder()
    for noise in ([], [(b"x-filler", b"a" * 50)] * 60, [(b"date", b"now")]):
        if noise:
            oracle.decode(hpack.Encoder().encode(noise), raw=True)
        table = list(oracle.header_table.dynamic_entries)
        assert [(bytes(n), bytes(v)) for n, v in oracle.decode(request.block, raw=True)] == expected
        assert list(oracle.header_table.dynamic_entries) == table  # the block changed nothing
    assert request.body == b"body"
    # On a connection of its own: inserted once, then named by index (credentials never indexed)
    server = hpack.Decoder()
    assert [(bytes(n), bytes(v)) for n, v in server.decode(request.inserting, raw=True)] == expected
    newest_first = [name for name, _ in server.header_table.dynamic_entries]
    assert newest_first == [b"content-length", b"x-custom", b":path", b":authority"]
    for _ in range(3):
        assert [(bytes(n), bytes(v)) for n, v in server.decode(request.indexed, raw=True)] == expected
    assert len(request.indexed) < len(request.block) // 3


def test_the_request_inserts_up_to_half_the_default_table() -> None:
    """Fields go into the server's dynamic table up to 2,048 bytes of it (RFC 7541 4.1 sizes),
    half the 4,096 every server starts with: here :authority's 43 and X-A's 35 + its value."""
    for value_length, inserted in ((1970, [b":authority", b"x-a"]), (1971, [b":authority"])):
        request = encode_request("GET", "http", "/", [("Host", "a"), ("X-A", "v" * value_length)])
        assert [name for name, _ in Decoder().decode(request.inserting).inserted] == inserted


VALUE_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=900)


@given(st.lists(st.tuples(st.sampled_from(["x-a", "x-b", "accept", "user-agent"]), VALUE_TEXT), max_size=8))
def test_the_indexed_request_block_names_what_the_inserting_one_inserted(headers: list[tuple[str, str]]) -> None:
    """Whatever the fields (and however many fit in the half of the table it may use)."""
    request = encode_request("GET", "http", "/x", [("Host", "h"), *headers])
    server = hpack.Decoder()
    first = server.decode(request.inserting, raw=True)
    assert server.header_table._current_size <= 2048
    assert server.decode(request.indexed, raw=True) == first == hpack.Decoder().decode(request.block, raw=True)


# -- the cache of decoded responses ----------------------------------------------------------------


def _nginx_like_block(date: bytes) -> bytes:
    """nginx's way: every field a literal with incremental indexing, never read back."""
    out = b"\x88"
    for name, value in ((b"server", b"nginx/1.22.1"), (b"date", date), (b"content-type", b"text/plain")):
        index = STATIC_TABLE.index((name, b"")) + 1
        out += encode_integer(index, 6, 0x40) + _string(value, True)
    return out


@settings(max_examples=150)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=120), st.booleans())
def test_cached_blocks_leave_the_decoder_where_decoding_would(picks: list[int], referring: bool) -> None:
    """Responses from a small pool, many sent again, by a server that refers back to its
    dynamic table (the h2 library's encoder) or one that inserts the same fields every time
    (nginx): through the cache (which replays insertions, or reuses a block that read the table
    while it is unchanged) the fields and the table are what plain decoding gives."""
    encoder = hpack.Encoder()
    nginx_blocks = [_nginx_like_block(b"Tue, 0%d Dec 2026 10:00:00 GMT" % i) for i in range(6)]
    cached, plain = ResponseHeads(Decoder()), Decoder()
    for i, pick in enumerate(picks):
        if referring:
            block = encoder.encode([(b":status", b"200"), (b"date", b"day %d" % (pick % 3)), (b"x-id", b"%d" % pick)])
        else:
            block = nginx_blocks[pick]
        head = cached.cache.get(block)
        if head is None or (head.version >= 0 and head.version != cached.decoder.version):
            head = cached.decode(block)
        elif head.inserted:
            cached.decoder.replay(head.inserted)
        assert head.fields == plain.decode(block).fields
        if i % 40 == 39:  # now and then: the queue of replays is folded when the table is read
            assert cached.decoder.table == plain.table
    assert cached.decoder.table == plain.table and cached.decoder.used == plain.used


def test_nginx_blocks_are_decoded_once() -> None:
    block = _nginx_like_block(b"Tue, 01 Dec 2026 10:00:00 GMT")
    heads = ResponseHeads(Decoder())
    first = heads.decode(block)
    assert first.status == 200 and first.version == -1 and len(first.inserted) == 3
    assert heads.cache[block] is first


def test_a_connection_keeps_few_blocks_as_the_date_moves_on() -> None:
    """nginx's block changes with its Date, once a second: the old ones never come again. Kept
    up to 256 (then cleared), a connection held one more a second for four minutes: 40 MB a
    minute for a worker of 500 connections. The newest are kept, the stale dropped."""
    heads = ResponseHeads(Decoder())
    blocks = [_nginx_like_block(b"Tue, 01 Dec 2026 10:%02d:%02d GMT" % divmod(second, 60)) for second in range(40)]
    for block in blocks:
        heads.decode(block)
    assert len(heads.cache) <= 16
    assert blocks[-1] in heads.cache and blocks[0] not in heads.cache


def test_random_bytes_never_raise_anything_but_a_decoding_error() -> None:
    for _ in range(3000):
        block = os.urandom(int.from_bytes(os.urandom(1), "big") % 24)
        _decode(Decoder(), block)
