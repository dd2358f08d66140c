"""The Prometheus exposition of a live second: the OpenMetrics text format (what Prometheus asks
for), or the classic text format 0.0.4 (what a plain client gets). Pure: text out, no I/O.

Names and units follow Prometheus's conventions: counters end in ``_total``, times are seconds,
sizes bytes. Latency is a classic histogram over :data:`BUCKETS_S`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..live.second import LiveSecond
from ..measurement import ErrorKind

__all__ = ["BUCKETS_S", "CONTENT_TYPE", "OPENMETRICS_TYPE", "exposition"]

OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS_S = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)

Labels = tuple[tuple[str, str], ...]


@dataclass
class _Family:
    name: str  # without _total
    kind: str  # counter, gauge, histogram, info
    help: str
    unit: str = ""
    samples: list[tuple[str, Labels, float]] = field(default_factory=list)  # suffix, labels, value

    def add(self, value: float, labels: Labels = (), suffix: str = "") -> _Family:
        self.samples.append((suffix, labels, value))
        return self


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _bound(bound: float) -> str:
    """A bucket's ``le`` in OpenMetrics' canonical form, which the spec says it MUST have (Go's %g,
    with ".0" when there is neither a point nor an exponent: "1.0", not the "1" it was), as Python's
    repr writes every bound of :data:`BUCKETS_S`. A label's text is its series' identity: the same
    in both formats, as Prometheus 3 stores it whatever the format."""
    return repr(float(bound))


def _families(live: LiveSecond) -> Iterator[_Family]:
    settings = live.settings
    yield _Family("loadgen_run", "info", "The run's settings.").add(
        1,
        (
            ("url", settings.url),
            ("threads", str(settings.threads)),
            ("connections", str(settings.connections)),
            ("duration", _number(settings.duration) if settings.duration is not None else ""),
            ("rate", _number(settings.rate) if settings.rate is not None else ""),
        ),
        "_info",
    )
    yield _Family("loadgen_elapsed_seconds", "gauge", "Time since the run's window began.", "seconds").add(
        live.elapsed_s
    )
    yield _Family("loadgen_requests", "counter", "Responses received, as wrk counts requests.").add(
        live.requests, suffix="_total"
    )
    responses = _Family("loadgen_responses", "counter", "Responses by HTTP status code.")
    for status, count in sorted(live.status_counts.items()):
        responses.add(count, (("code", str(status)),), "_total")
    yield responses
    errors = _Family(
        "loadgen_errors", "counter", "Errors by kind: socket errors as wrk counts them, timeouts, statuses > 399."
    )
    for kind in ErrorKind:
        errors.add(live.errors.get(kind, 0), (("kind", kind),), "_total")
    yield errors
    yield _Family("loadgen_received_bytes", "counter", "Bytes read from the server.", "bytes").add(
        live.bytes, suffix="_total"
    )
    yield _latency(live)
    achieved = _Family("loadgen_achieved_rate", "gauge", "Requests per second completed in the last second.")
    yield achieved.add(live.requests_per_sec)
    asked = live.asked_rate
    if asked is not None:
        yield _Family(
            "loadgen_asked_rate", "gauge", "Requests per second asked in the last second (-R, --stages)."
        ).add(asked)
    yield _Family("loadgen_connections_open", "gauge", "Connections open now.").add(live.connections_open)
    yield _Family("loadgen_connections_opened", "counter", "Connections opened since the start.").add(
        live.connections_opened, suffix="_total"
    )
    cpu = _Family("loadgen_worker_cpu_seconds", "counter", "Each worker's CPU time (user and system).", "seconds")
    busy = _Family(
        "loadgen_worker_busy_ratio", "gauge", "Each worker's share of the last second running or waiting for a CPU."
    )
    for worker in live.workers:
        labels = (("worker", str(worker.index)), ("host", worker.host))
        cpu.add(worker.cpu.cpu_s, labels, "_total")
        busy.add(worker.busy, labels)
    yield cpu
    yield busy
    yield _Family(
        "loadgen_workers_behind",
        "gauge",
        "Workers not heard from for 2 s (held stopped, or their loop blocked): the last second is the others'.",
    ).add(len(live.behind))
    if live.lost:
        lost = _Family(
            "loadgen_worker_lost_requests",
            "counter",
            "Requests a worker that died had posted: kept in the counts above, not in the run's result.",
        )
        for dead in live.lost:
            lost.add(dead.requests, (("worker", str(dead.index)), ("host", dead.host)), "_total")
        yield lost


def _latency(live: LiveSecond) -> _Family:
    family = _Family(
        "loadgen_latency_seconds",
        "histogram",
        "Latency of each request (batch) as measured, as the timeline's (-R: from its intended send time).",
        "seconds",
    )
    bins = live.distribution.bins
    values = [value for value, _ in bins]
    cumulative = live.distribution.cumulative
    for bound in BUCKETS_S:
        at = bisect_right(values, round(bound * 1e6))
        family.add(cumulative[at - 1] if at else 0, (("le", _bound(bound)),), "_bucket")
    count = cumulative[-1] if cumulative else 0
    family.add(count, (("le", "+Inf"),), "_bucket")
    family.add(count, (), "_count")
    family.add(live.latency_sum_us / 1e6, (), "_sum")
    return family


def exposition(live: LiveSecond, *, openmetrics: bool = True) -> str:
    """The text Prometheus scrapes: OpenMetrics (ending in ``# EOF``), or the text format 0.0.4."""
    lines: list[str] = []
    for family in _families(live):
        kind = family.kind if openmetrics or family.kind != "info" else "gauge"
        typed = family.name if openmetrics or kind != "counter" else f"{family.name}_total"
        if not openmetrics and family.kind == "info":
            typed = f"{family.name}_info"
        lines.append(f"# HELP {typed} {family.help}")
        lines.append(f"# TYPE {typed} {kind}")
        if family.unit and openmetrics:
            lines.append(f"# UNIT {typed} {family.unit}")
        for suffix, labels, value in family.samples:
            text = ",".join(f'{name}="{_escape(label)}"' for name, label in labels)
            lines.append(
                f"{family.name}{suffix}{{{text}}} {_number(value)}"
                if text
                else f"{family.name}{suffix} {_number(value)}"
            )
    if openmetrics:
        lines.append("# EOF")
    return "\n".join(lines) + "\n"
