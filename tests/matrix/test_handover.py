"""Seen in /proc every 10 ms over one real quick run of three servers, loadgen pinned to a CPU:

- a group's server is stopped while the next group's server starts, and never while anything is measured;
- one process forks loadgen's workers for the whole run (a ``loadgen.Workers``), on the client's CPUs, over
  every server's cells, and is gone with the run.

One run for both (a quick run costs seconds): each test asserts on what was seen during it."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from server_matrix.servers.server import MARKER
from tests.matrix.conftest import MatrixCommand, assert_nothing_left, kill_leftovers, load_results, make_command

pytestmark = [pytest.mark.slow, pytest.mark.alone]  # the cores pinned, the machine's noise judged: tests/alone.py

FORK_SERVER = b"from loadgen._run.forkserver import serve"  # in the command line of loadgen's fork server and workers
MODES = ("wsgi-sync", "asgi-uvicorn-single", "asgi-gunicorn")
ENDPOINTS = ("json",)
# loadgen on the second CPU, when there is one (the fork server's test needs it)
CLIENT_CPU = sorted(os.sched_getaffinity(0))[1] if len(os.sched_getaffinity(0)) >= 2 else None


def read(path: str) -> bytes:
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError:
        return b""


def parent(pid: int) -> int:
    stat = read(f"/proc/{pid}/stat")
    return int(stat.rsplit(b")", 1)[1].split()[1]) if stat else 0


def forked(pid: int) -> bool:
    """Whether ``pid`` runs the fork server's code: the fork server, or a worker it forked (the same command line)."""
    return FORK_SERVER in read(f"/proc/{pid}/cmdline")


@dataclass
class Sightings:
    """When each server (by its marker) was first and last seen, and what was alive while loadgen's workers were;
    the run's fork servers and loadgen workers, each with the CPUs it may run on."""

    first: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    beside_workers: list[set[str]] = field(default_factory=list)  # the servers alive at each look with workers
    fork_servers: dict[int, set[int]] = field(default_factory=dict)
    workers: dict[int, set[int]] = field(default_factory=dict)

    def look(self, matrix: MatrixCommand) -> None:
        now = time.monotonic()
        servers, measuring = set(), False
        prefix = f"{MARKER}=".encode()
        for pid in matrix.leftovers():
            variables = read(f"/proc/{pid}/environ").split(b"\0")
            server = next((item[len(prefix) :].decode() for item in variables if item.startswith(prefix)), None)
            if server is not None:
                servers.add(server)
                self.first.setdefault(server, now)
                self.last[server] = now
            elif forked(pid):
                worker = forked(parent(pid))  # a loadgen worker (the fork server's child): a cell is being measured
                measuring = measuring or worker
                try:
                    cpus = os.sched_getaffinity(pid)
                except OSError:
                    continue  # gone meanwhile
                (self.workers if worker else self.fork_servers)[pid] = cpus
        if measuring:
            self.beside_workers.append(servers)


@dataclass
class Observed:
    command: MatrixCommand
    results: dict
    sightings: Sightings


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    """The run, looked at every 10 ms from a thread: a cell's workers live about its 0.25 s window, and are gone by
    the time its progress line is printed."""
    command = make_command(tmp_path_factory.mktemp("handover"))
    sightings = Sightings()
    finished = threading.Event()

    def keep_looking() -> None:
        while not finished.wait(0.01):
            sightings.look(command)

    looking = threading.Thread(target=keep_looking, daemon=True)
    looking.start()
    out = command.workdir / "out"
    pinned = ("--client-cpus", str(CLIENT_CPU)) if CLIENT_CPU is not None else ()
    try:
        done = command.quick_run(
            out, "--modes", ",".join(MODES), "--endpoints", ",".join(ENDPOINTS), "--variants", "sync", *pinned
        )
    finally:
        finished.set()
        looking.join()
    assert done.returncode == 0, done.stderr[-3000:]
    results = load_results(out)
    measured = [cell for cell in results["cells"] if cell["status"] == "ok"]
    assert len(measured) == len(MODES) * len(ENDPOINTS)
    assert len({sample["server"]["pid"] for cell in measured for sample in cell["samples"]}) == len(MODES)
    yield Observed(command, results, sightings)
    assert not kill_leftovers(command), "the matrix left processes behind"


def test_the_next_server_starts_while_the_last_stops_and_nothing_is_measured_beside_it(observed: Observed) -> None:
    sightings = observed.sightings
    order = sorted(sightings.first, key=sightings.first.__getitem__)
    assert len(order) == len(MODES), sightings
    for last, following in itertools.pairwise(order):  # each started before the one before it was gone
        assert sightings.first[following] < sightings.last[last], (last, following, sightings)
    assert sightings.beside_workers, "no measurement seen"
    assert all(len(alive) == 1 for alive in sightings.beside_workers), sightings.beside_workers
    assert_nothing_left(observed.command, observed.results)


@pytest.mark.skipif(CLIENT_CPU is None, reason="needs two CPUs: one for the servers, one for loadgen")
def test_one_pinned_process_forks_loadgens_workers_for_every_cell(observed: Observed) -> None:
    servers, workers = observed.sightings.fork_servers, observed.sightings.workers
    assert len(servers) == 1, f"fork servers seen: {servers}"  # one for every server's cells
    assert list(servers.values()) == [{CLIENT_CPU}]  # pinned as the runner...
    assert workers and all(cpus == {CLIENT_CPU} for cpus in workers.values()), workers  # ...and so its workers
    assert_nothing_left(observed.command, observed.results)
