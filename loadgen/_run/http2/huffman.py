"""HPACK's static Huffman code (RFC 7541 §5.2, Appendix B): decoding a byte at a time, encoding.

The appendix lists each symbol's code and length; the code is canonical (codes of one length are
consecutive, in symbol order, after the shorter ones), so the 257 lengths below determine every
code, and the tests check them against the appendix's codes as another implementation holds them.

Decoding runs through a table built at import: for each node of the code tree (256 of them) and
each input byte, the node reached after the byte's 8 bits and the symbols completed on the way.
One list index per input byte. The table is composed from a 4-bit one, which keeps the build to
about 10 ms (benchmarks/h2_core.py measures both).
"""

from __future__ import annotations

__all__ = ["HuffmanError", "decode", "encode", "encoded_length"]

# Appendix B's code lengths, symbols 0 to 255 and EOS (256), sixteen to a row.
LENGTHS = (
    *(13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28),
    *(28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28),
    *(6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6),
    *(5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10),
    *(13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7),
    *(7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6),
    *(15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5),
    *(6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28),
    *(20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23),
    *(24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24),
    *(22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23),
    *(21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23),
    *(26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25),
    *(19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27),
    *(20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23),
    *(26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26),
    30,
)
EOS = 256


class HuffmanError(ValueError):
    """The bytes are not a valid Huffman-coded string."""


def _canonical_codes(lengths: tuple[int, ...]) -> list[int]:
    """Each symbol's code, from the lengths alone (RFC 7541's code is canonical)."""
    codes = [0] * len(lengths)
    code, previous = -1, 0
    for symbol in sorted(range(len(lengths)), key=lambda s: (lengths[s], s)):
        code = (code + 1) << (lengths[symbol] - previous)
        previous = lengths[symbol]
        codes[symbol] = code
    return codes


CODES = _canonical_codes(LENGTHS)


def _code_tree() -> list[int]:
    """The code as a binary tree: ``children[2 * node + bit]`` is an inner node (> 0) or a leaf,
    ``~symbol`` (< 0). Node 0 is the root."""
    children = [0, 0]
    for symbol, (code, length) in enumerate(zip(CODES, LENGTHS, strict=True)):
        node = 0
        for shift in range(length - 1, 0, -1):
            slot = 2 * node + (code >> shift & 1)
            if not children[slot]:
                children[slot] = len(children) // 2
                children += (0, 0)
            node = children[slot]
        children[2 * node + (code & 1)] = ~symbol
    return children


_Step = tuple[int, bytes] | None  # (node reached, symbols completed), or None: EOS decoded
_SYMBOLS = [bytes((i,)) for i in range(256)]


def _steps(children: list[int], bits: int) -> list[list[_Step]]:
    """For every inner node, the outcome of each of the 2**bits inputs of that many bits."""
    table = []
    for node in range(len(children) // 2):
        level: list[_Step] = [(node, b"")]
        for _ in range(bits):
            following: list[_Step] = []
            for step in level:
                if step is None:
                    following += (None, None)
                    continue
                at, out = step
                for child in children[2 * at], children[2 * at + 1]:
                    if child > 0:
                        following.append((child, out))
                    elif child == ~EOS:
                        following.append(None)
                    else:
                        following.append((0, out + _SYMBOLS[~child]))
            level = following
        table.append(level)
    return table


def _byte_table(children: list[int]) -> list[_Step]:
    """``table[node << 8 | byte]``: two 4-bit steps composed."""
    nibbles = _steps(children, 4)
    table: list[_Step] = []
    for row in nibbles:
        for high in row:
            if high is None:
                table += [None] * 16
                continue
            at, out = high
            table += [None if low is None else (low[0], out + low[1]) for low in nibbles[at]]
    return table


def _accepting(children: list[int]) -> frozenset[int]:
    """Where a string may end: on a symbol boundary (the root), or inside at most 7 bits of
    padding, which must be the most significant bits of EOS (all ones)."""
    nodes, node = {0}, 0
    for _ in range(7):
        node = children[2 * node + 1]
        nodes.add(node)
    return frozenset(nodes)


_TREE = _code_tree()
_TABLE = _byte_table(_TREE)
_ACCEPTING = _accepting(_TREE)


def decode(data: bytes) -> bytes:
    """The string coded in ``data``; raises :class:`HuffmanError` on EOS, on padding longer than
    7 bits and on padding that is not all ones."""
    table = _TABLE
    node = 0
    parts: list[bytes] = []
    append = parts.append
    for byte in data:
        step = table[node << 8 | byte]
        if step is None:
            raise HuffmanError("Huffman string contains EOS")
        node, out = step
        append(out)
    if node not in _ACCEPTING:
        raise HuffmanError("Huffman string ends in invalid padding")
    return b"".join(parts)


def encoded_length(data: bytes) -> int:
    return (sum(LENGTHS[byte] for byte in data) + 7) // 8


def encode(data: bytes) -> bytes:
    """``data`` coded, padded with the most significant bits of EOS."""
    value = bits = 0
    for byte in data:
        value = value << LENGTHS[byte] | CODES[byte]
        bits += LENGTHS[byte]
    padding = -bits % 8
    value = value << padding | (1 << padding) - 1
    return value.to_bytes((bits + padding) // 8, "big")
