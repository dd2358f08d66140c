"""Shared fixtures: real servers on 127.0.0.1 and a way to run the real ``loadgen`` command."""

from __future__ import annotations

import compileall
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest
from hypothesis import HealthCheck, settings

import loadgen
from loadgen.testing.server import TestServer
from tests.alone import drop_turns, share_turns, turn

# Hypothesis's wall-clock checks (a 200 ms deadline per example, "too slow" data generation) time the
# machine, not the code: on a busy one they fail tests whose properties hold. The CPU bounds that matter
# are asserted by the tests themselves.
settings.register_profile("loadgen", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("loadgen")

# The tests send SIGHUP to loadgen and server-matrix as a closing terminal would, and both keep a
# SIGHUP they inherit ignored (``nohup``: the user asked them to outlive the terminal). A suite
# started under nohup would hand that on to every command it starts: they run as from a terminal.
# So with SIGINT, which a shell ignores in what it starts in the background (``.ci/run &``).
signal.signal(signal.SIGHUP, signal.SIG_DFL)
signal.signal(signal.SIGINT, signal.default_int_handler)
# A suite stopped by SIGTERM (``timeout 60 pytest``, as a mutation queue runs it) died without its fixtures'
# teardown: the servers they started in sessions of their own ran on (four sets of the demo's, 70 minutes, through
# the next clean-clone run). As Ctrl-C, SIGTERM ends the suite with every fixture stopped.
signal.signal(signal.SIGTERM, signal.default_int_handler)

if TYPE_CHECKING:
    from tests.dask_cluster import DaskCluster

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
COMPILED = ("loadgen", "server_matrix", "demo")  # what the suite's commands, servers and Dask workers import


def pytest_configure(config: pytest.Config) -> None:
    share_turns(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    drop_turns(config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
    """Each test (its fixtures' setup and teardown too) in its turn: see tests/alone.py."""
    with turn(item):
        return (yield)


def pytest_sessionstart(session: pytest.Session) -> None:
    """The repository's packages compiled to bytecode first, as an install compiles them: under
    PYTHONDONTWRITEBYTECODE (some machines, this CI's among them, set it) a tree without ``__pycache__``
    is compiled again by every process that imports it, and the suite starts hundreds (loadgen and
    server-matrix commands, servers, Dask workers). Nothing is compiled that is up to date."""
    for package in COMPILED:
        compileall.compile_dir(ROOT / package, quiet=1)


@pytest.fixture(scope="session")
def server() -> Iterator[TestServer]:
    """The controllable test server (see loadgen.testing.server), shared by the session.

    Tests that read its counters use ``fresh_server`` instead, since counts accumulate here.
    """
    with TestServer() as running:
        yield running


@pytest.fixture
def fresh_server() -> Iterator[TestServer]:
    with TestServer() as running:
        yield running


@pytest.fixture(scope="session")
def workers() -> Iterator[loadgen.Workers]:
    """One fork server for the session's ``loadgen.run(..., workers=workers)``: a run without it starts
    a fresh interpreter first (0.2-0.3 s). Started here, in the main thread, which outlives every run.
    The tests about a fresh run (its fork server, a worker's death, CPU pinning) call ``loadgen.run``
    without it."""
    with loadgen.Workers() as running:
        yield running


@pytest.fixture(scope="session")
def shared_cluster() -> Iterator[DaskCluster]:
    """A real Dask cluster of two workers on 127.0.0.1 (tests/dask_cluster.py), started once."""
    from tests.dask_cluster import DaskCluster

    running = DaskCluster(workers=2)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def cluster(shared_cluster: DaskCluster) -> DaskCluster:
    """The session's Dask cluster, with both its workers: shared by the tests that only use a healthy
    cluster (five modules: a start each cost seconds); a test that breaks a cluster starts its own."""
    shared_cluster.wait_for_workers(2)
    return shared_cluster


@dataclass
class ServerProcess:
    """The test server in its own process, so that a test can kill it."""

    process: subprocess.Popen
    port: int

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@pytest.fixture
def server_process() -> Iterator[ServerProcess]:
    process = subprocess.Popen([sys.executable, "-m", "loadgen.testing.server"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline())
        yield ServerProcess(process, port)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_unchecked(*args: str, timeout: float = 60, **kwargs) -> Completed:
    """The installed command, as a user runs it, whatever it wrote."""
    done = subprocess.run(
        [sys.executable, "-m", "loadgen", *args], capture_output=True, text=True, timeout=timeout, **kwargs
    )
    return Completed(done.returncode, done.stdout, done.stderr)


def untraced(done: Completed) -> Completed:
    """``done``, once checked as :func:`run_loadgen` checks each command: no traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    return done


def run_loadgen(*args: str, timeout: float = 60, **kwargs) -> Completed:
    """The installed command, as a user runs it."""
    return untraced(run_unchecked(*args, timeout=timeout, **kwargs))


def run_loadgen_together(*commands: Sequence[str], timeout: float = 60, checked: bool = True) -> list[Completed]:
    """Several commands at once, each as :func:`run_loadgen` runs it, their results in order: a
    fixture's independent runs take the longest one's time, not their sum, and whatever else loads
    the machine weighs on them alike. ``checked=False`` leaves :func:`untraced` to each test that
    reads one (a fixture's traceback would fail every test of the module)."""
    run = run_loadgen if checked else run_unchecked
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda args: run(*args, timeout=timeout), commands))


# Short commands that time nothing (a usage error refused, a file read, a boot that fails), run by a fixture for its
# module's tests: each is mostly an interpreter's start, and two cores start a few at a time in about half their sum.
AT_ONCE = 4


def each_selected(request: pytest.FixtureRequest, test: str, run: Callable[..., T]) -> dict[str, Future[T]]:
    """For a module fixture: ``run(**params)`` for each case of this module's parametrized ``test`` that the session
    runs (none for the cases deselected), AT_ONCE at a time, all done, by the case's id: each test takes its own
    (``[request.node.callspec.id].result()``: what it returned, or what it raised, raised in that test) and asserts
    on it as on a command it ran itself."""
    cases = [
        item.callspec
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is request.module and item.originalname == test
    ]
    with ThreadPoolExecutor(AT_ONCE) as pool:
        return {case.id: pool.submit(run, **case.params) for case in cases}


def at_once(*calls: Callable[[], T]) -> list[T]:
    """Each call in a thread of its own, their results in order: independent runs through the API
    (``loadgen.Workers`` takes runs at once from several threads) take the longest one's time, not
    their sum."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


def subcommand_together(name: str, *arguments: Sequence[str]) -> list[Completed]:
    """``loadgen NAME`` with each of these arguments, all at once (:func:`run_loadgen_together`), results in order: for
    the commands that only read files and time nothing (``compare``, ``merge``), so that a test's several take about
    one's time on two cores, not their sum."""
    return run_loadgen_together(*[(name, *args) for args in arguments])


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(serve: Callable[[socket.socket], None]) -> Iterator[int]:
    """A port on 127.0.0.1 whose every connection ``serve`` handles, each in a thread of its own."""

    def accept(listening: socket.socket) -> None:
        while True:
            try:
                conn, _ = listening.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    with socket.create_server(("127.0.0.1", 0)) as listening:
        threading.Thread(target=accept, args=(listening,), daemon=True).start()
        yield listening.getsockname()[1]


@contextmanager
def slow_tls_port(context: ssl.SSLContext, held_s: float) -> Iterator[int]:
    """A TLS port on 127.0.0.1 whose server (``context``'s) waits ``held_s`` before each handshake
    (a far or busy server), then never answers."""
    held: list[socket.socket] = []

    def serve(conn: socket.socket) -> None:
        time.sleep(held_s)
        try:
            held.append(context.wrap_socket(conn, server_side=True))
        except OSError:
            conn.close()

    with serving(serve) as port:
        yield port
    for conn in held:
        conn.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose connections are made (the kernel queues them) and never answered."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as listening:
        yield listening.getsockname()[1]


@pytest.fixture
def full_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose accept queue is full: a connection to it is never made (the kernel
    drops its SYNs), as to a host that does not answer."""
    import socket

    with socket.socket() as listening, socket.socket() as held:
        listening.bind(("127.0.0.1", 0))
        listening.listen(0)  # room for one connection
        held.connect(listening.getsockname())
        yield listening.getsockname()[1]


@pytest.fixture(scope="session")
def wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        pytest.skip("wrk is not installed (apt-get install wrk); .ci/run installs it")
    return path


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def stop_after_first_response(server: TestServer, after_s: float) -> threading.Event:
    """An event for ``loadgen.run(stop=...)``, set ``after_s`` after the server's first response
    (set before the workers start, it would be "interrupted before the run started")."""
    stop = threading.Event()

    def set_it() -> None:
        wait_for(lambda: server.counters.responses > 0, timeout=30)
        time.sleep(after_s)
        stop.set()

    threading.Thread(target=set_it, daemon=True).start()
    return stop


def connected_to(port: int) -> int:
    """Established TCP connections to 127.0.0.1:``port``, the server's ends of them (/proc/net/tcp):
    how a test sees that a client's run has begun when the server is another process."""
    local = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1] == local and line.split()[3] == "01")


def dialing(port: int) -> int:
    """Connections to 127.0.0.1:``port`` still waiting for the server's SYN-ACK (SYN_SENT in
    /proc/net/tcp): how a test sees that a client is in its connect to a port that never accepts."""
    remote = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[2] == remote and line.split()[3] == "02")


