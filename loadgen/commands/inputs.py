"""The result files the commands read (``report``, ``compare``): a Result, or one line that
says which file is wrong and why."""

from __future__ import annotations

from pathlib import Path

from ..errors import SetupError
from ..report import DocumentError, from_json
from ..result import Result

__all__ = ["read_result"]


def read_result(path: str) -> Result:
    try:
        return from_json(Path(path).read_text())
    except OSError as exc:
        raise SetupError(f"cannot read {path}: {exc.strerror or exc}") from None
    except DocumentError as exc:
        raise SetupError(f"cannot read {path}: {exc}") from None
