"""Results as JSON (schema ``loadgen-result``, version 3; see ``loadgen/result.schema.json``).

The document holds the measured data (exact histograms, counters, the settings and id of each
run), so that :func:`from_json` rebuilds the same Result and results from several runs or
machines merge exactly; the derived figures (the report's, percentiles) for readers; and each
latency histogram also as an encoded HdrHistogram for other tools. It is written compact: no
indentation, and each histogram as two arrays of small integers (its values as the differences
between them, and their counts), which json reads back into few objects. Version 2 (``[value,
count]`` pairs, indented: eleven times the size and seven times the memory to read) is still read.

``latency`` is what the report shows (corrected for coordinated omission); in the default mode
its histogram includes wrk's synthetic samples (``hidden`` counts those wrk adds below the
minimum), and the measured samples are ``latency_uncorrected``. In constant-rate mode
``latency`` is measured from the intended send times and is itself the measured data.

``targets`` (a run with ``--targets``; empty otherwise) has each target's counts and exact
histograms, written as the run's own; it came within version 3, and a document without it is
read as a run of one target.

``thresholds`` holds the verdicts of ``--fail-on`` (empty without it); they judge the result
rather than measure it, so :func:`from_json` leaves them out of the Result, and
:func:`from_json_judged` reads them beside it (the reports show them again).
"""

from __future__ import annotations

import base64
import json
import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from .._stats.hdr import encode
from .._stats.stats import Distribution
from .._version import __version__
from ..measurement import ErrorKind, ErrorReason, Interval, Measurement, Stage, TargetMeasurement, WorkerCpu
from ..result import Host, Result, Second, TargetStats, WorkerFailure, check_result
from ..settings import Settings
from ..targetsfile import Target
from ..thresholds import Threshold, Verdict
from .resultcheck import SCHEMA, VERSION, DocumentError, checked, checked_document, histogram_counts
from .verdicts import threshold_entry

__all__ = ["SCHEMA", "VERSION", "DocumentError", "from_document", "from_json", "to_document", "to_json"]

REPORTED_PERCENTILES = (50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0)
COMPACT = (",", ":")


def _histogram(values: list[int], counts: list[int]) -> dict[str, list[int]]:
    """Sorted values and their counts as the schema's histogram: each value as its difference
    from the one before."""
    return {"deltas": [*values[:1], *map(operator.sub, values[1:], values)], "counts": counts}


def _exact(counts: Mapping[int, int]) -> dict[str, list[int]]:
    values = sorted(value for value, count in counts.items() if count)
    return _histogram(values, list(map(counts.__getitem__, values)))


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _summary(dist: Distribution) -> dict[str, Any]:
    """The figures of a distribution, as the report computes them."""
    return {
        "count": dist.count,
        "min": dist.min,
        "mean": dist.mean,
        "stdev": dist.stdev,
        "max": dist.max,
        "within_stdev": _number(dist.within_stdev),
        "percentiles": {f"{p:g}": dist.percentile(p) for p in REPORTED_PERCENTILES},
    }


def _latency(dist: Distribution) -> dict[str, Any]:
    return {
        **_summary(dist),
        "unit": "us",
        "hidden": dist.hidden,
        "histogram": _histogram(dist.values, dist.weights),
        "hdr": encode(dist.counts),
    }


def _same(values: set[int]) -> int | None:
    """The value every run shares, or None when the runs added together differ."""
    return next(iter(values)) if len(values) == 1 else None


def _second(second: Second, asked_per_sec: float | None) -> dict[str, Any]:
    latency = second.latency
    return {
        "second": second.index,
        "duration_s": second.duration_s,
        "requests": second.requests,
        "requests_per_sec": second.requests_per_sec,
        "asked_per_sec": asked_per_sec,
        "errors": dict(sorted(second.interval.errors.items())),
        **_reasons_of(second.interval),
        "bytes": second.bytes,
        "p50": latency.percentile(50),
        "p90": latency.percentile(90),
        "p99": latency.percentile(99),
        "max": latency.max,
        "histogram": _histogram(latency.values, latency.weights),
    }


def _reasons_of(interval: Interval) -> dict[str, Any]:
    """A second's socket errors by reason, where it knows them (a document read from before they were kept
    does not, and is written again without them)."""
    return {} if interval.error_reasons is None else {"error_reasons": _error_reasons(interval.error_reasons)}


