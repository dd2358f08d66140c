"""A Comparison as text, as a Markdown table (for a pull request's comment) or as JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from ..comparison import METHOD, MIN_SECONDS, Change, Comparison, Difference
from .figures import value_text

__all__ = [
    "FORMATS",
    "change_text",
    "comparison_json",
    "comparison_markdown",
    "comparison_text",
    "note",
    "verdict_line",
]

HEADER = ("metric", "BASE", "NEW", "change", "significant")
TARGET_HEADER = ("target", "metric", "BASE", "NEW", "change")
TARGETS_NOTE = "targets: each one's figures over the whole run, side by side (not judged: a target keeps no seconds)"


def _value(change: Change, value: float | None) -> str:
    return "n/a" if value is None else value_text(value, change.metric.unit)


def change_text(change: Change) -> str:
    pct = change.change_pct
    if pct is None:
        return "n/a"
    return "from 0" if math.isinf(pct) else f"{pct:+.1f}%"


def _significance(change: Change) -> str:
    if change.significant is None:
        return "n/a"
    if not change.significant:
        return "no"
    return "yes, worse" if change.worse else "yes, better"


def _rows(comparison: Comparison) -> list[tuple[str, ...]]:
    return [
        (c.metric.name, _value(c, c.base), _value(c, c.new), change_text(c), _significance(c))
        for c in comparison.changes
    ]


def _target_rows(comparison: Comparison) -> list[tuple[str, ...]]:
    return [
        (target.label, c.metric.name, _value(c, c.base), _value(c, c.new), change_text(c))
        for target in comparison.targets
        for c in target.changes
    ]


def _aligned(rows: Sequence[Sequence[str]], left: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _listed(changes: Sequence[Change]) -> str:
    return ", ".join(f"{change.metric.name} {change_text(change)}" for change in changes)


def note(difference: Difference) -> str:
    """Why a difference between the runs matters when reading their figures."""
    if difference.what == "mode":
        return (
            f"BASE is a {difference.base} run and NEW a {difference.new} one: their latencies count from "
            "different moments (the write of a request, or the time it was due to be sent)"
        )
    if difference.what == "rate":
        return (
            f"BASE asked for {difference.base} and NEW for {difference.new}: a constant-rate run's "
            "requests/sec is the rate asked, and its latency the server's at that load"
        )
    if difference.what == "in flight":
        return (
            f"BASE kept up to {difference.base} requests in flight and NEW {difference.new} (-c, times --streams "
            "over HTTP/2): in a closed loop they are the load, which sets the requests/sec and the latency"
        )
    if difference.what == "targets":
        return (
            f"BASE and NEW ran different targets (only in BASE: {difference.base or 'none'}; only in NEW: "
            f"{difference.new or 'none'}): the run's figures are of other requests"
        )
    if difference.what == "target":
        return (
            f"BASE and NEW sent a target otherwise (BASE: {difference.base}; NEW: {difference.new}): "
            "the run's figures are of another mix of requests"
        )
    return f"BASE and NEW measured different {difference.what}s ({difference.base}, {difference.new})"


def verdict_line(comparison: Comparison) -> str:
    """``no significant change``, ``significant regression: p99 +31.2%, ...`` or the like."""
    if not comparison.judged:
        return f"significance not judged: each run needs at least {MIN_SECONDS} seconds of timeline"
    if comparison.regressions:
        return f"significant regression: {_listed(comparison.regressions)}"
    if comparison.improvements:
        return f"significant improvement: {_listed(comparison.improvements)}"
    return "no significant change"


def comparison_text(comparison: Comparison, base: str, new: str) -> str:
    lines = [f"BASE {base}", f"NEW  {new}", *(f"note: {note(d)}" for d in comparison.differences), ""]
    lines += _aligned([HEADER, *_rows(comparison)], {0, 4})
    if comparison.targets:
        lines += ["", TARGETS_NOTE, *_aligned([TARGET_HEADER, *_target_rows(comparison)], {0, 1})]
    lines += ["", verdict_line(comparison), f"method: {METHOD}"]
    return "\n".join(lines) + "\n"


def comparison_markdown(comparison: Comparison, base: str, new: str) -> str:
    lines = [f"BASE `{base}`, NEW `{new}`", *(f"> note: {note(d)}" for d in comparison.differences)]
    lines += ["", "| " + " | ".join(HEADER) + " |", "|---|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(comparison)]
    if comparison.targets:
        lines += ["", TARGETS_NOTE[0].upper() + TARGETS_NOTE[1:] + ".", ""]
        lines += ["| " + " | ".join(TARGET_HEADER) + " |", "|---|---|---:|---:|---:|"]
        lines += ["| " + " | ".join(row) + " |" for row in _target_rows(comparison)]
    lines += ["", f"**{verdict_line(comparison)}**", "", f"Method: {METHOD}."]
    return "\n".join(lines) + "\n"


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else value


def _metric_entry(c: Change) -> dict[str, object]:
    return {
        "metric": c.metric.name,
        "unit": c.metric.unit,
        "base": c.base,
        "new": c.new,
        "change_pct": _finite(c.change_pct),
        "interval": list(c.interval) if c.interval else None,
        "significant": c.significant,
        "worse": c.worse,
    }


def comparison_json(comparison: Comparison, base: str, new: str) -> str:
    metrics = [_metric_entry(c) for c in comparison.changes]
    document = {
        "base": base,
        "new": new,
        "method": METHOD,
        "notes": [note(difference) for difference in comparison.differences],
        "metrics": metrics,
        "verdict": verdict_line(comparison),
        "regression": bool(comparison.regressions),
        "targets": [
            {"label": target.label, "metrics": [_metric_entry(c) for c in target.changes]}
            for target in comparison.targets
        ],
    }
    return json.dumps(document, indent=2) + "\n"


FORMATS = {"text": comparison_text, "markdown": comparison_markdown, "json": comparison_json}
