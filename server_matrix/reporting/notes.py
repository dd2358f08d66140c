"""The report from ``# Django Workers`` on, in the original notes' layout: one ``##`` section per server, the
notes' ``###`` endpoint titles, ``#### Sync`` / ``#### Async``, and loadgen's wrk report in a ``bash`` block (the
median repetition's; of an even number, the slower middle one's), with what went wrong under it. Pure."""

from __future__ import annotations

import loadgen
from server_matrix.measuring.results import ERROR, SKIPPED, Cell
from server_matrix.reporting.cell_text import events_text, gil_text
from server_matrix.reporting.numbers import plain_rate
from server_matrix.statistics import estimates
from server_matrix.statistics.sections import Section


def _fenced(language: str, text: str) -> list[str]:
    return [f"```{language}", text.rstrip("\n"), "```"]


def cell_lines(cell: Cell) -> list[str]:
    """One ``####`` block: the wrk report, then anything that went wrong."""
    lines = [f"#### {cell.variant.capitalize()}", ""]
    result = cell.result
    if result is not None:
        lines += [*_fenced("bash", loadgen.wrk_report(result)), ""]
    if len(cell.samples) > 1:
        lines += [repetitions_text(cell), ""]
    if cell.status == SKIPPED:
        lines += [f"*Skipped: {cell.reason}*", ""]
    elif cell.status == ERROR:
        lines += [f"**Error:** {cell.reason}", ""]
        if cell.log_tail:
            lines += ["Server log (last lines):", "", *_fenced("text", cell.log_tail), ""]
    events = events_text(cell)
    if events:
        lines += [f"Server log: {events}.", ""]
    if cell.gil_mismatch:
        lines += [f"⚠ GIL asked → reported: {gil_text(cell)}, not what was asked for.", ""]
    return lines


def repetitions_text(cell: Cell) -> str:
    """Which repetition the block shows, and every repetition's requests/sec."""
    shown = cell.representative
    rates = ", ".join(
        plain_rate(sample.requests_per_sec) if sample.requests_per_sec is not None else sample.status
        for sample in cell.samples
    )
    which = "the first that failed" if shown.status == ERROR else "the median by requests/sec"
    rate = estimates.rate(cell)
    if shown.status != ERROR and rate is not None and rate.repetitions % 2 == 0:  # no repetition is the median
        median = plain_rate(rate.median)
        which = f"the slower of the two middle ones by requests/sec: the median, {median}, is their mean"
    number = cell.samples.index(shown) + 1
    return f"Repetition {number} of {len(cell.samples)} ({which}); requests/sec of each: {rates}."


def section_lines(section: Section) -> list[str]:
    lines = [f"## {section.heading}", ""]
    shared = section.shared_outcome
    if shared is not None:
        status, reason, log_tail = shared
        lines += [f"*Skipped: {reason}*" if status == SKIPPED else f"**Error:** {reason}", ""]
        if log_tail:
            lines += ["Server log (last lines):", "", *_fenced("text", log_tail), ""]
        return lines
    informational = section.cells[0].informational
    if informational:
        lines += [f"*Informational: {informational}.*", ""]
    endpoint_title = None
    for cell in section.cells:
        if cell.endpoint_title != endpoint_title:
            endpoint_title = cell.endpoint_title
            lines.append(f"### {endpoint_title}")
        lines += cell_lines(cell)
    return lines
