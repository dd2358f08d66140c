"""The machine and the client side of a run, for the report (the server side comes from each server)."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

import loadgen
from server_matrix.planning.parameters import Parameters
from server_matrix.planning.plan import database_identity, database_url


def client_environment(parameters: Parameters) -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpus_available": sorted(os.sched_getaffinity(0)),
        "server_cpus": list(parameters.server_cpus) if parameters.server_cpus else None,
        "client_cpus": list(parameters.client_cpus) if parameters.client_cpus else None,
        "platform": platform.platform(),
        "runner_python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "loadgen_version": loadgen.__version__,
        "database": database_text(),
    }


def database_text() -> str:
    """The report's "Database:": which PostgreSQL too, DATABASE_URL without its password (it said "PostgreSQL
    (DATABASE_URL is set)", the server's address and database name only in results.json's cells)."""
    return f"PostgreSQL, {database_identity()}" if database_url() else "SQLite (embedded)"
