"""Renderers: a Result in, text out; nothing here does I/O.

wrk's report (wrk2's in constant-rate mode), the JSON document and its reader, the diagnosis
lines for stderr, and the live progress line.
"""

from __future__ import annotations

from ..result import Result
from .jsondoc import DocumentError, from_document, from_json, to_document, to_json
from .wrk import WrkReport, format_time_us, phases_lines, wrk_report_text
from .wrk2 import paced_report_text

__all__ = ["DocumentError", "format_time_us", "from_document", "from_json", "to_document", "to_json", "wrk_report"]


def wrk_report(result: Result, *, latency: bool = False, header: bool = True, phases: bool = False) -> str:
    """The report exactly as the CLI prints it (``latency`` is ``--latency``; ``phases``, with it,
    is ``--phases``: the latency phases after the distribution, before the totals)."""
    extra = phases_lines(result) if latency and phases else []
    if result.paced:
        return paced_report_text(result, latency=latency, header=header, extra=extra)
    return wrk_report_text(WrkReport.of(result), latency=latency, header=header, extra=extra)
