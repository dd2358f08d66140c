"""Faults during a run across a Dask cluster: Ctrl-C, SIGTERM and SIGHUP sent to loadgen alone
or to its whole process group (as a terminal sends them), on ``local:2`` and on a real cluster
started here; and the engine process inside one Dask worker killed mid-run."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import loadgen
from loadgen.api import run_settings
from loadgen.testing.server import TestServer
from tests.conftest import children_of, wait_for
from tests.dask_cluster import DaskCluster

pytest.importorskip("distributed", reason="pip install 'loadgen[dask]'")
pytestmark = pytest.mark.alone  # clusters of several processes started, and their stops bounded in time: tests/alone.py

TASKS_STOP_S = 1.0  # the tasks stop within a second of the signal: their last response 0.1-0.22 s after it at load 30
# loadgen's exit after them waits for a local cluster's processes to close: 2-5.6 s at load 30 (three CPU hogs and
# other helpers on two cores), the machine's time to end processes, not loadgen's; a cluster that never closed hangs
EXIT_WITHIN_S = 15.0
FORGOTTEN_GONE_S = 4.0  # tasks forgotten with loadgen's client stop within a second; their processes end after


def _start(dask: str, out: Path, url: str, duration: str = "20s") -> subprocess.Popen[str]:
    """loadgen in a session of its own, as a terminal starts it: its process group is its own; its
    temporary directory is an empty one beside ``out``."""
    temporary = out.parent / "tmp"
    temporary.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "loadgen", "--dask", dask, "-t2", "-c4", f"-d{duration}", "--json", str(out), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "TMPDIR": str(temporary)},
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith(f"Running {duration} test"), process.stderr.read()  # type: ignore[union-attr]
    return process


def _stop_and_check(process: subprocess.Popen[str], signum: int, group: bool, out: Path, server: TestServer) -> None:
    # both tasks running (on a busy machine a task may start seconds after the header), then a second of load
    assert wait_for(lambda: server.counters.connections >= 4 and server.counters.responses > 0, timeout=60)
    time.sleep(1.0)
    started = time.monotonic()
    if group:
        os.killpg(process.pid, signum)  # as a terminal: every process of loadgen's group
    else:
        process.send_signal(signum)
    last_response = _last_response_after(process, server, started)
    stdout, stderr = process.communicate(timeout=30)
    took = time.monotonic() - started
    assert "Traceback" not in stderr and stderr.strip() == "", stderr
    assert process.returncode == 0, stderr
    assert last_response < TASKS_STOP_S and took < EXIT_WITHIN_S, (last_response, took)
    document = json.loads(out.read_text())
    assert document["interrupted"] and len(document["hosts"]) == 2
    assert all(host["requests"] > 0 for host in document["hosts"]), document["hosts"]
    assert f"{document['requests']} requests in" in stdout
    served = server.counters.responses
    time.sleep(0.5)
    assert server.counters.responses == served  # every task stopped
    assert list((out.parent / "tmp").iterdir()) == []  # nothing left behind (was: local:N's dask-scratch-space)


def _last_response_after(process: subprocess.Popen[str], server: TestServer, started: float) -> float:
    """Seconds from ``started`` to the last response the server counted while loadgen ran: when its tasks stopped."""
    seen, last = server.counters.responses, 0.0
    while process.poll() is None and time.monotonic() - started < 30:
        time.sleep(0.02)
        if server.counters.responses != seen:
            seen, last = server.counters.responses, time.monotonic() - started
    return last


@pytest.mark.parametrize(
    ("signum", "group"),
    [
        (signal.SIGINT, True),
        pytest.param(signal.SIGTERM, True, marks=pytest.mark.slow),
        pytest.param(signal.SIGHUP, True, marks=pytest.mark.slow),
        pytest.param(signal.SIGINT, False, marks=pytest.mark.slow),
    ],
    ids=["SIGINT-group", "SIGTERM-group", "SIGHUP-group", "SIGINT-alone"],
)
def test_a_signal_stops_a_local_cluster_run_with_the_report_of_what_ran(
    fresh_server: TestServer, tmp_path: Path, signum: int, group: bool
) -> None:
    out = tmp_path / "result.json"
    _stop_and_check(_start("local:2", out, fresh_server.url()), signum, group, out, fresh_server)


@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGINT, True), pytest.param(signal.SIGHUP, False, marks=pytest.mark.slow)],
    ids=["SIGINT-group", "SIGHUP-alone"],
)
def test_a_signal_stops_a_cluster_run_with_the_report_of_what_ran(
    cluster: DaskCluster, fresh_server: TestServer, tmp_path: Path, signum: int, group: bool
) -> None:
    out = tmp_path / "result.json"
    _stop_and_check(_start(cluster.address, out, fresh_server.url()), signum, group, out, fresh_server)


def _engines(cluster: DaskCluster, index: int) -> list[int]:
    """The processes in which a Dask worker's tasks run loadgen's workers: children of the fork
    servers that the tasks started."""
    return [pid for server in children_of(cluster.worker_pid(index)) for pid in children_of(server)]


def _engine_worker(cluster: DaskCluster, index: int) -> int:
    """The process in which a Dask worker's one task runs loadgen's worker."""
    (worker,) = _engines(cluster, index)
    return worker


@pytest.mark.slow
def test_a_lost_engine_process_is_named_and_the_other_workers_run_to_the_end(
    cluster: DaskCluster, fresh_server: TestServer, tmp_path: Path
) -> None:
    out = tmp_path / "result.json"
    process = _start(cluster.address, out, fresh_server.url(), duration="2s")
    try:
        assert wait_for(lambda: children_of(cluster.worker_pid(0)) and _engine_worker(cluster, 0))
        assert wait_for(lambda: fresh_server.counters.responses > 0, timeout=30)  # measuring: mid-run
        time.sleep(0.5)
        victim = _engine_worker(cluster, 0)
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 2 and "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    host = re.escape(socket.gethostname())
    assert len(lines) == 1, lines
    assert re.fullmatch(
        rf"loadgen: worker \d \(pid {victim}\) on {host} \(tcp://127\.0\.0\.1:\d+\) was lost: its engine process "
        r"was killed by SIGKILL; the [\d,]+ requests it had counted are lost with it",
        lines[0],
    ), lines[0]
    document = json.loads(out.read_text())
    assert [failure["pid"] for failure in document["worker_failures"]] == [victim]  # was: null
    (failure,) = document["worker_failures"]
    assert failure["lost"] is True and failure["lost_requests"] > 0  # named with what was lost with it
    assert float(re.search(r" requests in (\d+\.\d+)s", stdout)[1]) >= 2.0, stdout  # type: ignore[index]  # the other's whole window
    assert len(document["hosts"]) == 1 and document["requests"] == document["hosts"][0]["requests"] > 0


def test_tasks_held_with_the_scheduler_before_the_go_stop_once_loadgen_is_gone(
    cluster: DaskCluster, fresh_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler held stopped while the tasks get ready: loadgen gives up (exit 1) and can set no stop, and the
    tasks, which no go will reach, waited for one until the start timeout (60 s) once the scheduler went on, their
    engines alive and each holding its Dask worker (measured: both 30 s after loadgen had exited). Their futures
    forgotten with loadgen's client, they stop within a second, as a task given up after the go does."""
    from loadgen._run import cluster as coordinator

    monkeypatch.setattr(coordinator, "ANSWER_S", 1.0)
    scheduler, wait_ready = cluster.processes[0].pid, coordinator._ClusterRun.wait_ready

    def held_once_placed(run: coordinator._ClusterRun) -> None:
        assert wait_for(lambda: all(_engines(cluster, index) for index in (0, 1)), timeout=15)
        os.kill(scheduler, signal.SIGSTOP)
        wait_ready(run)

    monkeypatch.setattr(coordinator._ClusterRun, "wait_ready", held_once_placed)
    settings = loadgen.Settings(fresh_server.url(), threads=2, connections=2, duration=30)
    try:
        with pytest.raises(loadgen.SetupError, match="did not answer within 1s before the run started"):
            run_settings(settings, dask=cluster.address)
    finally:
        os.kill(scheduler, signal.SIGCONT)
    assert wait_for(lambda: not any(_engines(cluster, index) for index in (0, 1)), timeout=FORGOTTEN_GONE_S)
    assert fresh_server.counters.responses == 0
