"""The result files the commands read (``report``, ``merge``, ``compare``): a Result, or one line
that says which file is wrong, which field, and why (the checks are :mod:`loadgen.report.resultcheck`'s)."""

from __future__ import annotations

from ..errors import SetupError
from ..report import DocumentError, from_json
from ..report.resultcheck import MAX_BYTES
from ..result import Result

__all__ = ["read_result"]


def read_result(path: str) -> Result:
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_BYTES + 1)  # no more than the limit, whatever the file (a pipe, /dev/zero)
        return from_json(data)
    except OSError as exc:
        raise SetupError(f"cannot read {path}: {exc.strerror or exc}") from None
    except DocumentError as exc:
        raise SetupError(f"cannot read {path}: {exc}") from None
