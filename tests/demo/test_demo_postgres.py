"""The query endpoints against a real PostgreSQL (``eval "$(bash .ci/postgres.sh)"`` first).

Skipped when DATABASE_URL is unset. The tests reseed the database they are given.
"""

from __future__ import annotations

import glob
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from demo_expectations import (
    BAD_QUERIES,
    FILTER_CASES,
    MODES,
    check_endpoint,
    check_json_error,
    check_rows_json,
    check_rows_page,
    expected_rows,
)
from demo_servers import (
    REPO_ROOT,
    TESTS_DIR,
    StartServer,
    assert_clear_boot_failure,
    demo_environment,
    free_port,
    run_until_exit,
    server_command,
)

from demo.databases import postgres_database

SERVERS = ("gunicorn-uvicorn-worker", "gunicorn-gthread")
CONCURRENT_REQUESTS = 200
# Fewer pooled connections than concurrent requests: requests must queue on the pool, not fail.
SMALL_POOL = {"DEMO_DB_POOL_MIN": "1", "DEMO_DB_POOL_MAX": "4"}
POSTGRES_SCRIPT = ["bash", str(REPO_ROOT / ".ci" / "postgres.sh")]
# Longest answer while PostgreSQL is down: DEMO_DB_POOL_TIMEOUT (10 s) was every request's wait;
# demo.postgresql gives up after a 0.25 s slice.
FAST_FAILURE = 3.0


@pytest.fixture(scope="module")
def seeded_postgres(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """DATABASE_URL, after ``manage.py seed`` has reset it to the default rows."""
    env = demo_environment(tmp_path_factory.mktemp("postgres-seed"), {"DATABASE_URL": database_url})
    result = run_until_exit([sys.executable, "demo/manage.py", "seed"], env, timeout=60)
    assert result.returncode == 0, result.stderr
    return database_url


@pytest.mark.parametrize("kind", SERVERS)
def test_query_endpoints_on_postgres(start_server: StartServer, seeded_postgres: str, kind: str) -> None:
    server = start_server(kind, extra_env={"DATABASE_URL": seeded_postgres, **SMALL_POOL})
    for mode in MODES:
        for endpoint in ("json_query", "template_query"):
            check_endpoint(endpoint, server.fetch(f"/myapp/{mode}/{endpoint}"))
        check_endpoint("runtime", server.fetch(f"/myapp/{mode}/runtime"), database_vendor="postgresql")
        for query, ids in FILTER_CASES:
            check_rows_json(server.fetch(f"/myapp/{mode}/json_query?{query}"), expected_rows(ids))
            check_rows_page(server.fetch(f"/myapp/{mode}/template_query?{query}"), expected_rows(ids))
        for bad_query in BAD_QUERIES:
            check_json_error(server.fetch(f"/myapp/{mode}/json_query?{bad_query}"), 400)

    paths = [f"/myapp/{MODES[i % 2]}/json_query?value={i % 10}" for i in range(CONCURRENT_REQUESTS)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(lambda path: server.fetch(path).status, paths))
    assert statuses == [200] * CONCURRENT_REQUESTS
    assert "Traceback" not in server.log(), server.log()


def test_missing_postgres_database_stops_the_server_at_boot(database_url: str, tmp_path: Path) -> None:
    missing = urlunsplit(urlsplit(database_url)._replace(path="/no_such_database"))
    env = demo_environment(tmp_path, {"DATABASE_URL": missing})
    result = run_until_exit(server_command("gunicorn-sync", free_port(), workers=2), env, timeout=30)
    assert_clear_boot_failure(result, names="PostgreSQL database 'no_such_database'", reason="does not exist")


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, str]]:
    """``(DATABASE_URL, cluster directory)`` of a cluster of this test's own, which it may stop."""
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        pytest.skip("PostgreSQL server binaries are not installed (apt install postgresql)")
    started = subprocess.run(POSTGRES_SCRIPT, capture_output=True, text=True, timeout=120, check=True)
    exports = dict(line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines())
    try:
        yield exports["DATABASE_URL"], exports["DEMO_POSTGRES_DIR"]
    finally:
        subprocess.run([*POSTGRES_SCRIPT, "stop", exports["DEMO_POSTGRES_DIR"]], capture_output=True, timeout=60)


def test_postgres_down_mid_run_gives_quick_500s(
    start_server: StartServer, private_postgres: tuple[str, str], tmp_path: Path
) -> None:
    """Each request waited DEMO_DB_POOL_TIMEOUT (10 s) for a connection: a load generator saw a hang."""
    url, cluster = private_postgres
    server = start_server("gunicorn-gthread", workers=1, extra_env={"DATABASE_URL": url, **SMALL_POOL})
    check_endpoint("json_query", server.fetch("/myapp/sync/json_query"))
    subprocess.run([*POSTGRES_SCRIPT, "stop", cluster], capture_output=True, timeout=60, check=True)
    timings = []
    for mode in MODES * 3:
        start = time.monotonic()
        check_json_error(server.fetch(f"/myapp/{mode}/json_query"), 500)
        timings.append(time.monotonic() - start)
    assert max(timings) < FAST_FAILURE, timings


def test_a_dead_held_connection_does_not_make_a_request_wait_the_pool_timeout(
    private_postgres: tuple[str, str], tmp_path: Path
) -> None:
    """A request that came in while the previous one still held the connection it had just failed
    on (Django gives it back after the response) waited DEMO_DB_POOL_TIMEOUT: 1 run in 3 of the test
    above, on a 10 s answer."""
    url, cluster = private_postgres
    env = demo_environment(tmp_path, {"DATABASE_URL": url, "DEMO_DB_POOL_MIN": "2", "DEMO_DB_POOL_MAX": "2"})
    probe = [sys.executable, str(TESTS_DIR / "dead_connection_probe.py"), cluster]
    result = run_until_exit(probe, env, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outcomes"] == ["ok", "ok", "OperationalError", "OperationalError", "OperationalError"], report
    assert report["waited"] < FAST_FAILURE, report


def _refuse_every_connection(listener: socket.socket) -> None:
    """PostgreSQL at its max_connections: read each client's startup message, answer that there are too many."""
    fields = b"SFATAL\0VFATAL\0C53300\0Msorry, too many clients already\0\0"
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:  # closed: the test is over
            return
        with connection:
            connection.recv(8192)
            connection.sendall(b"E" + struct.pack("!I", len(fields) + 4) + fields)


def test_a_full_server_is_not_said_to_be_unreachable(django_app: None) -> None:
    """A request (or the start-up's migrate) that found no connection said "the server is unreachable" of a
    PostgreSQL that answered "too many clients" (max_connections below the workers' pools): it says its answer."""
    from django.db import OperationalError
    from django.db.utils import ConnectionHandler

    with socket.create_server(("127.0.0.1", 0)) as listener:
        threading.Thread(target=_refuse_every_connection, args=(listener,), daemon=True).start()
        url = f"postgres://demo:secret@127.0.0.1:{listener.getsockname()[1]}/bench?sslmode=disable"
        database = postgres_database(url, pool_min=1, pool_max=1, pool_timeout=5.0)
        wrapper = ConnectionHandler({"default": database})["default"]
        try:
            with pytest.raises(OperationalError, match="too many clients already"):
                wrapper.ensure_connection()
        finally:
            wrapper.close_pool()
