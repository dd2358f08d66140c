"""Pass/fail thresholds over a Result (``--fail-on``, ``loadgen capacity --slo``).

An expression is parsed once, before anything runs, so a typo fails in a second rather than
after the load test; it is judged against the Result afterwards. Nothing here prints: the lines
and the JSON entries are rendered by :mod:`loadgen.report.verdicts`.

Latency metrics read :attr:`Result.latency`, what the report shows: corrected for coordinated
omission (from the intended send times in ``-R`` mode). Like wrk, a response slower than
``--timeout`` counts as a timeout, not as a latency: ``timeouts==0`` catches those.

A metric may name one target of a run with several (``--targets``): ``p99[/api/orders]<50ms``
judges that target's own figures. The selector is a target's label (``POST /api/orders``), or
its path when one target alone has it; :func:`check_selectors` refuses, before the run, one that
names no target or several.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from .errors import UsageError, excerpt
from .result import Result, TargetStats, check_result
from .target import ascii_path
from .units import METRIC_SCALES, MICROSECONDS, NUMBER

__all__ = ["Threshold", "Verdict", "check_selectors", "check_thresholds", "select_target"]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
# The counted metrics, each with what its share divides by (see _counted): requests that ended, or responses
WHOLES: dict[str, str] = {"errors": "requests", "non2xx": "responses", "timeouts": "responses"}
COUNTED = tuple(WHOLES)
METRICS = "pN (p50, p99.9, ...), mean, max, rps, errors, non2xx, timeouts"
_EXPRESSION = re.compile(
    rf"\s*([A-Za-z0-9.]+)(?:\[([^\]]*)\])?\s*(<=|>=|==|<|>)\s*({NUMBER})\s*(\S*)\s*", re.ASCII | re.DOTALL
)
_PERCENTILE = re.compile(r"p([0-9]+(?:\.[0-9]+)?)")


@dataclass(frozen=True)
class Threshold:
    """One parsed expression; ``limit`` is in ``unit``: ``us`` for latencies, ``req/s`` for the
    rate, ``%`` or ``count`` for errors, non-2xx responses and timeouts. ``target`` is the
    selector of one target (``p99[/api/orders]<50ms``), None for the whole run."""

    expression: str
    metric: str
    operator: str
    limit: float
    unit: str
    target: str | None = None

    @classmethod
    def parse(cls, text: str) -> Threshold:
        match = _EXPRESSION.fullmatch(text)
        if not match and any(char.isdigit() and not char.isascii() for char in text):
            raise UsageError(f"invalid threshold {excerpt(text)}: write numbers with the digits 0-9")
        if not match:
            raise UsageError(f"invalid threshold {excerpt(text)}: expected METRIC OP VALUE, as p99<50ms or rps>=1000")
        metric, selector, op, suffix = match.group(1).lower(), match.group(2), match.group(3), match.group(5)
        try:
            number = Fraction(match.group(4))
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits()): was its traceback
            raise UsageError(f"invalid threshold {excerpt(text)}: the number has too many digits") from None
        if selector is not None and not selector.strip():
            raise UsageError(
                f"invalid threshold {excerpt(text)}: [] names no target (give its path, as p99[/api/orders]<50ms)"
            )
        target = selector.strip() if selector is not None else None
        try:
            limit, unit = _limit(text, metric, number, suffix)
        except OverflowError:  # 309 digits or more: no float
            raise UsageError(f"invalid threshold {excerpt(text)}: the number is too large") from None
        never = _never_met(op, limit, unit)
        if never:
            raise UsageError(f"invalid threshold {excerpt(text)}: no run can meet it ({metric} is never {never})")
        return cls(text.strip(), metric, op, limit, unit, target)

    @property
    def subject(self) -> str:
        """The metric and the target it judges: ``p99[/api/orders]``."""
        return self.metric if self.target is None else f"{self.metric}[{self.target}]"

    def measure(self, result: Result) -> float | None:
        """The measured value in ``unit``; None when there is nothing to measure (no response,
        or no target of that name)."""
        subject: Result | TargetStats | None = result
        if self.target is not None:
            label = select_target(self.target, [target.label for target in result.targets])
            subject = result.target(label) if isinstance(label, str) else None
        if subject is None:
            return None
        if self.unit == "us":
            latency = subject.latency
            if not latency.counts:
                return None
            if self.metric == "mean":
                return latency.mean
            return float(latency.max if self.metric == "max" else latency.percentile(_percentile(self.metric)))
        if self.metric == "rps":
            return subject.requests_per_sec
        count, whole = _counted(subject, self.metric, share=self.unit != "count")
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


def _never_met(op: str, limit: float, unit: str) -> str | None:
    """Why no measurement can meet the limit (every metric is 0 or more, a latency more than 0, a
    share 100% at most), or None: such a threshold is a typo, which a capacity search would
    otherwise bisect down to 1 req/s."""
    if op == "<" and limit <= 0:
        return "below 0"
    if op in ("<=", "==") and limit <= 0 and unit == "us":
        return "0: a response takes time"
    if op == ">" and unit == "%" and limit >= 100:
        return "above 100%"
    return None


def _limit(text: str, metric: str, number: Fraction, suffix: str) -> tuple[float, str]:
    """The limit in the metric's unit, or a usage error saying what the metric takes. Scaled exactly,
    then rounded once: in floats, ``p99>=1.001ms`` was 1000.9999999999999us, and failed a p99 of 1001us."""

    def invalid(why: str) -> UsageError:
        return UsageError(f"invalid threshold {excerpt(text)}: {why}")

    if metric in ("mean", "max") or _PERCENTILE.fullmatch(metric):
        if metric.startswith("p") and not 0 < _percentile(metric) <= 100:
            raise invalid("a percentile is within (0, 100]")
        if suffix.lower() not in MICROSECONDS:
            raise invalid(f"{metric} is a latency: give a time unit (us, ms, s, m, h), as {metric}<50ms")
        return float(number * MICROSECONDS[suffix.lower()]), "us"
    if metric == "rps":
        if suffix.lower() not in METRIC_SCALES:
            raise invalid("rps is requests/sec: a number, with k or M if you like (rps>=1k)")
        return float(number * METRIC_SCALES[suffix.lower()]), "req/s"
    if metric in COUNTED:
        if suffix not in ("", "%"):
            raise invalid(f"{metric} is a count ({metric}==0) or a share of {WHOLES[metric]} ({metric}<0.1%)")
        if suffix and number > 100:
            raise invalid(f"{metric} as a share is at most 100%")
        return float(number), "%" if suffix else "count"
    raise invalid(f"unknown metric {excerpt(metric)} (known: {METRICS})")


def _counted(result: Result | TargetStats, metric: str, share: bool) -> tuple[int, int]:
    """How many requests the counted metric saw, and out of how many.

    errors: socket errors, timeouts and statuses > 399, over every request that ended (responses
    and requests lost to a socket error; as a ``share``, the errors that cost no request are not
    counted, as they are no request that ended); non2xx: responses outside 200-299, over
    responses; timeouts: responses slower than --timeout, over responses.
    """
    whole = result.ended if WHOLES[metric] == "requests" else result.requests
    errors = result.errors
    if metric == "errors":
        return result.ended_in_error if share else errors.socket + errors.status, whole
    if metric == "non2xx":
        return sum(n for status, n in result.status_counts.items() if not 200 <= status < 300), whole
    return errors.timeout, whole


def select_target(selector: str, labels: Sequence[str]) -> str | list[str]:
    """The label ``selector`` names: a label itself, else the one label whose path it is; else
    the labels it matches (none, or several). Its path is read as the request line carries it, as
    the labels are (``[/café]`` names ``GET /caf%C3%A9``: written as in the targets file, it matched none)."""
    method, space, path = selector.rpartition(" ")
    selector = f"{method}{space}{ascii_path(path)}"
    if selector in labels:
        return selector
    matches = [label for label in labels if label.partition(" ")[2] == selector]
    return matches[0] if len(matches) == 1 else matches


def check_selectors(thresholds: Iterable[Threshold], labels: Sequence[str]) -> None:
    """A usage error for a threshold whose selector names no target of the run, or several;
    or that names a target in a run without them."""
    for threshold in thresholds:
        if threshold.target is None:
            continue
        if not labels:
            raise UsageError(f"invalid threshold {excerpt(threshold.expression)}: [{threshold.target}] needs --targets")
        found = select_target(threshold.target, labels)
        if isinstance(found, str):
            continue
        if found:
            raise UsageError(
                f"invalid threshold {excerpt(threshold.expression)}: [{threshold.target}] matches {len(found)} targets "
                f"({', '.join(found)}): name one with its method, as {threshold.metric}[{found[0]}]"
            )
        known = ", ".join(labels[:5]) + (", ..." if len(labels) > 5 else "")
        expression, target = excerpt(threshold.expression), excerpt(threshold.target)
        raise UsageError(f"invalid threshold {expression}: no target {target} (targets: {known})")


def check_thresholds(result: Result, thresholds: Iterable[Threshold | str] | str) -> tuple[Verdict, ...]:
    """Each threshold (an expression or a parsed one) judged against ``result``, in order; one
    expression alone is one threshold, not its letters."""
    check_result(result, "check_thresholds(result) judges")
    given = [thresholds] if isinstance(thresholds, str) else thresholds
    parsed = [t if isinstance(t, Threshold) else Threshold.parse(t) for t in given]
    return tuple(Verdict(threshold, threshold.measure(result)) for threshold in parsed)
