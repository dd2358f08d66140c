"""The result files the commands read (``report``, ``merge``, ``compare``): a Result, or one line
that says which file is wrong, which field, and why (the checks are :mod:`loadgen.report.resultcheck`'s)."""

from __future__ import annotations

import os
import stat

from ..errors import SetupError, shown
from ..inputfiles import file_path
from ..report import DocumentError, from_json_judged
from ..report.resultcheck import MAX_BYTES
from ..result import Result
from ..thresholds import Verdict

__all__ = ["read_judged", "read_result"]
CHUNK = 1 << 20


def _read_at_most(path: str, limit: int) -> bytes:
    """The file's bytes, refused when more than ``limit``: a regular file by its size, before
    reading; anything else (a pipe, a device) chunk by chunk, stopping at ``limit + 1`` bytes or
    as soon as it cannot be a JSON object (``/dev/zero``)."""
    with file_path(path).open("rb") as file:
        status = os.fstat(file.fileno())
        if stat.S_ISREG(status.st_mode):
            if status.st_size > limit:
                raise DocumentError(f"larger than {limit:,} bytes")
            return file.read()
        chunks: list[bytes] = []
        total = 0
        while total <= limit and (chunk := file.read(CHUNK)):
            chunks.append(chunk)
            total += len(chunk)
            if chunks[0].lstrip()[:1] not in (b"{", b""):
                break  # not a JSON object: what was read is enough to say so
        return b"".join(chunks)


def read_result(path: str) -> Result:
    return read_judged(path)[0]


def read_judged(path: str) -> tuple[Result, tuple[Verdict, ...]]:
    """The result and the verdicts of its run's ``--fail-on``, which the reports show again."""
    try:
        return from_json_judged(_read_at_most(path, MAX_BYTES))
    except OSError as exc:
        raise SetupError(f"cannot read {shown(path)}: {exc.strerror or exc}") from None
    except DocumentError as exc:
        raise SetupError(f"cannot read {shown(path)}: {exc}") from None