def children_of(pid: int) -> list[int]:
    """Direct child processes, from /proc (no extra dependency)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """Running: not gone, nor a zombie its parent has yet to reap."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _is_fork_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"forkserver import serve" in cmdline.read()
    except OSError:
        return False


def workers_of(pid: int) -> list[int]:
    """loadgen's worker processes: the command's children (it forks them itself), or the children
    of the fork server a run through the API starts (then only theirs: the test process has other
    children, a Prometheus started with its module, an nginx, that are no workers)."""
    children = children_of(pid)
    servers = [child for child in children if _is_fork_server(child)]
    return [worker for server in servers for worker in children_of(server)] if servers else children


def held_across(args: Sequence[str], stop_s: float, cont_s: float) -> subprocess.Popen:
    """The command started with its one worker, stopped (SIGSTOP, as a busy machine holds it off a
    CPU) from ``stop_s`` to ``cont_s`` after its start, then running on: the caller communicates."""
    run = subprocess.Popen(
        [sys.executable, "-m", "loadgen", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert run.stdout is not None
    assert run.stdout.readline().startswith("Running ")  # the worker starts as this is printed
    started = time.monotonic()
    assert wait_for(lambda: len(workers_of(run.pid)) == 1)
    (worker,) = workers_of(run.pid)
    time.sleep(max(0.0, started + stop_s - time.monotonic()))
    os.kill(worker, signal.SIGSTOP)
    time.sleep(max(0.0, started + cont_s - time.monotonic()))
    os.kill(worker, signal.SIGCONT)
    return run


def interrupt(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)


def selected_at_once(request: pytest.FixtureRequest, calls: dict[str, Callable[[], T]]) -> dict[str, Future[T]]:
    """For a module fixture: each call, keyed by the name of this module's test that asserts on it, run only if the
    session runs that test (a slow one deselected costs nothing), all at once, all done: each test takes its own
    (``[name].result()``: what it returned, or what it raised, raised in that test)."""
    selected = {
        item.originalname
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is request.module
    }
    chosen = {name: call for name, call in calls.items() if name in selected}
    with ThreadPoolExecutor(max(1, len(chosen))) as pool:
        return {name: pool.submit(call) for name, call in chosen.items()}