def _read_interval(entry: dict[str, Any]) -> Interval:
    reasons = entry.get("error_reasons")
    return Interval(
        round(entry["duration_s"] * 1_000_000),
        entry["requests"],
        entry["bytes"],
        {ErrorKind(kind): count for kind, count in entry["errors"].items()},
        histogram_counts(entry["histogram"]),
        None if reasons is None else _read_error_reasons(reasons),
    )


def _body(body: bytes | None) -> str | None:
    return base64.b64encode(body).decode("ascii") if body is not None else None


def _read_body(text: str | None) -> bytes | None:
    return base64.b64decode(text) if text is not None else None


def _settings(settings: Settings) -> dict[str, Any]:
    data: dict[str, Any] = _arrays(asdict(settings))
    data["body"] = _body(settings.body)
    data["targets"] = [{**_arrays(asdict(target)), "body": _body(target.body)} for target in settings.targets]
    return data


def _arrays(value: Any) -> Any:
    """Tuples as lists, all the way down: the document as JSON gives it back, which its checks
    read (``from_document(to_document(result))`` as ``from_json(to_json(result))``)."""
    if isinstance(value, tuple | list):
        return [_arrays(item) for item in value]
    if isinstance(value, dict):
        return {key: _arrays(item) for key, item in value.items()}
    return value


def _read_settings(data: dict[str, Any]) -> Settings:
    data = dict(data)  # headers and script_args as JSON's lists: Settings takes them so (its options' forms)
    data["body"] = _read_body(data["body"])
    data["targets"] = tuple(
        Target(
            **{**entry, "headers": tuple(tuple(pair) for pair in entry["headers"]), "body": _read_body(entry["body"])}
        )
        for entry in data.get("targets", ())  # came within version 3
    )
    return Settings(**data)


def _cpu(cpu: WorkerCpu) -> dict[str, float]:
    return {
        "cpu_s": cpu.cpu_s,
        "wall_s": cpu.wall_s,
        "waiting_s": cpu.waiting_s,
        "hooks_s": cpu.hooks_s,
        "utilization": cpu.utilization,
        "busy": cpu.busy,
    }


def _read_cpu(entry: dict[str, float]) -> WorkerCpu:
    return WorkerCpu(entry["cpu_s"], entry["wall_s"], entry["waiting_s"], entry.get("hooks_s", 0.0))  # came within 3


def _host(host: Host) -> dict[str, Any]:
    return {**asdict(host), "client_cpu": _cpu(host.client_cpu)}


def _read_host(entry: dict[str, Any]) -> Host:
    return Host(**{**entry, "client_cpu": _read_cpu(entry["client_cpu"])})


def _status_counts(counts: Mapping[int, int]) -> dict[str, int]:
    return {str(status): count for status, count in sorted(counts.items())}


def _read_status_counts(entry: dict[str, int]) -> dict[int, int]:
    return {int(status): count for status, count in entry.items()}


def _error_reasons(reasons: Mapping[ErrorReason, int]) -> list[dict[str, Any]]:
    """Each reason and its count; its kind and stage as plain text, as JSON gives them back (the
    schema's check takes a string, not an enum: a document from to_document was refused)."""
    return [
        {**reason._asdict(), "kind": str(reason.kind), "stage": str(reason.stage), "count": count}
        for reason, count in sorted(reasons.items(), key=lambda pair: pair[0])
    ]


def _read_error_reasons(entries: list[dict[str, Any]]) -> dict[ErrorReason, int]:
    return {ErrorReason(ErrorKind(r["kind"]), Stage(r["stage"]), r["cause"], r["detail"]): r["count"] for r in entries}


def _target(target: TargetStats) -> dict[str, Any]:
    """One target's entry: its counts and exact histograms, as the run's own."""
    m = target.measured
    latency = _latency(target.latency)
    return {
        "label": target.label,
        "requests": target.requests,
        "requests_per_sec": target.requests_per_sec,
        "errors": asdict(target.errors),
        "status_counts": _status_counts(m.status_counts),
        "error_reasons": _error_reasons(m.error_reasons),
        "latency": latency,
        # the closed loop's two are one distribution: its entry is made once (the HdrHistogram encoding is slow)
        "latency_uncorrected": latency
        if target.latency_uncorrected is target.latency
        else _latency(target.latency_uncorrected),
        "timed_out_latency_us": m.timed_out_us,
    }


