"""The demo served for real by each server it supports, fetched over HTTP on 127.0.0.1; SQLite under concurrent
load: the query endpoints never fail and never hit "database is locked"."""

from __future__ import annotations

import importlib.util
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
from demo_expectations import (
    BAD_QUERIES,
    ENDPOINTS,
    FILTER_CASES,
    MODES,
    UNKNOWN_PATHS,
    check_endpoint,
    check_json_error,
    check_rows_json,
    check_rows_page,
    expected_rows,
)
from demo_servers import (
    REPO_ROOT,
    SERVER_KINDS,
    STOP_TIMEOUT,
    DemoServer,
    StartServer,
    demo_environment,
    running_server,
    stop_process_group,
)

from tests.conftest import each_selected

STARTUP_RACE_PROCESSES = 6


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DemoServer]]:
    """A server of each kind (its own data dir, two workers), all started at once and stopped at once: a start is
    a second or two of imports and readiness polls, which overlap."""
    folder = tmp_path_factory.mktemp("every-kind")
    with ExitStack() as stack:  # whatever started is stopped, though another kind failed to start
        with ThreadPoolExecutor(len(SERVER_KINDS)) as pool:
            started = pool.map(lambda kind: stack.enter_context(running_server(kind, folder / kind)), SERVER_KINDS)
            servers = dict(zip(SERVER_KINDS, started, strict=True))
        yield servers
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(stop_process_group, (server.process for server in servers.values())))


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_every_endpoint_over_http(every_kind: dict[str, DemoServer], kind: str) -> None:
    server = every_kind[kind]
    for mode in MODES:
        for endpoint in ENDPOINTS:
            check_endpoint(endpoint, server.fetch(f"/myapp/{mode}/{endpoint}"))
        query, ids = FILTER_CASES[0]
        check_rows_json(server.fetch(f"/myapp/{mode}/json_query?{query}"), expected_rows(ids))
        for bad_query in BAD_QUERIES[:3]:
            check_json_error(server.fetch(f"/myapp/{mode}/json_query?{bad_query}"), 400)
    for path in UNKNOWN_PATHS:
        check_json_error(server.fetch(path), 404)
    check_json_error(server.fetch("/myapp/sync/json", headers={"Host": "evil.example"}), 400)
    assert "Traceback" not in server.log(), server.log()


LOAD_SERVERS = ("gunicorn-uvicorn-worker", "gunicorn-gthread")
LOADED_PATHS = tuple(f"/myapp/{mode}/{endpoint}" for endpoint in ("json_query", "template_query") for mode in MODES)
# wrk -t2 -c64 -d2s: 64 requests at once from the first moment, for thousands of requests per path (a
# lock shows within them; more seconds only repeat them); its per-request timeout raised from 2 s so slow
# answers are not miscounted.
WRK_ARGS = ("-t2", "-c64", "-d2s", "--timeout", "10s")
WRK_DEADLINE = 30.0
SERVER_LOG_FAILURES = ("database is locked", "Traceback", "WORKER TIMEOUT")


