"""report.md, put together: the state of the run, the original question answered on one screen, the findings, a
summary per endpoint, the environment and how to read it, then the notes' layout (``notes.py``).

The cells are grouped by server once and the verdicts drawn once, here, and handed to the parts
that need them: each part reads the results it is given and nothing else. Pure: results in, text out.
"""

from __future__ import annotations

from server_matrix.measuring.results import ERROR, OK, SKIPPED, MatrixResults
from server_matrix.reporting.answer_text import answer_lines
from server_matrix.reporting.context import (
    environment_lines,
    free_threaded_hint,
    method_lines,
    modes_lines,
    no_gil_comparison,
    reading_guide,
)
from server_matrix.reporting.findings import findings_lines
from server_matrix.reporting.notes import section_lines
from server_matrix.reporting.summary import summary_lines
from server_matrix.statistics.answer import answer
from server_matrix.statistics.sections import sections
from server_matrix.statistics.verdicts import verdicts


def render_report(results: MatrixResults) -> str:
    parameters = results.parameters
    all_sections = sections(results)
    found = verdicts(all_sections)
    cells = results.cells.values()
    state = (
        "complete"
        if results.complete
        else "interrupted: only the finished cells are shown"
        if results.interrupted
        else "incomplete"
    )
    wall = f", {_wall_time(results.wall_time_s)}" if results.wall_time_s is not None else ""
    lines = [
        f"# Server matrix: `{parameters.get('profile')}` profile",
        "",
        *free_threaded_hint(results),
        f"{results.started_at} → {results.updated_at}{wall}; {state}. "  # the counts of the run's last line:
        f"{sum(c.status in (OK, ERROR) for c in cells)} cells measured{_kept(results)}, "
        f"{sum(c.status == ERROR for c in cells)} of them failed, {sum(c.status == SKIPPED for c in cells)} skipped.",
        "",
        "## The answer: which server mode, and does turning the GIL off help?",
        "",
        *answer_lines(answer(all_sections, found), no_gil_comparison(results)),
        "## Findings",
        "",
        *findings_lines(results, found),
        "",
        "## Summary",
        "",
        *summary_lines(all_sections, found),
        *[f"**Warning:** {warning}" for warning in results.warnings],
        *([""] if results.warnings else []),
        "## Environment",
        "",
        *environment_lines(results),
        "",
        "## Modes",
        "",
        *modes_lines(results),
        "",
        "## How to read this report",
        "",
        *reading_guide(results),
        "",
        "### How the numbers are computed",
        "",
        *method_lines(results),
        "",
        "# Django Workers",
    ]
    for section in all_sections:
        lines += section_lines(section)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def _wall_time(seconds: float) -> str:
    """``18.4 min``; under a minute in seconds (a quick run read "0.0 min")."""
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _kept(results: MatrixResults) -> str:
    """`` (8 kept from an earlier run)``: the times before it are this run's, and a re-run that measured nothing read
    "18:52:43 → 18:52:44, 1 s; complete. 8 cells measured". A cell is kept when every repetition began before."""
    start = results.started_at
    if start is None:
        return ""
    kept = sum(
        cell.status in (OK, ERROR)
        and all(sample.started_at is not None and sample.started_at < start for sample in cell.samples)
        for cell in results.cells.values()
    )
    return f" ({kept} kept from an earlier run)" if kept else ""