def _read_target(entry: dict[str, Any], paced: bool) -> TargetMeasurement:
    return TargetMeasurement(
        entry["label"],
        entry["requests"],
        entry["errors"]["timeout"],
        entry["timed_out_latency_us"],
        _read_status_counts(entry["status_counts"]),
        _read_error_reasons(entry["error_reasons"]),
        histogram_counts(entry["latency" if paced else "latency_uncorrected"]["histogram"]),
        histogram_counts(entry["latency_uncorrected"]["histogram"]) if paced else {},
    )


def _connections(result: Result) -> dict[str, Any]:
    m, account = result.measured, result.per_connection
    responses, first = account.responses, account.first_response
    return {
        "requested": result.connections,
        "per_worker": _same({run.connections_per_worker for run in result.runs}),
        "opened": m.connections_opened,
        "peak_open": m.peak_open,
        "opening_at_end": m.opening_at_end,
        "answered": account.answered,
        "never_answered": account.never_answered,
        "starved": account.starved,
        "responses_per_connection": {
            "min": responses.min,
            "p50": responses.percentile(50),
            "max": responses.max,
            "busiest_tenth_share": account.busiest[1],
            "histogram": _exact(m.connection_responses),
        },
        "first_response_us": {"p50": first.percentile(50), "max": first.max, "histogram": _exact(m.first_response)},
        "unanswered_wait_us": {
            "never_answered_after": account.patience_us,
            "max": account.unanswered.max,
            "histogram": _exact(m.unanswered),
        },
        "mean_in_flight": account.mean_in_flight,
        "in_flight_at_end": m.in_flight_at_end,
        "begun_at_end": m.begun_at_end,
        "window_blocked_at_end": m.window_blocked_at_end,
        "stalled_at_end": m.stalled_at_end,
        "timed_out_latency_us": m.timed_out_us,
        **({"protocol": m.protocol} if m.protocol else {}),  # a result measured by this version has one
        "goaways": m.goaways,
        "replaced_while_draining": m.replaced_while_draining,
        "pings": m.pings,
        "streams_reset": result.streams_reset,
        "stream_limits": {str(limit): count for limit, count in sorted(m.stream_limits.items())},
        "zero_streams_at_end": m.zero_streams_at_end,
    }


def to_json(result: Result, *, indent: int | None = None, thresholds: Iterable[Verdict] = ()) -> str:
    """The document for ``result`` (with the verdicts of ``--fail-on``, if any); compact unless
    ``indent`` asks for lines a person reads (json's pure-Python path: many times slower)."""
    check_result(result, "to_json(result) takes")
    document = to_document(result, thresholds=thresholds)
    return json.dumps(document, indent=indent, separators=None if indent else COMPACT, default=str)


def to_document(result: Result, *, thresholds: Iterable[Verdict] = ()) -> dict[str, Any]:
    """:func:`to_json`'s document as a dict, for documents that hold results (``capacity``)."""
    check_result(result, "to_document(result) takes")
    m = result.measured
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "loadgen": __version__,
        "runs": [_settings(run) for run in result.runs],
        "run_ids": list(result.run_ids),
        "loop": m.loop,
        "workers": m.workers,
        "interrupted": result.interrupted,
        "worker_failures": [asdict(failure) for failure in result.worker_failures],
        "runtime_us": result.runtime_us,
        "requests": m.requests,
        "bytes": m.bytes,
        "requests_per_sec": result.requests_per_sec,
        "transfer_per_sec": result.transfer_per_sec,
        "errors": asdict(result.errors),
        "status_counts": _status_counts(m.status_counts),
        "error_reasons": _error_reasons(m.error_reasons),
        "failures": dict(sorted(result.failures.items())),
        "connections": _connections(result),
        "latency": _latency(result.latency),
        "latency_uncorrected": _latency(result.latency_uncorrected),
        "req_per_sec": {**_summary(result.req_per_sec), "histogram": _exact(m.req_per_sec)},
        "timeline": [_second(second, result.asked_per_sec(second)) for second in result.timeline],
        "connect": _latency(result.connect),
        "tls_handshake": _latency(result.tls_handshake),
        "first_byte": {
            **_latency(result.first_byte),
            "split": {"latency": _exact(m.latency_split), "first_byte": _exact(m.first_byte_split)},
        },
        "client_cpu": {
            "workers": [{"worker": result.worker_at(at), **_cpu(cpu)} for at, cpu in enumerate(m.client_cpu)],
            "max_utilization": result.client_cpu.max_utilization,
        },
        "hosts": [_host(host) for host in result.hosts],
        "script": {"globals": list(m.script_globals), "error": m.script_error},
        "thresholds": [threshold_entry(verdict) for verdict in thresholds],
        "targets": [_target(target) for target in result.targets],
    }


