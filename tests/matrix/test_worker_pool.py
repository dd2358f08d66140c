"""One process forks loadgen's workers for the whole run (a ``loadgen.Workers``), on the client's CPUs: seen in
/proc while the run goes on, over two servers' cells, and gone with the run."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.matrix.conftest import MatrixCommand, assert_nothing_left, load_results

pytestmark = pytest.mark.slow

if len(os.sched_getaffinity(0)) < 2:
    pytest.skip("needs two CPUs: one for the servers, one for loadgen", allow_module_level=True)
CLIENT_CPU = sorted(os.sched_getaffinity(0))[1]
FORK_SERVER = b"from loadgen._run.forkserver import serve"  # in its command line (its bootstrap)


def forked(pid: int) -> bool:
    """Whether ``pid`` runs the fork server's code: the fork server, or a worker it forked (the same command line)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return FORK_SERVER in cmdline.read()
    except OSError:
        return False


def parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def look(matrix: MatrixCommand, servers: dict[int, set[int]], workers: dict[int, set[int]]) -> None:
    """Add the run's fork servers and loadgen workers now alive, each with the CPUs it may run on."""
    for pid in matrix.leftovers():
        if forked(pid):
            try:
                cpus = os.sched_getaffinity(pid)
            except OSError:
                continue  # gone meanwhile
            (workers if forked(parent(pid) or 0) else servers)[pid] = cpus


def test_one_pinned_process_forks_loadgens_workers_for_every_cell(matrix: MatrixCommand, tmp_path: Path) -> None:
    servers: dict[int, set[int]] = {}
    workers: dict[int, set[int]] = {}
    out = tmp_path / "out"
    finished = threading.Event()

    def keep_looking() -> None:
        """Every 20 ms while the run goes on: a cell's workers live about its 0.25 s window, and are gone by the
        time its progress line is printed."""
        while not finished.wait(0.02):
            look(matrix, servers, workers)

    looking = threading.Thread(target=keep_looking, daemon=True)
    looking.start()
    try:
        done = matrix.quick_run(
            out, "--modes", "wsgi-sync,asgi-uvicorn-single", "--endpoints", "json,json_query", "--variants", "sync",
            "--client-cpus", str(CLIENT_CPU),
        )  # fmt: skip
    finally:
        finished.set()
        looking.join()
    assert done.returncode == 0, done.stderr[-3000:]
    results = load_results(out)
    measured = [cell for cell in results["cells"] if cell["status"] == "ok"]
    assert len(measured) == 4 and len({sample["server"]["pid"] for cell in measured for sample in cell["samples"]}) == 2
    assert len(servers) == 1, f"fork servers seen: {servers}"  # one for both servers' cells
    assert list(servers.values()) == [{CLIENT_CPU}]  # pinned as the runner...
    assert workers and all(cpus == {CLIENT_CPU} for cpus in workers.values()), workers  # ...and so its workers
    assert_nothing_left(matrix, results)
