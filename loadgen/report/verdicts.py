"""Threshold verdicts as text (one stderr line each) and as JSON entries."""

from __future__ import annotations

import reprlib
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
    """The JSON document's ``thresholds`` entry: the expression, its measured value, the verdict;
    a TypeError saying what it takes for anything else (``to_json(result, thresholds=["p99<1s"])``
    was an AttributeError from here: 'str' object has no attribute 'threshold')."""
    if not isinstance(verdict, Verdict):
        takes = "the Verdicts that loadgen.check_thresholds(result, expressions) returns"
        raise TypeError(f"thresholds must be {takes}, not {reprlib.repr(verdict)}")
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
