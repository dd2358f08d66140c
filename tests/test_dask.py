"""loadgen across a real Dask cluster on 127.0.0.1: a scheduler and ``dask worker`` processes
started by a fixture, the test server as the target, and the real ``loadgen`` command."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import loadgen
from loadgen._run.limits import PORT_RANGE
from loadgen.api import run_settings
from loadgen.report.resultcheck import histogram_counts
from loadgen.testing.server import TestServer
from tests.conftest import run_loadgen, wait_for
from tests.dask_cluster import DaskCluster

pytest.importorskip("distributed", reason="pip install 'loadgen[dask]'")
pytestmark = pytest.mark.alone  # clusters of several processes started, and their stops bounded in time: tests/alone.py

REPORT = re.compile(
    r"Running 2s test @ \S+\n  2 threads and 20 connections\n  Thread Stats .*\n"
    r"    Latency .*\n    Req/Sec .*\n  \d+ requests in 2\.\d\ds, .* read\nRequests/sec: .*\n"
    r"Transfer/sec: .*\n"
)


# The second task's init() takes this long: released as each got ready, the tasks would start about this far
# apart (0.53 s for 0.5 s: give or take how much sooner the first was ready)
SLOW_INIT_S = 0.8
SLOW_SECOND_INIT = f"""
import time
def setup(thread):
    thread.set("slow", thread.id == 1)
def init(args):
    if slow:
        time.sleep({SLOW_INIT_S})
"""


def test_a_run_across_two_dask_workers_is_wrks_report_and_adds_up(
    cluster: DaskCluster, fresh_server: TestServer, tmp_path: Path
) -> None:
    out, page, script = tmp_path / "result.json", tmp_path / "page.html", tmp_path / "slow.py"
    script.write_text(SLOW_SECOND_INIT)
    logged = cluster.log.stat().st_size
    done = run_loadgen(
        "--dask", cluster.address, "-t2", "-c20", "-d2s", "-s", str(script), "--json", str(out), "--html", str(page),
        "--progress", fresh_server.url(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # the tasks' readiness was asked with a timeout, which the scheduler logs as an error each time it runs out
    with cluster.log.open("rb") as log:
        assert b" - ERROR - " not in log.read()[logged:]
    assert REPORT.fullmatch(done.stdout), done.stdout
    document = json.loads(out.read_text())
    # --progress: a line a second from the tasks' seconds, the last the end's (it showed nothing with --dask)
    progress = [re.fullmatch(r" +[\d.]+s +(\d+) requests +\d+ req/s  0 errors", line) for line in done.stderr_lines]
    assert progress and all(progress), done.stderr
    assert int(progress[-1][1]) == document["requests"]
    hosts = document["hosts"]
    assert len(hosts) == 2 and len({host["address"] for host in hosts}) == 2
    assert {host["host"] for host in hosts} == {socket.gethostname()}
    assert sum(host["requests"] for host in hosts) == document["requests"] > 1000
    assert all(host["requests"] > 0 and host["errors"] == 0 and host["client_cpu"]["wall_s"] > 1.9 for host in hosts)
    offsets = sorted(host["start_offset_s"] for host in hosts)
    # They started together, on the go once both were ready: then as far apart as the machine takes to wake both
    # (0.099 s at load 6.5, against a bound of 0.05 s that failed), not the second's slow init() apart.
    assert offsets[0] == 0.0 and offsets[1] < SLOW_INIT_S / 2, offsets
    served = fresh_server.counters.responses
    assert served - 20 <= document["requests"] <= served  # less at most one in flight per connection
    connections = document["connections"]
    assert {key: connections[key] for key in ("requested", "per_worker", "opened", "peak_open")} == {
        "requested": 20,
        "per_worker": 10,
        "opened": 20,
        "peak_open": 20,
    }
    assert connections["answered"] == 20 and connections["never_answered"] == 0  # both hosts' accounts, added
    # the page shows which machine did what, as the JSON's hosts (it left them out)
    cell = r"<td[^>]*>([^<]*)</td>"
    section = page.read_text().split("<h2>Hosts (Dask)</h2>")[1].split("</section>")[0]
    rows = [row[1:] for row in re.findall(f"<tr>{cell * 4}", section)]
    assert sorted(rows) == sorted((str(h["worker"]), h["host"], h["address"]) for h in hosts), rows


def test_the_connections_account_adds_up_across_dask_hosts(cluster: DaskCluster, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    with TestServer(accept=6) as server:  # loadgen's reachability probe, then 5 of the run's 20 connections
        done = run_loadgen("--dask", cluster.address, "-t2", "-c20", "-d2s", "--json", str(out), server.url())
    assert done.returncode == 0, done.stderr
    assert done.stderr_lines[0].startswith("loadgen: 15 of 20 connections got no response: "), done.stderr
    document = json.loads(out.read_text())
    connections = document["connections"]
    assert (connections["opened"], connections["answered"], connections["never_answered"]) == (20, 5, 15)
    assert sum(histogram_counts(connections["unanswered_wait_us"]["histogram"]).values()) == 15
    answered = histogram_counts(connections["responses_per_connection"]["histogram"])
    assert sum(responses * count for responses, count in answered.items()) == document["requests"]


def test_the_port_range_warning_is_given_for_the_connections_of_each_dask_host(
    cluster: DaskCluster, fresh_server: TestServer, tmp_path: Path
) -> None:
    """-c past half the ephemeral port range to one address warns before a local run; a Dask run
    said nothing (each task read its host's range and dropped the warning). The Dask workers read
    a range of 16 ports here (above the real one: no socket holds them): each task's 5 connections
    alone are under half of it, the host's 10 past it, and the two tasks' line comes once."""
    from distributed import Client

    narrow = tmp_path / "ip_local_port_range"
    narrow.write_text("61000\t61015\n")

    def read_range_from(path: str) -> None:  # run in each Dask worker process
        from loadgen._run import limits

        limits.PORT_RANGE = Path(path)

    with Client(cluster.address, set_as_default=False) as client:
        client.run(read_range_from, str(narrow))
        try:
            done = run_loadgen("--dask", cluster.address, "-t2", "-c10", "-d0.5s", fresh_server.url())
            with pytest.raises(loadgen.SetupError) as refused:  # a task's own 20 cannot all have a port: refused there
                loadgen.run(fresh_server.url(), threads=2, connections=40, duration=0.5, dask=cluster.address)
        finally:
            client.run(read_range_from, str(PORT_RANGE))  # the session's cluster, as it was
    assert done.returncode == 0, done.stderr
    assert done.stderr_lines == [
        f"loadgen: warning: 10 connections to 127.0.0.1:{fresh_server.port} take 62% of the ephemeral port range "
        "61000-61015: past half, Linux's connect() searches the range for each port, and opening them can take "
        f"seconds; widen net.ipv4.ip_local_port_range (sysctl) (on {socket.gethostname()})"
    ]
    line = str(refused.value)
    assert re.fullmatch(
        rf"20 connections to 127\.0\.0\.1:{fresh_server.port} need as many local ports, but only \d+ of the "
        rf"ephemeral range 61000-61015 are free for it \(the others are held, many in TIME-WAIT\): widen "
        rf"net\.ipv4\.ip_local_port_range \(sysctl\), or wait a minute for TIME-WAIT to clear "
        rf"\(on {re.escape(socket.gethostname())}\)",
        line,
    ), line


def test_rate_and_count_are_divided_among_the_tasks(
    cluster: DaskCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over a Unix socket named relative to here, which the tasks, in their Dask workers' directories, reach too
    (was: the test connection made here reached it, and every task's connection failed, ENOENT: exit 3)."""
    from distributed import Client

    progressed: list[loadgen.Progress] = []
    monkeypatch.chdir(tmp_path)
    with TestServer(unix_path="s.sock") as server, Client(cluster.address, set_as_default=False) as client:
        result = loadgen.run(  # the API also takes a Client
            "http://localhost/",
            unix_socket="s.sock",
            threads=2,
            connections=4,
            rate=400,
            requests=600,
            duration=10,
            dask=client,
            on_progress=progressed.append,
        )
    assert result.requests == 600 <= server.counters.responses, result.worker_failures
    assert [host.requests for host in result.hosts] == [300, 300]
    # from the seconds the tasks post (was never called with dask: --progress --dask showed nothing), the last the end's
    assert progressed and progressed[-1].requests == 600 and progressed[-1].errors == 0, progressed
    assert [p.elapsed_s for p in progressed] == sorted(p.elapsed_s for p in progressed) and progressed[0].elapsed_s > 0
    assert 1.4 < result.runtime_s < 1.6  # each task sends 300 at 200/s: the total rate is 400
    assert result.connections_opened == 4 and not result.worker_failures


def test_a_script_is_shipped_by_content_and_its_hooks_run_where_they_belong(
    cluster: DaskCluster, fresh_server: TestServer, tmp_path: Path
) -> None:
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "shipped.py").write_text(
        "import os\n"
        "def setup(thread):\n    thread.set('given', thread.id * 10)\n"
        "def init(args):\n    global cwd, pid\n    cwd, pid = os.getcwd(), os.getpid()\n"
        "def request():\n    return wrk.format('GET', '/from-the-script')\n"
        "def done(summary, latency, requests):\n    print('done in', os.getpid(), summary['requests'])\n"
    )
    out = tmp_path / "result.json"
    done = run_loadgen(
        "--dask",
        cluster.address,
        "-t2",
        "-c4",
        "-d1s",
        "-s",
        "hooks/shipped.py",
        "--json",
        str(out),
        fresh_server.url(),
        cwd=tmp_path,
        env=cluster.env,
    )  # a path the workers lack
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    workers = document["script"]["globals"]
    assert [worker["given"] for worker in workers] == [0, 10]  # setup() ran in the client, per task
    assert all(worker["cwd"] == cluster.cwd for worker in workers)  # request() ran on the Dask workers
    assert len({worker["pid"] for worker in workers}) == 2
    assert fresh_server.counters.by_path["/from-the-script"] >= document["requests"] > 0
    assert re.search(rf"^done in \d+ {document['requests']}$", done.stdout, re.M)  # done() ran in the client
    assert [host["worker"] for host in document["hosts"]] == [0, 1]