def run_wrk(wrk: str, url: str) -> str:
    result = subprocess.run([wrk, *WRK_ARGS, url], capture_output=True, text=True, timeout=WRK_DEADLINE, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def completed_requests(wrk_output: str) -> int:
    """The N of wrk's "N requests in 2.00s, ..." line."""
    for line in wrk_output.splitlines():
        if " requests in " in line:
            return int(line.split()[0])
    raise AssertionError(f"no request count in wrk output:\n{wrk_output}")


def load_problems(server: DemoServer, wrk: str) -> list[str]:
    """What went wrong as ``server`` was loaded on each path in turn: a failed or lost request, a line of its log."""
    problems = []
    for path in LOADED_PATHS:
        output = run_wrk(wrk, server.url(path))
        if "Non-2xx or 3xx responses" in output or "Socket errors" in output or completed_requests(output) == 0:
            problems.append(f"{path}:\n{output}")
    log = server.log()
    problems += [f"server log contains {failure!r}" for failure in SERVER_LOG_FAILURES if failure in log]
    return problems


@pytest.fixture(scope="module")
def loaded(request: pytest.FixtureRequest, every_kind: dict[str, DemoServer], wrk: str) -> dict[str, Future[list[str]]]:
    """Each selected server of the test below loaded at once, by the case's id: each server its own data dir and its
    wrk its own 64 connections, so a lock shows in its log as it would alone; the 2 s windows overlap, where one
    after another they took 8 x 2 s."""
    return each_selected(
        request, "test_query_endpoints_hold_under_concurrent_load", lambda kind: load_problems(every_kind[kind], wrk)
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", LOAD_SERVERS)
def test_query_endpoints_hold_under_concurrent_load(
    loaded: dict[str, Future[list[str]]], every_kind: dict[str, DemoServer], request: pytest.FixtureRequest, kind: str
) -> None:
    problems = loaded[request.node.callspec.id].result()  # two workers; the every-endpoint test's requests in its log
    assert not problems, "\n".join(problems) + f"\nserver log:\n{every_kind[kind].log()}"


def test_async_views_overlap_their_waits(start_server: StartServer) -> None:
    """One uvicorn process answers 8 concurrent 1 s gateway calls in far less than 8 s."""
    server = start_server("uvicorn", extra_env={"DEMO_GATEWAY_SCALE": "1"})
    with ThreadPoolExecutor(max_workers=8) as pool:
        started = time.monotonic()
        answers = list(pool.map(lambda _: server.fetch("/myapp/async/gateway_1s"), range(8)))
        elapsed = time.monotonic() - started
    assert [answer.status for answer in answers] == [200] * 8
    assert 1.0 <= elapsed < 4.0, elapsed


@pytest.mark.skipif(importlib.util.find_spec("hypercorn") is None, reason="hypercorn is not installed")
def test_hypercorn_logs_nothing_from_boot_to_stop(tmp_path: Path) -> None:
    """The lifespan protocol answered: Django's handler raised on its scope, and hypercorn warned "ASGI Framework
    Lifespan error, continuing without Lifespan support" per worker (granian too), a warning in every clean log."""
    with running_server("hypercorn", tmp_path) as server:
        assert server.fetch("/myapp/async/json").status == 200
        # its master alone, as hypercorn is stopped: it tells its workers to finish. SIGTERM to the whole group
        # also reached them directly, and the master's terminate() of a worker already finishing made it exit 241
        # (a worker's -15) in 1 clean-clone run of many
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=STOP_TIMEOUT)
        stop_process_group(server.process)
    assert server.process.returncode == 0, server.log()
    assert "Lifespan" not in server.log() and "Traceback" not in server.log(), server.log()


def test_the_table_holds_demo_rows_whatever_an_earlier_server_left(tmp_path: Path) -> None:
    """DEMO_ROWS=0 serves the original benchmark's empty table (``[]``); the same data dir started with 100 rows
    serves 100, and with 0 again none: neither count leaks into the next run's numbers."""
    for rows in (0, 100, 0):
        # gunicorn with the Uvicorn worker, the original's server: two workers reconcile the table under the lock
        with running_server("gunicorn-uvicorn-worker", tmp_path, extra_env={"DEMO_ROWS": str(rows)}) as server:
            for mode in MODES:
                json_answer = server.fetch(f"/myapp/{mode}/json_query")
                check_rows_json(json_answer, expected_rows()[:rows])
                assert rows or json_answer.body == b"[]"  # the original's 2-byte body
                check_rows_page(server.fetch(f"/myapp/{mode}/template_query"), expected_rows()[:rows])


def test_workers_starting_together_seed_the_database_once(tmp_path: Path) -> None:
    """Several processes importing the app at once on a fresh data dir: one creates, none races."""
    env = demo_environment(tmp_path)
    command = [sys.executable, "-c", "import demo.wsgi, demo.asgi"]
    processes = [
        subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(STARTUP_RACE_PROCESSES)
    ]
    try:
        outputs = [process.communicate(timeout=60)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert [process.returncode for process in processes] == [0] * STARTUP_RACE_PROCESSES, outputs
    with sqlite3.connect(tmp_path / "demo.sqlite3") as database:
        rows = database.execute("SELECT id, name, value FROM myapp_item ORDER BY id").fetchall()
        journal_mode = database.execute("PRAGMA journal_mode").fetchone()[0]
    assert [dict(zip(("id", "name", "value"), row, strict=True)) for row in rows] == expected_rows()
    assert journal_mode == "wal"
