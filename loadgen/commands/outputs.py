"""The files a command writes (JSON, the HTML report), checked before the run so that a run is
never lost to a path that cannot be written."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import SetupError, UsageError
from ..result import Result

__all__ = ["check_html", "check_writable", "write_document", "write_html"]


def check_writable(path: str, what: str = "JSON") -> None:
    """Fail before the run, not after it, when a file cannot be written: try to open it."""
    target = Path(path)
    existed = target.exists()
    try:
        with open(target, "a"):
            pass
    except OSError as exc:
        raise SetupError(f"cannot write {what} to {path}: {exc.strerror or exc}") from None
    if not existed:
        target.unlink()


def check_html(path: str) -> None:
    """Before the run: the HTML report's file can be written and its plotting library is there.
    ``-`` is refused, not taken as stdout: that is where the report's text goes."""
    if path == "-":
        raise UsageError("--html writes a file: give it a file name (- is not stdout here)")
    if importlib.util.find_spec("matplotlib") is None:
        raise SetupError("the HTML report draws its charts with matplotlib: pip install 'loadgen[html]'")
    check_writable(path, "HTML")


def write_html(results: Sequence[tuple[str, Result]], path: str) -> None:
    from ..report.html import html_report  # matplotlib, imported only when a report is asked for

    try:
        Path(path).write_text(html_report(results))
    except OSError as exc:
        raise SetupError(f"cannot write HTML to {path}: {exc.strerror or exc}") from None


def write_document(text: str, path: str) -> None:
    """A JSON document to a file, or to stdout for ``-``."""
    if path == "-":
        sys.stdout.write(text + "\n")
        return
    try:
        Path(path).write_text(text + "\n")
    except OSError as exc:
        raise SetupError(f"cannot write JSON to {path}: {exc.strerror or exc}") from None
