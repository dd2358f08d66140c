"""The report's first table: the original question answered on one screen (``statistics/answer.py``). Pure."""

from __future__ import annotations

from server_matrix.planning.endpoints import VARIANTS
from server_matrix.reporting.numbers import rate_interval_text, ratio_text
from server_matrix.statistics.answer import Answer, Entry


def _entry_text(entry: Entry | None) -> str:
    """``1340 [1290, 1400]; gil=0/1 1.52 [1.40, 1.66] helps ⚑ unstable``."""
    if entry is None:
        return "-"
    parts = [] if entry.rate is None else [rate_interval_text(entry.rate)]
    if entry.gil is not None:
        parts.append(f"gil=0/1 {ratio_text(entry.gil.ratio, mark=False)} **{entry.gil.verdict}**")
    text = "; ".join(parts)
    return text + (f" ⚑ {', '.join(entry.flags)}" if entry.flags else "")


def answer_lines(found: Answer) -> list[str]:
    """One table per variant: a column per CPU-bound endpoint, the fastest first, then a row per mode."""
    if not found.columns:
        return []
    lines = [
        "Per endpoint, the fastest default-build mode; then each mode's default-build requests/sec [95% CI] and, "
        "where it ran under both gil=0 and gil=1, gil=0 / gil=1 [95% CI] with its verdict (turning the GIL off "
        "helps, hurts, or cannot be told apart); ⚑ the flags of the cells behind the figures.",
        "",
    ]
    if not found.gil_compared:
        lines += ["No mode ran under both gil=0 and gil=1 (that needs a free-threaded interpreter).", ""]
    for variant in VARIANTS:
        columns = [column for column in found.columns if column[1] == variant]
        if not columns:
            continue
        lines += [
            f"| {variant} | {' | '.join(endpoint for endpoint, _ in columns)} |",
            "|---|" + "---|" * len(columns),
        ]
        fastest = [found.fastest[column] for column in columns]
        lines.append(
            "| **fastest** | "
            + " | ".join(f"`{contender.label}` {rate_interval_text(contender.rate)}" for contender in fastest)
            + " |"
        )
        for row in found.rows:
            if any(column in row.entries for column in columns):
                texts = [_entry_text(row.entries.get(column)) for column in columns]
                lines.append(f"| {row.label} | {' | '.join(texts)} |")
        lines.append("")
    return lines
