"""What stops a run before it starts, beside its options' own checks: each as the one line the
command prints (``None``: nothing stops it). After the start, every cell would fail alike."""

from __future__ import annotations

import re
from importlib.util import find_spec

from server_matrix.planning.parameters import KNOBS, Parameters

# What run, report and compare import from the `matrix` extra: `pip install loadgen` installs the command without it.
MATRIX_MODULES = ("numpy", "matplotlib", "jsonschema")
# Seconds the run's one connection to DATABASE_URL's server may take (each server's boot allows the demo's 5).
DATABASE_CONNECT_TIMEOUT_S = 3


def missing_extra() -> str | None:
    """Said before any work, not as a ModuleNotFoundError once the run has planned (and saved) its cells."""
    missing = [name for name in MATRIX_MODULES if find_spec(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed: server-matrix needs pip install 'loadgen[matrix]'"
    return None


def refusal(parameters: Parameters) -> str | None:
    """A window too short to judge, more connections per client worker than its open files hold, or a Dask cluster
    loadgen cannot use."""
    if parameters.client_dask is not None:  # a cluster's workers open their connections on machines of their own
        return _short_window(parameters.duration_s) or _dask(parameters.client_dask, parameters.client_threads)
    return _short_window(parameters.duration_s) or _open_files(parameters.connections // parameters.client_threads)


def _short_window(duration_s: float) -> str | None:
    """A window shorter than loadgen judges is mostly its start (connecting, the first requests): its rate is
    no server's, and loadgen cannot tell whether its own workers were the bottleneck, so no cell would say so."""
    import loadgen

    least = loadgen.SHORTEST_JUDGED_S
    if duration_s < least:
        return (
            f"{KNOBS['duration_s'].flag} must be at least {least:g} (got {duration_s:g}): a shorter window is "
            "mostly its start (connecting, the first requests), too short to tell whether loadgen was the bottleneck"
        )
    return None


def _open_files(per_worker: int) -> str | None:
    """loadgen's check, before the run: after it, every cell errs with its advice to raise ``-t``."""
    import loadgen

    try:
        loadgen.check_open_files(per_worker, str(KNOBS["client_threads"].flag))
    except loadgen.SetupError as error:
        return f"{KNOBS['connections'].flag}: {error}"
    return None


def _dask(address: str, threads: int) -> str | None:
    """loadgen's check of the cluster, before the run: after it, every server started for nothing and every cell
    erred with the same line (a malformed address, a scheduler refusing, ``local:N`` too few for the threads)."""
    import loadgen

    try:
        loadgen.check_dask(address, threads)
    except loadgen.LoadgenError as error:
        flag = str(KNOBS["client_dask"].flag)
        said = re.sub(r"(?<![\w-])-t (?=\d)", f"{KNOBS['client_threads'].flag} ", str(error))  # this command's words
        said = said.replace("--dask ", f"{flag} ")
        return said if said.startswith(f"{flag} {address}") else f"{flag} {address}: {said}"
    return None


def database_failure() -> str | None:
    """DATABASE_URL that no server could boot on (malformed, a port nobody listens on, a wrong password, a database
    not there), asked once as the demo asks it: every cell said the demo's line, one line each (154 on the quick
    profile), and the run exited 1. Nothing is said when this interpreter lacks psycopg: the cells tell then."""
    from server_matrix.planning.plan import database_url

    url = database_url()
    if not url:
        return None
    from django.core.exceptions import ImproperlyConfigured  # the `demo` extra, which the `matrix` extra installs

    from demo.databases import postgres_database, postgres_failure

    try:
        database = postgres_database(url, pool_min=1, pool_max=1, pool_timeout=1.0)  # the pool is not used here
    except ImproperlyConfigured as error:
        return str(error)  # the demo's line, which each server's boot said
    if find_spec("psycopg") is None:
        return None
    failure = postgres_failure(database, DATABASE_CONNECT_TIMEOUT_S)
    return f"DATABASE_URL: no server could start on it: {failure}" if failure else None
