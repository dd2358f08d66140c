"""One process forks loadgen's workers for the whole run (a ``loadgen.Workers``), on the client's CPUs: seen in
/proc while the run goes on, over two servers' cells, and gone with the run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.matrix.conftest import MatrixCommand, assert_nothing_left, load_results

pytestmark = pytest.mark.slow

if len(os.sched_getaffinity(0)) < 2:
    pytest.skip("needs two CPUs: one for the servers, one for loadgen", allow_module_level=True)
CLIENT_CPU = sorted(os.sched_getaffinity(0))[1]
FORK_SERVER = b"from loadgen._run.forkserver import serve"  # in its command line (its bootstrap)


def fork_servers(matrix: MatrixCommand) -> dict[int, set[int]]:
    """The run's fork servers now alive: pid -> the CPUs it may run on."""
    found = {}
    for pid in matrix.leftovers():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if FORK_SERVER in cmdline.read():
                    found[pid] = os.sched_getaffinity(pid)
        except OSError:
            continue  # gone meanwhile
    return found


def test_one_pinned_process_forks_loadgens_workers_for_every_cell(matrix: MatrixCommand, tmp_path: Path) -> None:
    seen: dict[int, set[int]] = {}
    out = tmp_path / "out"
    done = matrix.quick_run(
        out, "--modes", "wsgi-sync,asgi-uvicorn-single", "--endpoints", "json,json_query", "--variants", "sync",
        "--client-cpus", str(CLIENT_CPU), watch=lambda _: seen.update(fork_servers(matrix)),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = load_results(out)
    measured = [cell for cell in results["cells"] if cell["status"] == "ok"]
    assert len(measured) == 4 and len({sample["server"]["pid"] for cell in measured for sample in cell["samples"]}) == 2
    assert len(seen) == 1, f"fork servers seen: {seen}"  # one for both servers' cells
    assert list(seen.values()) == [{CLIENT_CPU}]  # pinned as the runner: its workers inherit it
    assert_nothing_left(matrix, results)
