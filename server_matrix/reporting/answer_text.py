"""The report's first table: the original question answered on one screen (``statistics/answer.py``). Pure."""

from __future__ import annotations

from server_matrix.planning.endpoints import VARIANTS
from server_matrix.reporting.cell_text import informational_mark
from server_matrix.reporting.numbers import point_ratio_text, rate_interval_text
from server_matrix.statistics.answer import Answer, Column, Entry


def _entry_text(entry: Entry | None) -> str:
    """``1340 [1290, 1400]; gil=0/1 1.52 [1.40, 1.66] helps ⚑ unstable``; measured once,
    ``1340 (once); gil=0/1 1.52 (once) not judged``; informational, ``246 [127, 378] *(informational)*``."""
    if entry is None:
        return "-"
    parts = [] if entry.rate is None else [rate_interval_text(entry.rate) + informational_mark(entry.informational)]
    if entry.gil is not None:
        figure = point_ratio_text(entry.gil.value, entry.gil.ratio, mark=False, once=entry.gil.once)
        parts.append(f"gil=0/1 {figure} **{entry.gil.verdict}**")
    text = "; ".join(parts)
    return text + (f" ⚑ {', '.join(entry.flags)}" if entry.flags else "")


def _fastest_text(found: Answer, column: Column) -> str:
    """```granian-wsgi default build` 5886 [4116, 9143]``, then ``; cannot be told apart from `wsgi-gthread` ``; with
    single measurements, ``; 3 not compared (measured once: no interval)``: neither tied nor slower, as the Findings
    say (else a fastest of one run each read as ahead of every other)."""
    one = found.fastest.get(column)
    if one is None:
        return "-"
    tied = found.tied.get(column, ())
    apart = f"; cannot be told apart from {', '.join(f'`{other.cell.mode}`' for other in tied)}" if tied else ""
    untold = [
        row
        for row in found.rows
        if row.label != one.cell.mode
        and (entry := row.entries.get(column)) is not None
        and entry.rate is not None
        and not entry.informational
        and (one.rate.single or entry.rate.single)
    ]
    if untold:
        apart += f"; {len(untold)} not compared (measured once: no interval)"
    return f"`{one.label}` {rate_interval_text(one.rate)}{apart}"


def answer_lines(found: Answer, no_gil_comparison: str) -> list[str]:
    """One table per variant: a column per CPU-bound endpoint, the fastest first, then a row per mode; a line
    saying why there is none (the heading stood alone above the Findings, as if the text were lost)."""
    if not found.columns:
        return [
            "Not answered by this run: the answer compares the modes' requests/sec on the CPU-bound endpoints (those "
            "without a gateway's sleep), and no such cell was measured in the running (none was selected, or each "
            "failed or is informational: the Summary shows the cells there are).",
            "",
        ]
    lines = [
        "Per endpoint, the fastest default-build mode (the GIL on: a default build's, or gil=1 on a free-threaded "
        "one when the mode ran on no default build) and those that cannot be told apart from it; then each mode's "
        "default-build requests/sec [95% CI] and, "
        "where it ran under both gil=0 and gil=1, gil=0 / gil=1 [95% CI] with its verdict (turning the GIL off "
        "helps, hurts, or cannot be told apart); ⚑ the flags of the cells behind the figures.",
        "",
    ]
    lines += _reading_notes(found, no_gil_comparison)
    for variant in VARIANTS:
        lines += _variant_table(found, [column for column in found.columns if column[1] == variant])
    return lines + _gil0_only_lines(found)


def _gil0_only_lines(found: Answer) -> list[str]:
    """The modes measured only with the GIL off, which have no row (the tables compare GIL-on figures)."""
    if not found.gil0_only:
        return []
    names = ", ".join(f"`{label}`" for label in found.gil0_only)
    return [
        f"Measured only with the GIL off (gil=0), so without a row here (no GIL-on figure to rank, no gil=1 to "
        f"compare with): {names}; the Summary has their figures.",
        "",
    ]


def _reading_notes(found: Answer, no_gil_comparison: str) -> list[str]:
    """What to know before reading the tables: the informational modes, and why the GIL is not
    compared or not judged."""
    lines = []
    informational = [row.label for row in found.rows if any(entry.informational for entry in row.entries.values())]
    if informational:
        lines += [
            "*(informational)*: the mode is not meaningful under that figure's GIL setting (its section says why), "
            f"so it is not in the running for the fastest: {', '.join(f'`{label}`' for label in informational)}.",
            "",
        ]
    if not found.gil_compared:
        lines += [f"No mode ran under both gil=0 and gil=1 ({no_gil_comparison}).", ""]
    elif found.gil_single:
        lines += [
            "gil=0/1 `(once)`: a GIL setting measured once, so the ratio of single measurements, with no interval "
            "and **not judged** (one run says nothing of the next); leave out `--repeat 1` for a verdict.",
            "",
        ]
    return lines


def _variant_table(found: Answer, columns: list[Column]) -> list[str]:
    """One variant's table: the fastest first, then a row per mode measured in its columns (none
    without a column)."""
    if not columns:
        return []
    lines = [
        f"| {columns[0][1]} | {' | '.join(endpoint for endpoint, _ in columns)} |",
        "|---|" + "---|" * len(columns),
        "| **fastest** | " + " | ".join(_fastest_text(found, column) for column in columns) + " |",
    ]
    for row in found.rows:
        if any(column in row.entries for column in columns):
            texts = [_entry_text(row.entries.get(column)) for column in columns]
            lines.append(f"| {row.label} | {' | '.join(texts)} |")
    return [*lines, ""]
