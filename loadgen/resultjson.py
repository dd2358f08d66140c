"""Results as JSON (schema ``loadgen-result``, version 1; see ``result.schema.json``).

The JSON holds the measured data (exact histograms as ``[value, count]`` pairs, counters,
settings), so that ``from_json`` rebuilds the same Result and results from several runs or
machines merge exactly; the derived statistics (the report's figures, percentiles) for readers;
and each latency histogram also as an encoded HdrHistogram for other tools.

``latency`` is what the report shows (corrected for coordinated omission); in the default mode
its histogram includes wrk's synthetic samples (``hidden`` counts those wrk adds below the
minimum), and the measured samples are ``latency_uncorrected``. In constant-rate mode
``latency`` is measured from the intended send times and is itself the measured data.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from . import __version__
from .hdr import encode
from .result import REPORTED_PERCENTILES, Counts, Errors, Result
from .settings import Settings
from .stats import Distribution

SCHEMA = "loadgen-result"
VERSION = 1


def _pairs(counts: Mapping) -> list[list[int]]:
    return [[value, count] for value, count in sorted(counts.items())]


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
    return {**_summary(dist), "unit": "us", "hidden": dist.hidden, "histogram": _pairs(dist.counts),
            "hdr": encode(dist.counts)}


def _settings(settings: Settings) -> dict[str, Any]:
    data = asdict(settings)
    data["headers"] = [list(pair) for pair in settings.headers]
    data["script_args"] = list(settings.script_args)
    data["body"] = base64.b64encode(settings.body).decode("ascii") if settings.body is not None else None
    return data


def result_to_json(result: Result, *, indent: int | None = 2) -> str:
    document = {
        "schema": SCHEMA,
        "version": VERSION,
        "loadgen": __version__,
        "settings": _settings(result.settings),
        "loop": result.loop,
        "workers": result.workers,
        "interrupted": result.interrupted,
        "worker_failures": list(result.worker_failures),
        "runtime_us": result.runtime_us,
        "requests": result.requests,
        "bytes": result.bytes,
        "requests_per_sec": result.requests_per_sec,
        "transfer_per_sec": result.transfer_per_sec,
        "errors": asdict(result.errors),
        "status_counts": {str(status): count for status, count in sorted(result.status_counts.items())},
        "error_reasons": dict(sorted(result.error_reasons.items())),
        "failures": dict(sorted(result.failures.items())),
        "connections": {
            "requested": result.settings.connections,
            "per_worker": result.settings.connections_per_worker,
            "opened": result.connections_opened,
            "peak_open": result.peak_open_connections,
        },
        "latency": _latency(result.latency),
        "latency_uncorrected": _latency(result.latency_uncorrected),
        "req_per_sec": {**_summary(result.req_per_sec), "histogram": _pairs(result.req_per_sec_counts)},
        "script": {"globals": [dict(g) for g in result.script_globals], "error": result.script_error},
    }
    return json.dumps(document, indent=indent, default=str)


def result_from_json(text: str) -> Result:
    """The Result that :func:`result_to_json` wrote (statistics are derived again, not read)."""
    data = json.loads(text)
    if data.get("schema") != SCHEMA or data.get("version") != VERSION:
        raise ValueError(f"not a {SCHEMA} version {VERSION} document")
    settings = dict(data["settings"])
    settings["headers"] = tuple(tuple(pair) for pair in settings["headers"])
    settings["script_args"] = tuple(settings["script_args"])
    settings["body"] = base64.b64decode(settings["body"]) if settings["body"] is not None else None
    measured = data["latency"] if settings["rate"] is not None else data["latency_uncorrected"]
    connections = data["connections"]
    return Result(
        settings=Settings(**settings),
        requests=data["requests"],
        bytes=data["bytes"],
        runtime_us=data["runtime_us"],
        errors=Errors(**data["errors"]),
        status_counts=Counts({int(status): count for status, count in data["status_counts"].items()}),
        error_reasons=Counts(data["error_reasons"]),
        failures=Counts(data["failures"]),
        latency_counts=Counts({v: c for v, c in measured["histogram"]}),
        paced_uncorrected_counts=Counts(
            {v: c for v, c in data["latency_uncorrected"]["histogram"]} if settings["rate"] is not None else {}),
        req_per_sec_counts=Counts({v: c for v, c in data["req_per_sec"]["histogram"]}),
        loop=data["loop"],
        workers=data["workers"],
        connections_opened=connections["opened"],
        peak_open_connections=connections["peak_open"],
        interrupted=data["interrupted"],
        worker_failures=tuple(data["worker_failures"]),
        script_globals=tuple(data["script"]["globals"]),
        script_error=data["script"]["error"],
    )
