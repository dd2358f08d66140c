"""SQLite under concurrent load: the query endpoints never fail and never hit "database is locked"."""

from __future__ import annotations

import subprocess

import pytest
from demo_expectations import MODES
from demo_servers import StartServer

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


@pytest.mark.slow
@pytest.mark.parametrize("kind", LOAD_SERVERS)
def test_query_endpoints_hold_under_concurrent_load(start_server: StartServer, wrk: str, kind: str) -> None:
    server = start_server(kind, workers=2)
    problems = []
    for path in LOADED_PATHS:
        output = run_wrk(wrk, server.url(path))
        if "Non-2xx or 3xx responses" in output or "Socket errors" in output or completed_requests(output) == 0:
            problems.append(f"{path}:\n{output}")
    log = server.log()
    problems += [f"server log contains {failure!r}" for failure in SERVER_LOG_FAILURES if failure in log]
    assert not problems, "\n".join(problems) + f"\nserver log:\n{log}"