def test_a_scripts_warnings_in_the_tasks_are_shown_here_once_each(
    cluster: DaskCluster, server: TestServer, tmp_path: Path
) -> None:
    """Warnings a script raises in the tasks' workers (its init(), request()) come home and are shown as a local
    run shows them, each once with how many workers raised it: they went to each Dask worker's log, unseen. Its top
    level's, which this process raised first, once: it was said again "(from 2 workers)"."""
    script = tmp_path / "careful.py"
    script.write_text(
        "import warnings\nwarnings.warn('careful at the top')\n"
        "def init(args):\n    warnings.warn('careful in init')\n"
        "def request():\n    warnings.warn('careful')\n    return wrk.format('GET', '/')\n"
    )
    done = run_loadgen("--dask", cluster.address, "-t2", "-c2", "-n10", "-s", str(script), server.url())
    assert done.returncode == 0, done.stderr
    assert done.stderr_lines == [
        f"{script}:2: UserWarning: careful at the top",
        "  warnings.warn('careful at the top')",
        f"{script}:4: UserWarning: careful in init (from 2 workers)",
        "  warnings.warn('careful in init')",
        f"{script}:6: UserWarning: careful (from 2 workers)",
        "  warnings.warn('careful')",
    ]


def test_a_scripts_warnings_before_its_error_in_a_task_are_shown_before_that_error(
    cluster: DaskCluster, server: TestServer, tmp_path: Path
) -> None:
    """A task that cannot start (its init() raised) sends its warnings home with its error, as a local worker does."""
    script = tmp_path / "failing.py"
    script.write_text("import warnings\ndef init(args):\n    warnings.warn('careful')\n    raise ValueError('no')\n")
    done = run_loadgen("--dask", cluster.address, "-t2", "-c2", "-n10", "-s", str(script), server.url())
    assert done.returncode == 1
    assert done.stderr_lines[:2] == [f"{script}:3: UserWarning: careful", "  warnings.warn('careful')"]
    assert done.stderr_lines[2:] == [f"loadgen: {script}:4: ValueError: no (on {socket.gethostname()})"]


