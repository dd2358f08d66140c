"""Flags on real runs: a CPU hog beside a cell flags it ``interference``, loadgen pinned to a busy core flags a
fast endpoint ``client-bound``, a server that answers only some connections is flagged ``starved``, and an idle
gateway cell carries none of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import loadgen
from server_matrix.statistics import flags
from tests.matrix.conftest import MatrixCommand, assert_nothing_left, load_results

pytestmark = [pytest.mark.slow, pytest.mark.alone]  # the cores pinned, the machine's noise judged: tests/alone.py

if len(os.sched_getaffinity(0)) < 2:
    pytest.skip("needs two CPUs: one for the servers, one for loadgen", allow_module_level=True)
SERVER_CPU, CLIENT_CPU = sorted(os.sched_getaffinity(0))[:2]
HERE = Path(__file__).resolve().parent
FAST_MODE = {
    "id": "fast",
    "title": "uvicorn, json answered without Django",
    "args": [str(HERE / "probe_server.py"), "{port}", "fast"],
}
FEW_MODE = {
    "id": "few",
    "title": "uvicorn, json answered on 2 connections only",
    "args": [str(HERE / "probe_server.py"), "{port}", "few", "2"],
}


class CpuHogs:
    """``count`` busy loops pinned to ``cpu``, outside the runner's process tree, from :meth:`start` to :meth:`stop`."""

    def __init__(self, cpu: int, count: int = 1) -> None:
        self.cpu, self.count = cpu, count
        self.hogs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        while len(self.hogs) < self.count:
            self.hogs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
            os.sched_setaffinity(self.hogs[-1].pid, {self.cpu})

    def stop(self) -> None:
        while self.hogs:
            hog = self.hogs.pop()
            hog.kill()
            hog.wait(10)


@contextmanager
def cpu_hogs(cpu: int, count: int = 1) -> Iterator[None]:
    """The hogs for the block's duration."""
    hogs = CpuHogs(cpu, count)
    try:
        hogs.start()
        yield
    finally:
        hogs.stop()


def while_its_server_runs(hogs: CpuHogs) -> Callable[[str], None]:
    """A watch for :meth:`MatrixCommand.run`: the hogs from the one cell's server start (its line) to the cell's
    end (``[1/1, ...``), not while the runner draws the report after it (on their core, that took a minute)."""

    def watch(stderr: str) -> None:
        if "[1/1, " in stderr:
            hogs.stop()
        elif ", round 1" in stderr:
            hogs.start()

    return watch


def only_cell(
    matrix: MatrixCommand,
    tmp_path: Path,
    name: str,
    endpoint: str,
    mode: str = "uvicorn-workers",
    *options: str,
    watch: Callable[[str], None] | None = None,
) -> dict:
    """The one measured cell of ``mode`` x ``endpoint`` (sync), servers on one CPU, loadgen on the other."""
    out = tmp_path / name
    modes_file = tmp_path / "modes.json"
    modes_file.write_text(json.dumps([FAST_MODE, FEW_MODE]))
    done = matrix.quick_run(
        out, "--modes-file", str(modes_file), "--modes", mode, "--endpoints", endpoint, "--variants", "sync",
        "--server-cpus", str(SERVER_CPU), "--client-cpus", str(CLIENT_CPU), *options, watch=watch,
    )  # fmt: skip  # bounded by its silence: with the hogs below, its total time is theirs
    assert done.returncode == 0, done.stderr[-3000:]
    results = load_results(out)
    assert_nothing_left(matrix, results)
    (cell,) = [cell for cell in results["cells"] if cell["status"] == "ok"]
    summary = (out / "report.md").read_text().split("## Summary", 1)[1].split("## Environment", 1)[0]
    row = next(line for line in summary.splitlines() if line.startswith(f"| {mode} "))
    assert all(flag in row for flag in cell["flags"]), row  # each flag marked in the summary
    return cell


def test_a_cpu_hog_on_the_servers_core_flags_interference(matrix: MatrixCommand, tmp_path: Path) -> None:
    with cpu_hogs(SERVER_CPU):
        cell = only_cell(matrix, tmp_path, "hog", "json")
    (sample,) = cell["samples"]
    assert flags.INTERFERENCE in cell["flags"], sample["machine"]
    assert sample["machine"]["other_share"] > flags.OTHER_CPU


@pytest.mark.timeout(900)  # loadgen's core shared with sixteen loops, on a machine that may be busy: minutes
def test_loadgen_on_a_busy_core_is_flagged_client_bound(matrix: MatrixCommand, tmp_path: Path) -> None:
    # Sixteen busy loops leave loadgen a seventeenth of its core, so that other work on the servers' core cannot
    # make the server the limit instead; 512 connections keep loadgen from waiting on the network.
    hogs = CpuHogs(CLIENT_CPU, 16)
    try:
        watch = while_its_server_runs(hogs)
        cell = only_cell(matrix, tmp_path, "busy-client", "json", "fast", "--connections", "512", watch=watch)
    finally:
        hogs.stop()
    (sample,) = cell["samples"]
    assert flags.CLIENT_BOUND in cell["flags"], sample["client_busy"]
    assert loadgen.from_json(json.dumps(sample["result"])).client_cpu.saturated  # loadgen's own rule says so too


def test_connections_the_server_never_answered_flag_the_cell_starved(matrix: MatrixCommand, tmp_path: Path) -> None:
    cell = only_cell(matrix, tmp_path, "few", "json", "few", "--connections", "8")
    (sample,) = cell["samples"]
    assert flags.STARVED in cell["flags"]
    assert sample["starved"] == "6 of 8 connections never answered", sample["starved"]
    assert sample["result"]["connections"]["never_answered"] == 6
    report = (tmp_path / "few" / "report.md").read_text()
    assert "starved: 6 of 8 connections never answered" in report


def test_an_idle_gateway_cell_is_not_flagged(matrix: MatrixCommand, tmp_path: Path) -> None:
    cell = only_cell(matrix, tmp_path, "idle", "gateway_10s")
    (sample,) = cell["samples"]
    assert sample["client_busy"] < 0.5 and flags.CLIENT_BOUND not in cell["flags"] and sample["starved"] is None
    machine = sample["machine"]
    busy_machine = machine["other_share"] > flags.OTHER_CPU or machine["steal_share"] > flags.STEAL
    # Other work on this machine (outside the test) is reported, not hidden; without it the cell is clean.
    assert cell["flags"] == ([flags.INTERFERENCE] if busy_machine else []), machine
