"""The framing of the live channel: a 4-byte length, then a pickle. One place for both ends."""

from __future__ import annotations

import pickle
import struct
from typing import Any

__all__ = ["Unframer", "frame"]

HEADER = struct.Struct("!I")


def frame(record: object) -> bytes:
    data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


class Unframer:
    """Bytes in as they arrive, whole records out."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self.buffer += data
        records = []
        while len(self.buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self.buffer)
            end = HEADER.size + size
            if len(self.buffer) < end:
                break
            records.append(pickle.loads(self.buffer[HEADER.size : end]))
            del self.buffer[:end]
        return records