def test_a_task_held_off_its_cpu_past_the_go_measures_its_whole_window(
    cluster: DaskCluster, fresh_server: TestServer
) -> None:
    # The coordinator told every task to stop at the run's end and a second, counted from the go: a Dask
    # worker held 2 s past it (a busy machine) began its window as it was told, and stopped at once (0 requests)
    held = cluster.worker_pid(0)

    def hold() -> None:  # every task is ready, and the go comes next
        os.kill(held, signal.SIGSTOP)
        threading.Timer(2.0, os.kill, (held, signal.SIGCONT)).start()

    settings = loadgen.Settings(fresh_server.url(), threads=2, connections=2, duration=0.5)
    try:
        result = run_settings(settings, dask=cluster.address, on_start=hold)
    finally:
        os.kill(held, signal.SIGCONT)
    assert not result.worker_failures, result.worker_failures
    assert max(host.start_offset_s for host in result.hosts) > 1.5, result.hosts  # one began late, held
    windows = [(host.requests, round(host.client_cpu.wall_s, 3)) for host in result.hosts]
    assert all(requests > 0 and wall_s >= 0.5 for requests, wall_s in windows), windows


def test_a_dask_worker_held_stopped_is_said_to_be_unheard_and_its_engine_stops_by_itself(
    cluster: DaskCluster, fresh_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Dask worker held stopped (SIGSTOP), then the run stopped (Ctrl-C): its task is given up
    KILL_AFTER_S (2 s here) after the stop was given, the survivor's figures kept. It was "did not
    stop within 15s, and was cancelled", as if its task ran on; the scheduler, which stopped hearing
    its heartbeats, says why. Its engine, a process of its own that only the held Dask worker can
    tell to stop, loaded the server to its -d after the run had returned (24,000 responses a second,
    measured); it stops by itself once its Dask worker has been silent a second less than that."""
    from distributed import Client

    from loadgen._run import cluster as coordinator

    monkeypatch.setattr(coordinator, "KILL_AFTER_S", 2.0)
    held = cluster.worker_pid(0)
    stop = threading.Event()

    def hold() -> None:  # once the tasks measure: the go was given
        if wait_for(lambda: fresh_server.counters.responses > 0, timeout=30):
            os.kill(held, signal.SIGSTOP)
            stop.set()

    settings = loadgen.Settings(fresh_server.url(), threads=2, connections=2, duration=30)
    try:
        result = run_settings(settings, dask=cluster.address, stop=stop, on_start=threading.Thread(target=hold).start)
        time.sleep(0.3)  # what was in flight
        served = fresh_server.counters.responses
        time.sleep(0.5)
        after = fresh_server.counters.responses - served
    finally:
        os.kill(held, signal.SIGCONT)
    with Client(cluster.address, timeout=10, set_as_default=False) as client:  # the next test's cluster: idle
        assert wait_for(lambda: not any(client.processing().values()), timeout=30)
    assert after == 0  # nothing loads the server once the run has returned
    (failure,) = result.worker_failures
    assert failure.lost and failure.lost_requests is None  # what it measured is not known here
    assert re.fullmatch(
        r"on \S+ \(tcp://127\.0\.0\.1:\d+\) did not stop within 2s: its Dask worker has not been heard from for "
        r"\d+\.\ds \(held stopped, or its machine hung\), and was cancelled",
        failure.what,
    ), failure.what
    (host,) = result.hosts
    assert host.worker != failure.index and host.requests == result.requests > 0  # the survivor's, kept
    assert result.interrupted


def test_a_scheduler_held_stopped_as_the_run_starts_is_one_line(
    cluster: DaskCluster, fresh_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the scheduler's greeting and the go, every question waited for ever on a scheduler
    held stopped (the connection, the workers' list and versions, the run's queues, the tasks'
    readiness, the go: each measured past 25 s). Each gets ANSWER_S (1 s here); nothing ran: exit 1.
    The tasks, ready, are let go: the go they may get once the scheduler goes on (the one asked for,
    unanswered) finds their futures forgotten with loadgen's client, and they stop within a second
    (they loaded the server to their -d)."""
    from distributed import Client

    from loadgen._run import cluster as coordinator

    monkeypatch.setattr(coordinator, "ANSWER_S", 1.0)
    scheduler = cluster.processes[0].pid
    settings = loadgen.Settings(fresh_server.url(), threads=2, connections=2, duration=30)
    refused: list[BaseException] = []

    def run() -> None:
        try:
            run_settings(settings, dask=cluster.address, on_start=lambda: os.kill(scheduler, signal.SIGSTOP))
        except loadgen.SetupError as exc:
            refused.append(exc)

    running = threading.Thread(target=run, daemon=True)
    running.start()
    try:
        running.join(10)
        hung = running.is_alive()
    finally:
        os.kill(scheduler, signal.SIGCONT)
        running.join(30)
    time.sleep(2.5)  # the go, if the scheduler takes it now, and a look of the tasks' stop watch (once a second)
    served = fresh_server.counters.responses
    time.sleep(0.5)
    stopped = fresh_server.counters.responses == served
    with Client(cluster.address, timeout=10, set_as_default=False) as client:  # the next test's cluster: idle
        idle = wait_for(lambda: not any(client.processing().values()), timeout=15)
    assert not hung and [str(exc) for exc in refused] == [
        f"cannot reach the Dask scheduler at {cluster.address}: it did not answer within 1s before the run "
        "started (held stopped, or its machine hung)"
    ]
    assert stopped and idle


def test_more_threads_than_dask_workers_fails_before_anything_starts(
    cluster: DaskCluster, fresh_server: TestServer
) -> None:
    done = run_loadgen("--dask", cluster.address, "-t3", "-c3", "-d1s", fresh_server.url())
    assert done.returncode == 1
    assert len(done.stderr_lines) == 1 and "has 2 workers with the resource loadgen=1" in done.stderr
    assert done.stdout == "" and fresh_server.counters.requests_received == 0


def test_a_scheduler_held_stopped_mid_run_is_given_up_in_bounded_time(
    cluster: DaskCluster, fresh_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduler held stopped (SIGSTOP) keeps its connections open: the run asked it which workers
    were left, and waited for ever (measured: killed at 120 s, no line); the tasks, asking it whether
    to stop, loaded the server to their -d. Each question now gets ANSWER_S (1 s here, on both
    sides), then the scheduler is lost, as a killed one is, and the tasks stop. The shared cluster
    goes on once the scheduler does."""
    from distributed import Client

    from loadgen._run import cluster as coordinator
    from loadgen._run import remote

    def answer_within(seconds: float) -> None:  # run in each Dask worker process
        from loadgen._run import remote

        remote.ANSWER_S = seconds

    monkeypatch.setattr(coordinator, "ANSWER_S", 1.0)
    scheduler = cluster.processes[0].pid
    results: list[loadgen.Result] = []

    def hold() -> None:  # once the tasks measure: the go was given
        if wait_for(lambda: fresh_server.counters.responses > 0, timeout=30):
            os.kill(scheduler, signal.SIGSTOP)

    def run() -> None:
        settings = loadgen.Settings(fresh_server.url(), threads=2, connections=2, duration=10)
        results.append(run_settings(settings, dask=cluster.address, on_start=threading.Thread(target=hold).start))

    def served_for_a_while() -> bool:
        served = fresh_server.counters.responses
        time.sleep(0.5)
        return fresh_server.counters.responses == served

    with Client(cluster.address, timeout=10, set_as_default=False) as client:
        client.run(answer_within, 1.0)
    running = threading.Thread(target=run, daemon=True)
    running.start()
    try:
        running.join(20)
        hung = running.is_alive()
        stopped = wait_for(served_for_a_while, timeout=6)  # the scheduler still held: the tasks stopped by themselves
    finally:
        os.kill(scheduler, signal.SIGCONT)
        running.join(30)
    with Client(cluster.address, timeout=10, set_as_default=False) as client:  # the next test's cluster: idle
        client.run(answer_within, remote.ANSWER_S)  # as shipped (patched only here, in the coordinator)
        assert wait_for(lambda: not any(client.processing().values()), timeout=30)
    assert not hung and stopped
    (result,) = results
    assert not result.hosts and [failure.lost for failure in result.worker_failures] == [True, True]
    assert all(
        failure.what.endswith("was lost with the Dask scheduler: it did not answer within 1s")
        for failure in result.worker_failures
    ), result.worker_failures


def test_a_closed_client_is_refused_as_a_usage_error(cluster: DaskCluster, server: TestServer) -> None:
    from distributed import Client

    with Client(cluster.address, set_as_default=False) as client:
        pass
    with pytest.raises(loadgen.UsageError, match=r"^dask= is a closed distributed.Client: give a connected one$"):
        loadgen.run(
            server.url(), threads=1, connections=1, duration=1, dask=client
        )  # was: RuntimeError: IOLoop is closed


def _started(dask: str, out: Path, url: str, duration: str) -> subprocess.Popen[str]:
    """``loadgen --dask`` with two tasks and ``--json out``, once its tasks have started (its header is out)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "loadgen", "--dask", dask, "-t2", "-c4", f"-d{duration}", "--json", str(out), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith(f"Running {duration} test")
    return process


@pytest.mark.slow
def test_a_dask_worker_killed_mid_run_is_named_and_the_others_are_kept(
    fresh_server: TestServer, tmp_path: Path
) -> None:
    own = DaskCluster(workers=2)  # a cluster of its own: this test breaks it
    try:
        out = tmp_path / "result.json"
        process = _started(own.address, out, fresh_server.url(), "2s")  # the tasks have started
        assert wait_for(lambda: fresh_server.counters.responses > 0, timeout=30)  # and measure: mid-run
        victim = own.worker_pid(0)
        subprocess.run(["kill", "-9", str(victim)], check=True)
        stdout, stderr = process.communicate(timeout=30)
        assert (Path(own.cwd) / "dask-scratch-space").is_dir()  # the workers' scratch is in the cluster's directory
    finally:
        own.stop()
    assert not Path(own.cwd).exists()  # removed with the killed worker's scratch (was: left in /tmp)
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and re.fullmatch(
        rf"loadgen: worker \d on {re.escape(socket.gethostname())} \(tcp://127\.0\.0\.1:\d+\) was lost: .*", lines[0]
    )
    document = json.loads(out.read_text())
    assert len(document["hosts"]) == 1 and document["requests"] == document["hosts"][0]["requests"] > 0
    (failure,) = document["worker_failures"]
    assert failure["lost"] is True and failure["lost_requests"] is None  # gone with its Dask worker: not known
    # the survivor ran its whole window (a loaded machine ends it a few ms late: 2.01s)
    assert float(re.search(r" requests in (\d+\.\d+)s", stdout)[1]) >= 2.0, stdout  # type: ignore[index]


@pytest.mark.slow
def test_a_scheduler_lost_mid_run_is_said_for_each_task_it_took_along(fresh_server: TestServer, tmp_path: Path) -> None:
    """The tasks' results come home through the scheduler: with it gone, none arrives, and no
    report nor document says that 0 requests were made (was: "0 requests in 1.02s", a JSON of 0)."""
    own = DaskCluster(workers=2)
    out = tmp_path / "result.json"
    try:
        process = _started(own.address, out, fresh_server.url(), "2s")
        assert wait_for(lambda: fresh_server.counters.responses > 0, timeout=30)  # measured, then lost: mid-run
        own.stop_scheduler()
        stdout, stderr = process.communicate(timeout=60)
    finally:
        own.stop()
    assert process.returncode == 2 and "Traceback" not in stderr, stderr
    assert fresh_server.counters.responses > 0  # the server answered: it was measured, and lost
    assert "requests in" not in stdout and not out.exists(), stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 3 and all(line.endswith("was lost with the Dask scheduler") for line in lines[:2]), lines
    assert lines[2] == "loadgen: no worker's result could be collected: nothing was measured that can be reported"


@pytest.mark.slow
def test_a_dask_worker_with_another_loadgen_is_refused_naming_both_versions(
    fresh_server: TestServer, tmp_path: Path
) -> None:
    other = tmp_path / "other" / "loadgen"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("")
    (other / "_version.py").write_text('__version__ = "0.0.1"\n')
    own = DaskCluster(workers=1, pythonpath=str(other.parent))
    try:
        done = run_loadgen("--dask", own.address, "-t1", "-c1", "-d1s", fresh_server.url())
    finally:
        own.stop()
    assert done.returncode == 1 and done.stdout == "" and len(done.stderr_lines) == 1
    assert f"has loadgen 0.0.1, this is loadgen {loadgen.__version__}" in done.stderr
    assert fresh_server.counters.requests_received == 0


def test_ctrl_c_stops_every_task_and_reports_what_ran(
    cluster: DaskCluster, fresh_server: TestServer, tmp_path: Path
) -> None:
    out = tmp_path / "result.json"
    process = _started(cluster.address, out, fresh_server.url(), "20s")
    # both tasks running (on a busy machine a task may start seconds after the header), then a second of load
    counters = fresh_server.counters
    assert wait_for(lambda: counters.connections >= 4 and counters.responses > 0, timeout=60)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0 and "Traceback" not in stderr, stderr
    document = json.loads(out.read_text())
    assert document["interrupted"] and len(document["hosts"]) == 2
    assert 0.9 < document["runtime_us"] / 1e6 < 10 and document["requests"] > 0  # stopped at the signal, not -d20s
    assert f"{document['requests']} requests in" in stdout
    served = fresh_server.counters.responses
    time.sleep(0.5)
    assert fresh_server.counters.responses == served  # every task stopped


@pytest.mark.slow
def test_a_local_cluster_of_two(fresh_server: TestServer, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    temporary, environment = _temporary(tmp_path)  # where the local cluster's scratch goes
    done = run_loadgen(
        "--dask", "local:2", "-t2", "-c4", "-d1s", "--json", str(out), fresh_server.url(), env=environment
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr_lines == []
    hosts = json.loads(out.read_text())["hosts"]
    assert len(hosts) == 2 and all(host["address"].startswith("tcp://127.0.0.1:") for host in hosts)
    assert _files(temporary) == set()  # was: dask-scratch-space and its locks, left behind


def test_a_local_cluster_that_does_not_start_is_one_line_and_leaves_no_file(server: TestServer, tmp_path: Path) -> None:
    """The user's Dask configuration can keep a local cluster from starting (here a scheduler preload that is not
    installed): it was distributed's traceback, ending in "RuntimeError: Cluster failed to start: No module named
    'no_such_module_for_loadgen'" (a worker's preload: "RuntimeError: Nanny failed to start.")."""
    temporary, environment = _temporary(tmp_path)
    environment["DASK_DISTRIBUTED__SCHEDULER__PRELOAD"] = '["no_such_module_for_loadgen"]'
    done = run_loadgen("--dask", "local:1", "-t1", "-c1", "-d1s", server.url(), env=environment)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr_lines == [
        "loadgen: --dask local:1: the local Dask cluster did not start: "
        "ModuleNotFoundError: No module named 'no_such_module_for_loadgen'"
    ]
    assert _files(temporary) == set()  # its scratch directory removed


def _temporary(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An empty directory, and the environment that makes it loadgen's temporary directory."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    return temporary, {**os.environ, "TMPDIR": str(temporary)}


def _files(folder: str | Path) -> set[str]:
    """Every file and directory below ``folder``."""
    return {str(path.relative_to(folder)) for path in Path(folder).rglob("*")}


@pytest.mark.slow
def test_runs_leave_no_file_here_nor_on_the_dask_workers(
    cluster: DaskCluster, fresh_server: TestServer, tmp_path: Path
) -> None:
    """A run, and one whose script fails on the workers, leave nothing in the client's temporary
    directory, nor in the workers' (the cluster's directory, which holds their Dask scratch)."""
    temporary, environment = _temporary(tmp_path)
    script = tmp_path / "fails.py"
    script.write_text("def init(args):\n    raise ValueError('not here')\n")  # init() runs on the workers only
    on_the_workers = _files(cluster.cwd)
    done = run_loadgen("--dask", cluster.address, "-t2", "-c4", "-d1s", fresh_server.url(), env=environment)
    assert done.returncode == 0, done.stderr
    failed = run_loadgen(
        "--dask", cluster.address, "-t2", "-c4", "-d1s", "-s", str(script), fresh_server.url(), env=environment
    )
    assert failed.returncode == 1 and "ValueError: not here" in failed.stderr, failed.stderr
    assert _files(temporary) == set()
    assert _files(cluster.cwd) == on_the_workers


class _Finished:
    """A task's future, done with the empty report of a task that stopped before its window began."""

    status = "finished"

    def result(self) -> None:
        return None


class _Scheduler:
    """What the scheduler says of its workers (``Client.nthreads``): the given addresses."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    def nthreads(self) -> dict[str, int]:
        return dict.fromkeys(self.addresses, 1)


class _Gone:
    """A scheduler that cannot say which workers it has (going away)."""

    def nthreads(self) -> dict[str, int]:
        raise OSError("the scheduler went away")


@pytest.mark.parametrize(
    ("scheduler", "said"),
    [
        (_Scheduler("tcp://127.0.0.1:45049"), "stopped before its window began"),
        (_Scheduler("tcp://127.0.0.1:45050"), "was lost: its Dask worker left the cluster"),
        (_Gone(), "stopped before its window began"),  # the liveness look names the tasks lost with it
    ],
)
def test_an_empty_report_from_a_task_whose_dask_worker_left_says_it_was_lost(scheduler: object, said: str) -> None:
    """Dask runs a killed worker's task again elsewhere, where it finds the run under way and stops before its window:
    when that empty report came back before the liveness look, the kill read "stopped before its window began" (the
    test above, once in a clean-clone CI run). The engine's logic alone, with a stand-in for the scheduler."""
    from loadgen._run.cluster import _ClusterRun

    run = _ClusterRun.__new__(_ClusterRun)
    address = "tcp://127.0.0.1:45049"
    run.placed, run.failures, run.on_second, run.silent = {0: (address, "vm")}, [], None, False
    run.client = scheduler  # type: ignore[assignment]
    run._receive(_Finished(), 0)  # type: ignore[arg-type]
    assert [failure.what for failure in run.failures] == [f"on vm ({address}) {said}"]


def test_a_stop_before_the_tasks_are_ready_ends_the_run_before_its_go(
    cluster: DaskCluster, fresh_server: TestServer
) -> None:
    """Ctrl-C (the API's ``stop``) while the tasks get ready: loadgen.Interrupted, no task let go (the go, then
    a stop at once, read as a run)."""
    stop = threading.Event()
    settings = loadgen.Settings(fresh_server.url(), threads=2, connections=2, duration=5)
    with pytest.raises(loadgen.Interrupted):
        run_settings(settings, dask=cluster.address, stop=stop, on_prepared=lambda plan: stop.set())
    assert fresh_server.counters.requests_received == 0


class _Raised:
    """A task's future, done with the error its task raised."""

    status = "error"

    def exception(self) -> BaseException:
        return ValueError("no\n   such  thing")


class _Versions:
    """What ``Client.run`` gets from each Dask worker asked for its loadgen's version: the given answer."""

    def __init__(self, answer: object) -> None:
        self.answer = answer

    def run(self, function: object, *args: object, workers: list[str], on_error: str) -> dict[str, object]:
        return dict.fromkeys(workers, self.answer)


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (
            ModuleNotFoundError("No module named 'loadgen'"),
            f"loadgen is not installed on the Dask worker vm (tcp://127.0.0.1:45049): "
            f"pip install 'loadgen[dask]=={loadgen.__version__}' there",
        ),
        (
            OSError("gone\n  away"),
            "cannot ask the Dask worker vm (tcp://127.0.0.1:45049) for its loadgen version: OSError: gone away",
        ),
    ],
)
def test_a_dask_worker_without_loadgen_is_told_what_to_install(answer: BaseException, said: str) -> None:
    """The version check's other answers (tests/test_dask.py's other loadgen: another version), each one line
    naming the worker. The engine's logic alone, with a stand-in for ``Client.run``."""
    from loadgen._run.cluster import _check_versions

    with pytest.raises(loadgen.SetupError) as refused:
        _check_versions(_Versions(answer), {"tcp://127.0.0.1:45049": "vm"})  # type: ignore[arg-type]
    assert str(refused.value) == said


def test_a_task_that_raised_is_named_with_its_error_in_one_line() -> None:
    """A task's exception (loadgen's own code failing in a Dask worker) is its worker's one line, lost with
    what it measured. The engine's logic alone, with a stand-in for the future."""
    from loadgen._run.cluster import _ClusterRun

    run = _ClusterRun.__new__(_ClusterRun)
    address = "tcp://127.0.0.1:45049"
    run.placed, run.failures, run.on_second, run.silent = {0: (address, "vm")}, [], None, False
    run._receive(_Raised(), 0)  # type: ignore[arg-type]
    assert [(failure.what, failure.lost) for failure in run.failures] == [
        (f"on vm ({address}) failed: ValueError: no such thing", True)
    ]


def test_a_scheduler_that_left_a_question_unanswered_is_asked_nothing_more(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each question to a silent scheduler would wait ANSWER_S again (5 s each, several a look): once one went
    unanswered (0.05 s here), every later one is refused at once, unasked."""
    from loadgen._run import cluster as coordinator

    monkeypatch.setattr(coordinator, "ANSWER_S", 0.05)
    run = coordinator._ClusterRun.__new__(coordinator._ClusterRun)
    run.silent, never, asked = False, threading.Event(), threading.Event()
    try:
        with pytest.raises(coordinator._Silent):
            run._answered(never.wait)
    finally:
        never.set()
    with pytest.raises(coordinator._Silent):
        run._answered(asked.set)
    assert not asked.is_set()


class _Posted:
    """The run's queue on the scheduler, in this process."""

    def __init__(self) -> None:
        self.messages: list[tuple[object, ...]] = []

    def put(self, message: tuple[object, ...]) -> None:
        self.messages.append(message)

    def get(self, batch: bool) -> list[tuple[object, ...]]:
        taken, self.messages = self.messages, []
        return taken


def test_the_tasks_are_late_by_the_ends_they_posted() -> None:
    """Each task posts its worker's end (as the seconds left to it: the coordinator's clock is another machine's); the
    coordinator tells the tasks to stop LATE_S past the latest end posted (a held paced worker's end moves later),
    once each has; until then, as long as for a start. The engine's logic alone, with a stand-in for the run's queue."""
    from loadgen._run.cluster import LATE_S, _ClusterRun, _deadline
    from loadgen._run.remote import _post_end

    run = _ClusterRun.__new__(_ClusterRun)
    run.silent, run.ready = False, _Posted()
    posted = time.monotonic()
    _post_end(run.ready, 0)(posted + 2.0)  # type: ignore[arg-type]
    _post_end(run.ready, 1)(posted + 3.0)  # type: ignore[arg-type]
    _post_end(run.ready, 1)(posted + 1.0)  # type: ignore[arg-type]
    ends: dict[int, float] = {}
    run._take_ends(ends)
    taken = time.monotonic()
    assert posted + 2.0 <= ends[0] <= taken + 2.0 and posted + 3.0 <= ends[1] <= taken + 3.0
    unposted_until = taken + 60.0
    assert _deadline([0, 1], {0: ends[0]}, unposted_until) == unposted_until  # one has not posted its end
    assert _deadline([0, 1], ends, unposted_until) == ends[1] + LATE_S
    assert _deadline([0], ends, unposted_until) == ends[0] + LATE_S  # the tasks still running only
    assert _deadline([0, 1], ends, None) is None  # no -d: stopped only when asked


def test_a_task_started_again_once_its_run_is_under_way_does_nothing(
    cluster: DaskCluster, fresh_server: TestServer
) -> None:
    """Dask starts a lost Dask worker's task again elsewhere: that start finds the run's go given and measures
    nothing, so no window is measured twice (here, the task alone, its run's go set before it starts)."""
    from distributed import Client, Event

    from loadgen._run.plan import prepare
    from loadgen._run.remote import RunNames, run_task

    plan = prepare(loadgen.Settings(fresh_server.url(), threads=1, connections=1, duration=0.5), here=False)
    names = RunNames.new()
    with Client(cluster.address, set_as_default=False) as client:
        Event(names.go, client=client).set()
        again = client.submit(run_task, plan, names, 5.0, pure=False, resources={"loadgen": 1})
        assert again.result(timeout=30) is None
    assert fresh_server.counters.requests_received == 0


class _Reported:
    """A task's future, done with the given report."""

    status = "finished"

    def __init__(self, report: object) -> None:
        self.report = report

    def result(self) -> object:
        return self.report

    def done(self) -> bool:
        return True

    def cancel(self) -> None:
        pass


@pytest.mark.parametrize(
    ("failures", "script_error"),
    [((loadgen.WorkerFailure(0, 4242, "failed: OSError: no"),), None), ((), "script.py:3: ValueError: no")],
)
def test_a_task_whose_worker_failed_in_its_loop_is_kept_and_ends_the_run_for_all(
    failures: tuple[loadgen.WorkerFailure, ...], script_error: str | None
) -> None:
    """As when a local worker fails in its loop (its script raised, or it broke with its measurement kept): its
    report is kept, its failure named with its host, and every task told to stop. The engine's logic alone, with a
    stand-in for the future and the run's stop event (a threading.Event)."""
    from loadgen._run.cluster import _ClusterRun
    from loadgen._run.remote import TaskReport
    from loadgen._run.warned import WorkerWarnings
    from loadgen.measurement import Measurement

    run = _ClusterRun.__new__(_ClusterRun)
    address = "tcp://127.0.0.1:45049"
    run.placed, run.failures, run.on_second, run.silent = {0: (address, "vm")}, [], None, False
    run.reports, run.warned, run.halt = [], WorkerWarnings(), threading.Event()
    measured = Measurement(workers=1, requests=7, script_error=script_error)
    report = TaskReport(0, address, "vm", 0.0, measured, failures)
    run._receive(_Reported(report), 0)  # type: ignore[arg-type]
    assert run.reports == [report] and run.halt.is_set()
    assert [(failure.pid, failure.what) for failure in run.failures] == [
        (failure.pid, f"on vm ({address}) {failure.what}") for failure in failures
    ]


class _Cancelled:
    """A task's future, cancelled."""

    status = "cancelled"


class _Closed:
    """A client that lost its scheduler."""

    status = "closed"


class _Reset:
    """The run's queue on a scheduler that went away."""

    def get(self, batch: bool) -> list[tuple[object, ...]]:
        raise ConnectionResetError(104, "Connection reset by peer")


@pytest.mark.parametrize(("future", "queue"), [(_Cancelled(), _Posted()), (_Finished(), _Reset())])
def test_a_scheduler_gone_while_the_tasks_get_ready_is_one_line(future: object, queue: object) -> None:
    """The scheduler killed while the tasks got ready (``kill -9``, measured at 22:44 on a cluster of two):
    "worker 0 failed on the Dask cluster before it started: cancelled", exit 2 (the client cancels every future
    as it loses the scheduler), or distributed's CommClosedError traceback from the readiness question. Now
    said as the scheduler's: nothing ran, exit 1. The engine's logic alone, with stand-ins for the future, the
    client and the run's queue."""
    from loadgen._run import cluster as coordinator

    run = coordinator._ClusterRun.__new__(coordinator._ClusterRun)
    run.plan, run.stop, run.silent = SimpleNamespace(start_timeout_s=5.0), threading.Event(), False
    run.futures, run.placed, run.client, run.ready = {future: 0}, {}, _Closed(), queue
    with pytest.raises(coordinator._Gone) as gone:
        run.wait_ready()
    assert str(coordinator._lost_before_the_go("tcp://127.0.0.1:45049", gone.value)) == (
        "cannot reach the Dask scheduler at tcp://127.0.0.1:45049: it went away before the run started"
    )


class _Held:
    """A task's future, still running (its Dask worker held stopped)."""

    status = "pending"

    def done(self) -> bool:
        return False

    def cancel(self) -> None:
        pass


def test_a_report_that_came_as_the_tasks_are_given_up_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tasks still running KILL_AFTER_S after the stop are given up; one whose report came since the last look
    (its future done, not yet received) was given up with them, "did not stop within 15s, and was cancelled", and
    what it measured dropped. Here the give-up comes at the first look after the stop (KILL_AFTER_S -1). The
    engine's logic alone, with stand-ins for the futures, the client and the run's queue."""
    from loadgen._run import cluster as coordinator
    from loadgen._run.remote import TaskReport
    from loadgen._run.warned import WorkerWarnings
    from loadgen.measurement import Measurement

    monkeypatch.setattr(coordinator, "KILL_AFTER_S", -1.0)
    run = coordinator._ClusterRun.__new__(coordinator._ClusterRun)
    came, held = "tcp://127.0.0.1:45049", "tcp://127.0.0.1:45050"
    run.plan, run.stop, run.silent = SimpleNamespace(settings=SimpleNamespace(load_s=30.0)), threading.Event(), False
    run.ready, run.halt, run.live, run.on_second, run.client = _Posted(), threading.Event(), None, None, _Closed()
    run.placed, run.failures, run.reports, run.warned = {0: (came, "vm"), 1: (held, "vm")}, [], [], WorkerWarnings()
    report = TaskReport(0, came, "vm", 0.0, Measurement(workers=1, requests=7), ())
    run.futures = {_Reported(report): 0, _Held(): 1}  # type: ignore[dict-item]
    run.stop.set()
    run.collect(time.monotonic())
    assert run.reports == [report]
    assert [(failure.index, failure.what) for failure in run.failures] == [
        (1, f"on vm ({held}) did not stop within -1s, and was cancelled")
    ]


class _LostMidQuestion:
    """A client whose scheduler was killed during its question: distributed raises its CommClosedError then (measured,
    h223: the version question under way, its Dask worker held stopped, the scheduler killed)."""

    status = "connecting"  # trying to reconnect
    go = SimpleNamespace(set=lambda: _LostMidQuestion.closed("event_set"))

    @staticmethod
    def closed(op: str) -> None:
        from distributed.comm.core import CommClosedError

        raise CommClosedError(f"in <TCP (closed) ConnectionPool.{op} local=tcp://127.0.0.1:52882>: Stream is closed")

    def scheduler_info(self, n_workers: int) -> None:
        self.closed("identity")

    def run(self, *args: object, **kwargs: object) -> None:
        self.closed("broadcast")


def _ask_workers(client: Any) -> None:
    from loadgen._run.cluster import _suitable_workers

    _suitable_workers(client, 1)


def _ask_versions(client: Any) -> None:
    from loadgen._run.cluster import _check_versions

    _check_versions(client, {"tcp://127.0.0.1:45049": "vm"})


def _give_the_go(client: Any) -> None:
    from loadgen._run.cluster import _ClusterRun

    run = _ClusterRun.__new__(_ClusterRun)
    run.client, run.go, run.silent = client, client.go, False
    run.start()


@pytest.mark.parametrize("question", [_ask_workers, _ask_versions, _give_the_go])
def test_a_scheduler_killed_during_a_question_before_the_go_is_one_line(question: Callable[[Any], None]) -> None:
    """A scheduler killed during one of the questions before the go: distributed's CommClosedError reached the user
    as a traceback of 98 lines, exit 1 (the version question, h223). Now the scheduler's one line of a loss before
    the run started (tests above), as while the tasks get ready. The engine's logic alone, with a stand-in for the
    client (its queues are asked the same way, in ``_ClusterRun.__init__``)."""
    from loadgen._run import cluster as coordinator

    with pytest.raises(coordinator._Gone):
        question(_LostMidQuestion())


class _Unanswering:
    """A client whose question is never answered: its scheduler held stopped (still connected), or gone while the
    client tries to reconnect."""

    def __init__(self, status: str) -> None:
        self.status = status
        self.never = threading.Event()

    def scheduler_info(self, n_workers: int) -> None:
        self.never.wait()


@pytest.mark.parametrize(("status", "said"), [("running", "_Silent"), ("connecting", "_Gone"), ("closed", "_Gone")])
def test_a_question_unanswered_before_the_go_is_silence_only_from_a_connected_scheduler(
    status: str, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduler killed just before a question: distributed holds the question while it tries to reconnect, and
    the loss read as "it did not answer within 5s before the run started (held stopped, or its machine hung)"
    (measured, h223: each question before the go, 5.0 s after the kill, the client "connecting"). Said as gone;
    silent only while the client is still connected to it (0.05 s here)."""
    from loadgen._run import cluster as coordinator

    monkeypatch.setattr(coordinator, "ANSWER_S", 0.05)
    client = _Unanswering(status)
    try:
        with pytest.raises(OSError) as lost:
            _ask_workers(client)
    finally:
        client.never.set()
    assert type(lost.value).__name__ == said


class _Ungathered:
    """A task's future, done, whose report the scheduler was to bring home: gone, or held stopped, meanwhile."""

    status = "finished"

    def __init__(self, result: Callable[[], object]) -> None:
        self.result = result


def test_a_report_the_scheduler_cannot_bring_home_names_its_task_and_keeps_those_home(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A task's report comes home through the scheduler (``future.result()``, without a limit): a scheduler held
    stopped once a task had finished held the run for as long (measured, h223: 25 s, until it went on), and one
    killed meanwhile ended it in distributed's CommClosedError, a traceback. Now the question is given ANSWER_S (0.05
    s here) as the others are, and the task named as lost with the scheduler; a report already home is kept. The
    engine's logic alone, with stand-ins for the futures."""
    from loadgen._run import cluster as coordinator
    from loadgen._run.remote import TaskReport
    from loadgen._run.warned import WorkerWarnings
    from loadgen.measurement import Measurement

    monkeypatch.setattr(coordinator, "ANSWER_S", 0.05)
    run = coordinator._ClusterRun.__new__(coordinator._ClusterRun)
    home, gone, held = "tcp://127.0.0.1:45049", "tcp://127.0.0.1:45050", "tcp://127.0.0.1:45051"
    run.placed = {0: (home, "vm"), 1: (gone, "vm"), 2: (held, "vm")}
    run.failures, run.reports, run.warned, run.on_second, run.silent = [], [], WorkerWarnings(), None, False
    report = TaskReport(0, home, "vm", 0.0, Measurement(workers=1, requests=7), ())
    never = threading.Event()
    try:
        run._receive(_Reported(report), 0)  # type: ignore[arg-type]
        run._receive(_Ungathered(lambda: _LostMidQuestion.closed("gather")), 1)  # type: ignore[arg-type]
        run._receive(_Ungathered(never.wait), 2)  # type: ignore[arg-type]
    finally:
        never.set()
    assert run.reports == [report]
    assert [(failure.index, failure.what, failure.lost) for failure in run.failures] == [
        (
            1,
            f"on vm ({gone}) was lost with the Dask scheduler (CommClosedError: in <TCP (closed) "
            "ConnectionPool.gather local=tcp://127.0.0.1:52882>: Stream is closed)",
            True,
        ),
        (2, f"on vm ({held}) was lost with the Dask scheduler: it did not answer within 0.05s", True),
    ]
    assert run.silent  # asked nothing more, as after any question it left unanswered