def from_json(text: str | bytes) -> Result:
    """The Result that :func:`to_json` wrote (the derived figures are computed again, not read);
    a :class:`DocumentError` naming the field when the document is damaged (see
    :mod:`.resultcheck`)."""
    return _read(checked_document(text))


def from_json_judged(text: str | bytes) -> tuple[Result, tuple[Verdict, ...]]:
    """:func:`from_json`, and the verdicts of ``--fail-on`` the document holds."""
    data = checked_document(text)
    return _read(data), tuple(_read_verdict(entry) for entry in data.get("thresholds", ()))


def _read_verdict(entry: dict[str, Any]) -> Verdict:
    threshold = Threshold(
        entry["expression"], entry["metric"], entry["operator"], entry["limit"], entry["unit"], entry.get("target")
    )
    return Verdict(threshold, entry["value"])


def from_document(document: dict[str, Any]) -> Result:
    """:func:`from_json` for a document already parsed (one held inside another file's JSON):
    the same checks, without writing it out and parsing it again."""
    return _read(checked(document))


def _optional_counts(connections: dict[str, Any], key: str) -> dict[int, int]:
    """A histogram of the per-connection account, which came within version 3 (empty before)."""
    return histogram_counts(connections[key]["histogram"]) if key in connections else {}


def _read(data: dict[str, Any]) -> Result:
    runs = tuple(_read_settings(run) for run in data["runs"])
    paced = runs[0].paced
    workers = data["workers"]
    connections = data["connections"]
    measured = Measurement(
        workers=workers,
        requests=data["requests"],
        bytes=data["bytes"],
        timeouts=data["errors"]["timeout"],
        status_counts=_read_status_counts(data["status_counts"]),
        error_reasons=_read_error_reasons(data["error_reasons"]),
        latency=histogram_counts(data["latency" if paced else "latency_uncorrected"]["histogram"]),
        latency_from_write=histogram_counts(data["latency_uncorrected"]["histogram"]) if paced else {},
        req_per_sec=histogram_counts(data["req_per_sec"]["histogram"]),
        timeline=tuple(_read_interval(entry) for entry in data["timeline"]),
        connect=histogram_counts(data["connect"]["histogram"]),
        tls_handshake=histogram_counts(data["tls_handshake"]["histogram"]),
        first_byte_split=histogram_counts(data["first_byte"]["split"]["first_byte"]),
        latency_split=histogram_counts(data["first_byte"]["split"]["latency"]),
        connections_opened=data["connections"]["opened"],
        connection_responses=_optional_counts(connections, "responses_per_connection"),
        first_response=_optional_counts(connections, "first_response_us"),
        unanswered=_optional_counts(connections, "unanswered_wait_us"),
        timed_out_us=connections.get("timed_out_latency_us", 0),
        peak_open=data["connections"]["peak_open"],
        opening_at_end=connections.get("opening_at_end", 0),
        in_flight_at_end=connections.get("in_flight_at_end", 0),
        begun_at_end=connections.get("begun_at_end", 0),
        window_blocked_at_end=connections.get("window_blocked_at_end", 0),
        stalled_at_end=connections.get("stalled_at_end", 0),
        protocol=connections.get("protocol", ""),
        goaways=connections.get("goaways", 0),
        replaced_while_draining=connections.get("replaced_while_draining", 0),
        pings=connections.get("pings", 0),
        stream_limits={int(limit): count for limit, count in connections.get("stream_limits", {}).items()},
        zero_streams_at_end=connections.get("zero_streams_at_end", 0),
        elapsed_us=data["runtime_us"] if workers else 0,
        loop=data["loop"],
        client_cpu=tuple(_read_cpu(cpu) for cpu in data["client_cpu"]["workers"]),
        script_globals=tuple(data["script"]["globals"]),
        script_error=data["script"]["error"],
        targets=tuple(_read_target(entry, paced) for entry in data["targets"]),
    )
    return Result(
        runs=runs,
        measured=measured,
        runtime_us=data["runtime_us"],
        interrupted=data["interrupted"],
        worker_failures=tuple(WorkerFailure(**failure) for failure in data["worker_failures"]),
        hosts=tuple(_read_host(entry) for entry in data["hosts"]),
        run_ids=tuple(data["run_ids"]),
    )
