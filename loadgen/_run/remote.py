"""A loadgen worker as a Dask task: what runs inside a Dask worker process.

The task follows the local worker process's protocol over Dask's coordination primitives, named
after the run: it loads its script and checks its machine's limits, posts ``("ready", ...)`` or
``("error", ...)`` on the run's ready queue, waits for the run's go event, then runs
:func:`~loadgen._run.worker.run_worker` on its own monotonic clock, stopping early when the run's
stop event is set. Dask starts a task again when its worker is lost; that second start finds the
run under way and does nothing, so no window is measured twice. ``distributed`` is imported only
when a task runs, so plain loadgen never imports it.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import SetupError
from ..measurement import Measurement
from .limits import check_limits, open_file_limit
from .spec import WorkerSpec
from .worker import Worker, load_spec_script, run_worker

if TYPE_CHECKING:
    from distributed import Event

__all__ = ["RunNames", "TaskReport", "run_task"]

POLL_S = 0.1  # how often a waiting task looks at the run's events (each look is a long poll)


@dataclass(frozen=True)
class RunNames:
    """The names of one run's queue and events on the scheduler: unique, so runs never mix."""

    ready: str
    go: str
    stop: str

    @classmethod
    def new(cls) -> RunNames:
        run = f"loadgen-{uuid.uuid4().hex}"
        return cls(f"{run}-ready", f"{run}-go", f"{run}-stop")


@dataclass(frozen=True)
class TaskReport:
    """What one task sends home: where it ran, when its window began (its machine's wall
    clock, for the start skew) and what it measured."""

    index: int
    address: str  # the Dask worker's
    host: str
    started_at: float
    measurement: Measurement
    failure: str | None  # an unexpected error in the engine, as one line


def run_task(spec: WorkerSpec, names: RunNames, start_timeout_s: float) -> TaskReport | None:
    """One worker's share of the run, inside a Dask worker; None when it did not run (the run
    started without it, was stopped first, or it failed to get ready and said why)."""
    from distributed import Event, Queue, get_worker

    go, stop, ready = Event(names.go), Event(names.stop), Queue(names.ready)
    if go.is_set() or stop.is_set():
        return None  # started again after its first Dask worker was lost: the run went on without it
    address, host = get_worker().address, socket.gethostname()
    try:
        open_file_limit()  # its connections are its open files: take the hard limit
        check_limits(spec.connections, 1, spec.address)
        script = load_spec_script(spec)
    except SetupError as exc:
        ready.put(("error", spec.index, f"{exc} (on {host})"))
        return None
    ready.put(("ready", spec.index, address, host))
    deadline = time.monotonic() + start_timeout_s
    while not go.wait(timeout=POLL_S):
        if stop.is_set() or time.monotonic() > deadline:
            return None
    finished = threading.Event()
    workers: list[Worker] = []

    def wire(worker: Worker) -> None:
        workers.append(worker)
        threading.Thread(target=_relay_stop, args=(stop, worker, finished), daemon=True).start()

    started_at = time.time()
    try:
        measurement = run_worker(spec, until=wire, script=script)
    finally:
        finished.set()
    return TaskReport(spec.index, address, host, started_at, measurement, workers[0].failure)


def _relay_stop(stop: Event, worker: Worker, finished: threading.Event) -> None:
    """Stop the worker's loop when the run's stop event is set (the loop is not this thread's)."""
    while not finished.is_set():
        if stop.wait(timeout=POLL_S):
            try:
                worker.loop.call_soon_threadsafe(worker.stop)
            except RuntimeError:
                pass  # the loop has just closed: the worker stopped by itself
            return
