"""``loadgen.Workers``: one process forks the workers of every run given it (run and run_async, one
after another or at once), a new one replaces it if it was killed between runs, and closing it
leaves no process behind, not even a worker of a run still going. Each worker says who forked it
from a script's ``init`` (its pid and its parent's, in a file of its own)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import loadgen
from loadgen.testing.server import TestServer

from .conftest import wait_for

WHO_FORKED_ME = """\
import os

def init(args):
    with open(os.path.join(args[1], str(os.getpid())), "w") as out:  # args[0] is the URL
        out.write(str(os.getppid()))
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "who_forked_me.py"
    path.write_text(WHO_FORKED_ME)
    return path


def parents(directory: Path) -> dict[int, int]:
    """Each worker that ran with ``directory`` as its script's argument: pid -> parent pid."""
    return {int(entry.name): int(entry.read_text()) for entry in directory.iterdir()}


def traced_run(
    server: TestServer, script: Path, directory: Path, workers: loadgen.Workers, duration: float = 0.3
) -> loadgen.Result:
    directory.mkdir()
    return loadgen.run(
        server.url(), threads=2, connections=4, duration=duration, script=str(script),
        script_args=(str(directory),), workers=workers,
    )  # fmt: skip


def assert_answered(result: loadgen.Result) -> None:
    assert result.requests > 0 and not result.worker_failures
    assert dict(result.status_counts) == {200: result.requests}


def gone(pid: int) -> bool:
    """No such process, not even a zombie."""
    return not Path(f"/proc/{pid}").exists()


def state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def dead_within(pids: list[int], seconds: float) -> bool:
    """Every one of ``pids`` exited (a zombie, whose parent has not reaped it yet, or gone) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while any(state(pid) not in ("Z", "gone") for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    return all(state(pid) in ("Z", "gone") for pid in pids)


def test_two_runs_on_one_pool_fork_their_workers_from_its_one_process(
    fresh_server: TestServer, script: Path, tmp_path: Path
) -> None:
    with loadgen.Workers() as workers:
        pid = workers.pid
        first = traced_run(fresh_server, script, tmp_path / "first", workers)
        second = traced_run(fresh_server, script, tmp_path / "second", workers)
        assert workers.pid == pid
    for result in (first, second):
        assert_answered(result)
    assert first.requests + second.requests <= fresh_server.counters.responses
    first_workers, second_workers = parents(tmp_path / "first"), parents(tmp_path / "second")
    assert len(first_workers) == len(second_workers) == 2
    assert set(first_workers.values()) == set(second_workers.values()) == {pid}
    assert not set(first_workers) & set(second_workers)  # new worker processes each run
    assert gone(pid)


def test_a_pool_whose_process_was_killed_between_runs_starts_another(
    fresh_server: TestServer, script: Path, tmp_path: Path
) -> None:
    with loadgen.Workers() as workers:
        killed = workers.pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        assert dead_within([killed], 5)
        result = traced_run(fresh_server, script, tmp_path / "after", workers)
        assert workers.pid not in (killed, None)
        assert set(parents(tmp_path / "after").values()) == {workers.pid}
        assert gone(killed)  # reaped when it was replaced
    assert_answered(result)


def test_closing_the_pool_stops_its_process_and_the_workers_of_a_run_still_going(
    fresh_server: TestServer, script: Path, tmp_path: Path
) -> None:
    workers = loadgen.Workers()
    pid = workers.pid
    assert pid is not None
    directory = tmp_path / "cut"
    outcome: list[loadgen.Result | BaseException] = []

    def measure() -> None:
        try:
            outcome.append(traced_run(fresh_server, script, directory, workers, duration=10))
        except BaseException as error:  # the test looks at it below
            outcome.append(error)

    running = threading.Thread(target=measure)
    running.start()
    deadline = time.monotonic() + 5
    while (not directory.exists() or len(list(directory.iterdir())) < 2) and time.monotonic() < deadline:
        time.sleep(0.01)
    # their init() wrote those files before they reported ready: the run is going once the server answers
    # (beside a CPU hog, a pool closed between the two lost the workers "before it started": a WorkerError),
    # and the files are whole (a file was read once between its creation and its write)
    assert wait_for(lambda: fresh_server.counters.responses > 0), "the run did not start"
    started = parents(directory)
    assert len(started) == 2, "the run's workers did not start"
    workers.close()
    workers.close()  # harmless twice
    running.join(5)
    assert not running.is_alive(), "the run did not end with its workers' process"
    assert gone(pid)
    assert dead_within(list(started), 2), "a worker outlived its process"
    (result,) = outcome
    assert isinstance(result, loadgen.WorkerError), result  # nothing was measured, as README says
    assert (
        "no worker's result could be collected" in str(result)
        and "worker 0" in str(result)
        and "worker 1" in str(result)
    )
    with pytest.raises(loadgen.UsageError, match="closed"):
        loadgen.run(fresh_server.url(), duration=0.1, workers=workers)


def test_run_async_runs_at_once_on_one_pool(fresh_server: TestServer, script: Path, tmp_path: Path) -> None:
    async def both(workers: loadgen.Workers) -> list[loadgen.Result]:
        runs = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            arguments = {"script": str(script), "script_args": (str(tmp_path / name),), "workers": workers}
            runs.append(loadgen.run_async(fresh_server.url(), threads=2, connections=4, duration=0.5, **arguments))
        return list(await asyncio.gather(*runs))

    with loadgen.Workers() as workers:
        results = asyncio.run(both(workers))
        pid = workers.pid
    for result in results:
        assert_answered(result)
    assert set(parents(tmp_path / "a").values()) | set(parents(tmp_path / "b").values()) == {pid}
    assert len(parents(tmp_path / "a")) == len(parents(tmp_path / "b")) == 2


def test_a_pool_with_a_dask_cluster_is_refused(server: TestServer) -> None:
    with loadgen.Workers() as workers, pytest.raises(loadgen.UsageError, match="dask"):
        loadgen.run(server.url(), duration=0.1, dask="local:1", workers=workers)


NEVER_CLOSED = """\
import gc, sys
import loadgen

dropped = loadgen.Workers()
print(dropped.pid, flush=True)
del dropped  # collected at once: its process is stopped then
gc.collect()
kept = loadgen.Workers()  # still open at exit
print(kept.pid, flush=True)
"""


def test_workers_never_closed_say_so_and_their_processes_stop(tmp_path: Path) -> None:
    """Once Python's own warnings at exit (under -X dev), which named no loadgen: 'subprocess N is
    still running' and 'unclosed <socket ...>'. The warning is put on the user's line that dropped
    them (it named weakref.py's finalize), or on 'sys:1' at exit, as for a file left open."""
    program = tmp_path / "never_closed.py"
    program.write_text(NEVER_CLOSED)
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "always::ResourceWarning", str(program)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(loadgen.__file__).parent.parent)},
    )
    pids = [int(line) for line in done.stdout.split()]
    assert len(pids) == 2, done.stderr
    for pid, where in zip(pids, (f"{program}:6", "sys:1"), strict=True):
        said = f"{where}: ResourceWarning: unclosed <loadgen.Workers pid={pid}>: close() it, or use it in a with block"
        assert said in done.stderr
        assert not Path(f"/proc/{pid}").exists()  # stopped and reaped
    assert "weakref.py" not in done.stderr, done.stderr
    assert "still running" not in done.stderr and "<socket" not in done.stderr, done.stderr
