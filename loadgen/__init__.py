"""loadgen: a pure-Python, wrk-compatible HTTP load generator.

    >>> import loadgen
    >>> result = loadgen.run("http://127.0.0.1:8080/", threads=2, connections=50, duration=5)
    >>> result.requests_per_sec, result.latency.percentile(99)
    >>> print(loadgen.wrk_report(result, latency=True))

What this module exports (``__all__``) is the public API; ``loadgen._run`` (the engine) and
``loadgen._stats`` (the statistics) are private. Names are imported on first use, so that the
command can start its worker processes before it has imported everything else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "run": "api",
    "run_async": "api",
    "Workers": "api",
    "Progress": "api",
    "RunOptions": "run_options",
    "Settings": "settings",
    "LONGEST_S": "settings",
    "Result": "result",
    "Counts": "result",
    "Errors": "result",
    "ClientCpu": "result",
    "ConnectionAccount": "result",
    "WorkerFailure": "result",
    "TargetStats": "result",
    "merge": "result",
    "SHORTEST_JUDGED_S": "result",
    "Target": "targetsfile",
    "read_targets": "targetsfile",
    "Measurement": "measurement",
    "ErrorKind": "measurement",
    "ErrorReason": "measurement",
    "Stage": "measurement",
    "WorkerCpu": "measurement",
    "Distribution": "_stats.stats",
    "wrk_report": "report",
    "to_json": "report",
    "from_json": "report",
    "from_document": "report",
    "to_document": "report",
    "DocumentError": "report",
    "format_time_us": "report",
    "check_open_files": "_run.limits",
    "check_dask": "_run.cluster",
    "outlive_closed_output": "closedoutput",
    "write_failed": "closedoutput",
    "LoadgenError": "errors",
    "UsageError": "errors",
    "SetupError": "errors",
    "WorkerError": "errors",
    "Interrupted": "errors",
    "Threshold": "thresholds",
    "Verdict": "thresholds",
    "check_thresholds": "thresholds",
    "LiveSecond": "live.second",
    "LiveWorker": "live.second",
    "LostWorker": "live.second",
    "Exporter": "live.sinks",
    "PrometheusExporter": "export.prometheus",
    "OtlpExporter": "export.otlp",
}

__all__ = [  # the names of _EXPORTS, spelled out for readers and linters (a test keeps them equal)
    "LONGEST_S",
    "SHORTEST_JUDGED_S",
    "ClientCpu",
    "ConnectionAccount",
    "Counts",
    "Distribution",
    "DocumentError",
    "ErrorKind",
    "ErrorReason",
    "Errors",
    "Exporter",
    "Interrupted",
    "LiveSecond",
    "LiveWorker",
    "LoadgenError",
    "LostWorker",
    "Measurement",
    "OtlpExporter",
    "Progress",
    "PrometheusExporter",
    "Result",
    "RunOptions",
    "Settings",
    "SetupError",
    "Stage",
    "Target",
    "TargetStats",
    "Threshold",
    "UsageError",
    "Verdict",
    "WorkerCpu",
    "WorkerError",
    "WorkerFailure",
    "Workers",
    "__version__",
    "check_dask",
    "check_open_files",
    "check_thresholds",
    "format_time_us",
    "from_document",
    "from_json",
    "merge",
    "outlive_closed_output",
    "read_targets",
    "run",
    "run_async",
    "to_document",
    "to_json",
    "write_failed",
    "wrk_report",
]

if TYPE_CHECKING:
    from ._run.cluster import check_dask
    from ._run.limits import check_open_files
    from ._stats.stats import Distribution
    from .api import Progress, Workers, run, run_async
    from .closedoutput import outlive_closed_output, write_failed
    from .errors import Interrupted, LoadgenError, SetupError, UsageError, WorkerError
    from .export.otlp import OtlpExporter
    from .export.prometheus import PrometheusExporter
    from .live.second import LiveSecond, LiveWorker, LostWorker
    from .live.sinks import Exporter
    from .measurement import ErrorKind, ErrorReason, Measurement, Stage, WorkerCpu
    from .report import DocumentError, format_time_us, from_document, from_json, to_document, to_json, wrk_report
    from .result import (
        SHORTEST_JUDGED_S,
        ClientCpu,
        ConnectionAccount,
        Counts,
        Errors,
        Result,
        TargetStats,
        WorkerFailure,
        merge,
    )
    from .run_options import RunOptions
    from .settings import LONGEST_S, Settings
    from .targetsfile import Target, read_targets
    from .thresholds import Threshold, Verdict, check_thresholds


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'loadgen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
