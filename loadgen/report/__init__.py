"""Renderers: a Result in, text out; nothing here does I/O.

wrk's report (wrk2's in constant-rate mode), the JSON document and its reader, the diagnosis
lines for stderr, and the live progress line. The JSON document's names are imported on first
use (its reader checks documents against the schema): a run that writes none starts without them;
and wrk2's report by the constant-rate runs only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..result import Result, check_result
from .targets import status_lines, targets_table
from .wrk import WrkReport, format_time_us, phases_lines, wrk_report_text

if TYPE_CHECKING:
    from .jsondoc import DocumentError, from_document, from_json, from_json_judged, to_document, to_json

_JSON_NAMES = {"DocumentError", "from_document", "from_json", "from_json_judged", "to_document", "to_json"}

__all__ = [
    "DocumentError",
    "format_time_us",
    "from_document",
    "from_json",
    "from_json_judged",
    "to_document",
    "to_json",
    "wrk_report",
]


def wrk_report(
    result: Result, *, latency: bool = False, header: bool = True, phases: bool = False, status_codes: bool = False
) -> str:
    """The report exactly as the CLI prints it (``latency`` is ``--latency``; ``phases`` is
    ``--phases``: the latency phases after the distribution, if any, before the totals; ``status_codes``
    is ``--status-codes``), a run of targets' table after it: the API's report had no table, which the
    command printed after it."""
    check_result(result, "wrk_report(result) takes")
    return (
        totals_text(result, latency=latency, header=header, phases=phases)
        + targets_table(result)
        + (status_lines(result) if status_codes else "")
    )


def totals_text(result: Result, *, latency: bool = False, header: bool = True, phases: bool = False) -> str:
    """wrk's report (wrk2's for a paced run): the totals, without a run of targets' table, which
    the HTML page shows in its own section (the page showed it twice)."""
    extra = phases_lines(result) if phases else []
    if result.paced:
        from .wrk2 import paced_report_text  # wrk2's report and its HdrHistogram: constant-rate runs only

        return paced_report_text(result, latency=latency, header=header, extra=extra)
    return wrk_report_text(WrkReport.of(result), latency=latency, header=header, extra=extra)


def __getattr__(name: str) -> Any:
    if name in _JSON_NAMES:
        return getattr(importlib.import_module(".jsondoc", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
