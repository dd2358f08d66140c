"""A group's server is stopped while the next group's server starts, and never while anything is measured: seen
in /proc every 10 ms over a real quick run of three servers."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from server_matrix.servers.server import MARKER
from tests.matrix.conftest import MatrixCommand, assert_nothing_left, load_results

pytestmark = pytest.mark.slow

FORK_SERVER = b"from loadgen._run.forkserver import serve"  # in the command line of loadgen's fork server and workers


def read(path: str) -> bytes:
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError:
        return b""


def parent(pid: int) -> int:
    stat = read(f"/proc/{pid}/stat")
    return int(stat.rsplit(b")", 1)[1].split()[1]) if stat else 0


@dataclass
class Sightings:
    """When each server (by its marker) was first and last seen, and what was alive while loadgen's workers were."""

    first: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    beside_workers: list[set[str]] = field(default_factory=list)  # the servers alive at each look with workers

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
            elif FORK_SERVER in read(f"/proc/{pid}/cmdline") and FORK_SERVER in read(f"/proc/{parent(pid)}/cmdline"):
                measuring = True  # a loadgen worker (the fork server's child): a cell is being measured
        if measuring:
            self.beside_workers.append(servers)


def test_the_next_server_starts_while_the_last_stops_and_nothing_is_measured_beside_it(
    matrix: MatrixCommand, tmp_path: Path
) -> None:
    sightings = Sightings()
    finished = threading.Event()

    def keep_looking() -> None:
        while not finished.wait(0.01):
            sightings.look(matrix)

    looking = threading.Thread(target=keep_looking, daemon=True)
    looking.start()
    try:
        done = matrix.quick_run(
            tmp_path / "out", "--modes", "wsgi-sync,asgi-uvicorn-single,asgi-gunicorn", "--endpoints", "json",
            "--variants", "sync",
        )  # fmt: skip
    finally:
        finished.set()
        looking.join()
    assert done.returncode == 0, done.stderr[-3000:]
    results = load_results(tmp_path / "out")
    assert len([cell for cell in results["cells"] if cell["status"] == "ok"]) == 3
    order = sorted(sightings.first, key=sightings.first.__getitem__)
    assert len(order) == 3, sightings
    for last, following in itertools.pairwise(order):  # each started before the one before it was gone
        assert sightings.first[following] < sightings.last[last], (last, following, sightings)
    assert sightings.beside_workers, "no measurement seen"
    assert all(len(alive) == 1 for alive in sightings.beside_workers), sightings.beside_workers
    assert_nothing_left(matrix, results)
