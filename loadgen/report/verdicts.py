"""Threshold verdicts as text (one stderr line each) and as JSON entries."""

from __future__ import annotations

from typing import Any

from ..thresholds import Verdict
from .figures import value_text

__all__ = ["measured_text", "threshold_entry", "threshold_line"]


def measured_text(verdict: Verdict) -> str:
    """``p99 = 73.2ms``, or why there is no value."""
    metric = verdict.threshold.subject
    if verdict.value is None:
        return f"{metric}: nothing measured, no response"
    return f"{metric} = {value_text(verdict.value, verdict.threshold.unit)}"


def threshold_line(verdict: Verdict) -> str:
    """``threshold p99<50ms: failed (p99 = 73.2ms)``."""
    outcome = "passed" if verdict.passed else "failed"
    return f"threshold {verdict.threshold.expression}: {outcome} ({measured_text(verdict)})"


def threshold_entry(verdict: Verdict) -> dict[str, Any]:
    """The JSON document's ``thresholds`` entry: the expression, its measured value, the verdict."""
    t = verdict.threshold
    return {
        "expression": t.expression,
        "metric": t.metric,
        "target": t.target,
        "operator": t.operator,
        "limit": t.limit,
        "unit": t.unit,
        "value": verdict.value,
        "verdict": "passed" if verdict.passed else "failed",
    }
