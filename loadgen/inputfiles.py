"""The files a run reads whole from its user: a body, a script, a target's ``@file``, a certificate.

One without an end (``--body-file /dev/zero``) filled the memory and ended in a MemoryError's
traceback; here it is an OSError like any file that cannot be read, which each caller already
says in one line, naming its flag and file.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

TOO_LARGE = "too large to hold in memory"

T = TypeVar("T")


def _within_memory(read: Callable[[], T]) -> T:
    """What ``read`` returns, or an OSError (ENOMEM, :data:`TOO_LARGE`) for a file larger than the memory."""
    try:
        return read()
    except MemoryError:
        raise OSError(errno.ENOMEM, TOO_LARGE) from None


def file_path(path: str | Path) -> Path:
    """The file a user named, or an OSError for a name no file has: Python's open() raised a ValueError for a NUL
    in it, which no caller said as a file it could not read or write (``script="a\\0b.py"`` and
    ``read_targets("a\\0b")`` from the API: a traceback)."""
    if "\0" in str(path):
        raise OSError(errno.EINVAL, "a file's name holds no NUL character")
    return Path(path)


def read_whole(path: str | Path) -> bytes:
    """The file's bytes."""
    return _within_memory(file_path(path).read_bytes)


def read_standard_input() -> bytes:
    """Standard input's bytes, to its end (``--body-file -``, as curl's ``--data-binary @-``)."""
    if sys.stdin is None:  # started with it closed (<&-)
        raise OSError(errno.EBADF, "standard input is closed")
    stdin: BinaryIO = sys.stdin.buffer
    return _within_memory(stdin.read)


def read_whole_text(path: str | Path) -> str:
    """The file's text, read as ``Path.read_text`` reads it (the locale's encoding, universal newlines)."""
    return _within_memory(file_path(path).read_text)
