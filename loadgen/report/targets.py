"""The table of a run with several targets (``--targets``), printed after wrk's report (which
stays the totals): per target, its requests and rate, its latency percentiles as the report's
Latency row measures them, its errors by kind and its status counts; then, with
``--status-codes``, the run's count of each status code."""

from __future__ import annotations

from ..result import Errors, Result, TargetStats
from .figures import rate_text
from .wrk import format_time_us

__all__ = ["ERROR_KINDS", "HEADINGS", "error_text", "status_lines", "status_text", "targets_table"]

HEADINGS = ("Target", "Requests", "Req/Sec", "p50", "p90", "p99", "Max", "Errors", "Statuses")
ERROR_KINDS = ("connect", "read", "write", "timeout", "status")


def error_text(errors: Errors) -> str:
    """``read 2, timeout 1``; ``0`` without any."""
    parts = [f"{kind} {getattr(errors, kind):,}" for kind in ERROR_KINDS if getattr(errors, kind)]
    return ", ".join(parts) or "0"


def status_text(target: TargetStats) -> str:
    """``200: 1,204, 503: 3``."""
    return ", ".join(f"{status}: {count:,}" for status, count in sorted(target.status_counts.items())) or "-"


def _row(target: TargetStats) -> tuple[str, ...]:
    latency = target.latency
    percentiles = [latency.percentile(p) for p in (50, 90, 99)]
    times = [format_time_us(us) for us in (*percentiles, latency.max)] if latency.count else ["-"] * 4
    return (
        target.label,
        f"{target.requests:,}",
        rate_text(target.requests_per_sec),
        *times,
        error_text(target.errors),
        status_text(target),
    )


def targets_table(result: Result) -> str:
    """The table, or nothing for a run of one URL; text columns left-aligned, numbers right."""
    if not result.targets:
        return ""
    rows = [HEADINGS, *map(_row, result.targets)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADINGS))]
    left = {0, len(HEADINGS) - 2, len(HEADINGS) - 1}
    lines = ["  Targets:"]
    for row in rows:
        cells = [
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("    " + "  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def status_lines(result: Result) -> str:
    """``--status-codes``: the count of each status code, after the report."""
    lines = ["  Status codes:"] + [f"    {status}: {count}" for status, count in sorted(result.status_counts.items())]
    return "\n".join(lines) + "\n"
