"""loadgen: a pure-Python, wrk-compatible HTTP load generator.

    >>> import loadgen
    >>> result = loadgen.run("http://127.0.0.1:8080/", threads=2, connections=50, duration=5)
    >>> result.requests_per_sec, result.latency.percentile(99)
    >>> print(result.wrk_report(latency=True))

Names are imported on first use, so that worker processes start without the parent's modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "run": "api", "run_async": "api", "Settings": "settings", "Result": "result", "Counts": "result",
    "Errors": "result", "merge": "result", "Distribution": "stats", "LoadgenError": "errors",
    "SetupError": "errors", "UsageError": "errors", "WorkerError": "errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from .api import run, run_async
    from .errors import LoadgenError, SetupError, UsageError, WorkerError
    from .result import Counts, Errors, Result, merge
    from .settings import Settings
    from .stats import Distribution


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'loadgen' has no attribute {name!r}")
