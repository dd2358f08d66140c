"""Pass/fail thresholds over a Result (``--fail-on``, ``loadgen capacity --slo``).

An expression is parsed once, before anything runs, so a typo fails in a second rather than
after the load test; it is judged against the Result afterwards. Nothing here prints: the lines
and the JSON entries are rendered by :mod:`loadgen.report.verdicts`.

Latency metrics read :attr:`Result.latency`, what the report shows: corrected for coordinated
omission (from the intended send times in ``-R`` mode). Like wrk, a response slower than
``--timeout`` counts as a timeout, not as a latency: ``timeouts==0`` catches those.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import UsageError
from .result import Result
from .units import METRIC_SCALES, MICROSECONDS, NUMBER

__all__ = ["Threshold", "Verdict", "check_thresholds"]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
COUNTED = ("errors", "non2xx", "timeouts")
METRICS = "pN (p50, p99.9, ...), mean, max, rps, errors, non2xx, timeouts"
_EXPRESSION = re.compile(rf"\s*([A-Za-z0-9.]+)\s*(<=|>=|==|<|>)\s*({NUMBER})\s*(\S*)\s*", re.ASCII)
_PERCENTILE = re.compile(r"p([0-9]+(?:\.[0-9]+)?)")


@dataclass(frozen=True)
class Threshold:
    """One parsed expression; ``limit`` is in ``unit``: ``us`` for latencies, ``req/s`` for the
    rate, ``%`` or ``count`` for errors, non-2xx responses and timeouts."""

    expression: str
    metric: str
    operator: str
    limit: float
    unit: str

    @classmethod
    def parse(cls, text: str) -> Threshold:
        match = _EXPRESSION.fullmatch(text)
        if not match and any(char.isdigit() and not char.isascii() for char in text):
            raise UsageError(f"invalid threshold {text!r}: write numbers with the digits 0-9")
        if not match:
            raise UsageError(f"invalid threshold {text!r}: expected METRIC OP VALUE, as p99<50ms or rps>=1000")
        metric, op, number, suffix = match.group(1).lower(), match.group(2), float(match.group(3)), match.group(4)
        return cls(text.strip(), metric, op, *_limit(text, metric, number, suffix))

    def measure(self, result: Result) -> float | None:
        """The measured value in ``unit``; None when there is nothing to measure (no response)."""
        if self.unit == "us":
            latency = result.latency
            if not latency.counts:
                return None
            if self.metric == "mean":
                return latency.mean
            return float(latency.max if self.metric == "max" else latency.percentile(_percentile(self.metric)))
        if self.metric == "rps":
            return result.requests_per_sec
        count, whole = _counted(result, self.metric)
        if self.unit == "count":
            return float(count)
        return 100 * count / whole if whole else None


@dataclass(frozen=True)
class Verdict:
    """A threshold and what the run measured for it."""

    threshold: Threshold
    value: float | None

    @property
    def passed(self) -> bool:
        return self.value is not None and OPERATORS[self.threshold.operator](self.value, self.threshold.limit)


def _percentile(metric: str) -> float:
    return float(metric[1:])


def _limit(text: str, metric: str, number: float, suffix: str) -> tuple[float, str]:
    """The limit in the metric's unit, or a usage error saying what the metric takes."""

    def invalid(why: str) -> UsageError:
        return UsageError(f"invalid threshold {text!r}: {why}")

    if metric in ("mean", "max") or _PERCENTILE.fullmatch(metric):
        if metric.startswith("p") and not 0 < _percentile(metric) <= 100:
            raise invalid("a percentile is within (0, 100]")
        if suffix.lower() not in MICROSECONDS:
            raise invalid(f"{metric} is a latency: give a time unit (us, ms, s, m, h), as {metric}<50ms")
        return number * MICROSECONDS[suffix.lower()], "us"
    if metric == "rps":
        if suffix.lower() not in METRIC_SCALES:
            raise invalid("rps is requests/sec: a number, with k or M if you like (rps>=1k)")
        return number * METRIC_SCALES[suffix.lower()], "req/s"
    if metric in COUNTED:
        if suffix not in ("", "%"):
            raise invalid(f"{metric} is a count ({metric}==0) or a share of requests ({metric}<0.1%)")
        if suffix and number > 100:
            raise invalid(f"{metric} as a share is at most 100%")
        return number, "%" if suffix else "count"
    raise invalid(f"unknown metric {metric!r} (known: {METRICS})")


def _counted(result: Result, metric: str) -> tuple[int, int]:
    """How many requests the counted metric saw, and out of how many.

    errors: socket errors, timeouts and statuses > 399, over every request that ended (responses
    and requests lost to a socket error); non2xx: responses outside 200-299, over responses;
    timeouts: responses slower than --timeout, over responses.
    """
    errors = result.errors
    if metric == "errors":
        return errors.socket + errors.status, result.requests + errors.connect + errors.read + errors.write
    if metric == "non2xx":
        return sum(n for status, n in result.status_counts.items() if not 200 <= status < 300), result.requests
    return errors.timeout, result.requests


def check_thresholds(result: Result, thresholds: Iterable[Threshold | str]) -> tuple[Verdict, ...]:
    """Each threshold (an expression or a parsed one) judged against ``result``, in order."""
    parsed = [t if isinstance(t, Threshold) else Threshold.parse(t) for t in thresholds]
    return tuple(Verdict(threshold, threshold.measure(result)) for threshold in parsed)
