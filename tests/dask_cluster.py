"""A real Dask cluster on 127.0.0.1 for the tests: a ``dask scheduler`` and ``dask worker``
processes with the resource ``loadgen=1``, each in its own process group so that stopping the
cluster stops everything it started, even when a test fails. Its processes run in a directory of
its own, which is their temporary directory too (Dask's ``dask-scratch-space`` lands there):
stopping the cluster removes it, with whatever a SIGKILL left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from loadgen.testing.launch import start
from tests.conftest import children_of, free_port

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 30.0


class DaskCluster:
    """``workers`` Dask workers (one process, one thread each) and their scheduler."""

    def __init__(self, workers: int, pythonpath: str = "") -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        # the workers import this checkout's loadgen, and run where the client's files are not
        self.cwd = tempfile.mkdtemp(prefix="loadgen-dask-")
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": self.cwd}
        self.processes: list[subprocess.Popen[bytes]] = []
        dask = [sys.executable, "-m", "dask"]
        self.log = Path(self.cwd) / "scheduler.log"  # what a user's scheduler would show them
        with self.log.open("wb") as log:
            self._start([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"], log)
        if pythonpath:  # the workers import what is there first: another loadgen, say
            self.env = {**self.env, "PYTHONPATH": os.pathsep.join((pythonpath, str(ROOT)))}
        self.worker_processes = [
            self._start(
                [
                    *dask,
                    "worker",
                    self.address,
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--resources",
                    "loadgen=1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                ]
            )
            for _ in range(workers)
        ]
        self.wait_for_workers(workers)

    def _start(self, command: list[str], log: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
        # launch.start: it dies with this process, however that dies (a killed pytest left a cluster running)
        process = start(
            command,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log or subprocess.DEVNULL,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def workers(self) -> int:
        """Dask workers the scheduler knows, asked the way a user would (``dask`` has no such
        command, so a one-line client)."""
        from distributed import Client

        with Client(self.address, timeout=5, set_as_default=False) as client:
            return len(client.scheduler_info(n_workers=-1)["workers"])

    def wait_for_workers(self, count: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if self.workers() >= count:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the Dask cluster did not get {count} workers within {READY_TIMEOUT_S:.0f}s")

    def worker_pid(self, index: int) -> int:
        """The Dask worker process itself (the ``dask worker`` command is its nanny)."""
        nanny = self.worker_processes[index].pid
        for pid in children_of(nanny):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        raise RuntimeError(f"no worker process under the nanny {nanny}")

    def stop_scheduler(self) -> None:
        _kill(self.processes[0])

    def stop(self) -> None:
        for process in reversed(self.processes):
            _kill(process)
        _remove(self.cwd)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process's whole group (a nanny and its worker, say), then reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)


def _remove(folder: str) -> None:
    """The cluster's directory, once its processes are killed (a worker under its killed nanny may
    still be going: tried again for a second, then whatever stays is named)."""
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        shutil.rmtree(folder, ignore_errors=True)
        if not os.path.exists(folder):
            return
        time.sleep(0.05)
    shutil.rmtree(folder)
