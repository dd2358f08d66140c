"""The files a run reads whole from its user: a body, a script, a target's ``@file``, a certificate.

One without an end (``--body-file /dev/zero``) filled the memory and ended in a MemoryError's
traceback; here it is an OSError like any file that cannot be read, which each caller already
says in one line, naming its flag and file.
"""

from __future__ import annotations

import errno
from pathlib import Path

TOO_LARGE = "too large to hold in memory"


def read_whole(path: str | Path) -> bytes:
    """The file's bytes, or an OSError (ENOMEM, :data:`TOO_LARGE`) for one larger than the memory."""
    try:
        return Path(path).read_bytes()
    except MemoryError:
        raise OSError(errno.ENOMEM, TOO_LARGE) from None


def read_whole_text(path: str | Path) -> str:
    """The file's text, as ``Path.read_text`` decodes it (UnicodeDecodeError for one that is not text)."""
    return read_whole(path).decode()
