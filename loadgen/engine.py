"""Runs a plan: start every worker, release them together, stop them, merge what they report.

The parent never hangs on a worker: a worker that dies is reported by name, one that misses its
deadline is told to stop and then killed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from multiprocessing.connection import Connection, wait

from .errors import SetupError, WorkerError
from .result import Result
from .settings import Plan
from .spec import WorkerResult
from .workerproc import WorkerProcess

START_TIMEOUT_S = 60.0  # spawning many workers on a busy machine can take a while
STOP_GRACE_S = 5.0  # past its deadline, a worker is told to stop...
KILL_GRACE_S = 10.0  # ...and killed if it still has not answered
POLL_S = 0.05


@dataclass(frozen=True)
class Progress:
    """A snapshot for the live progress line."""

    elapsed_s: float
    requests: int
    errors: int


def _start_workers(plan: Plan) -> list[WorkerProcess]:
    workers: list[WorkerProcess] = []
    try:
        for spec in plan.specs:
            workers.append(WorkerProcess(spec))
    except OSError as exc:
        for worker in workers:
            worker.kill()
        raise WorkerError(f"unable to create thread {len(workers)}: {exc.strerror or exc}") from None
    return workers


def _await_ready(workers: list[WorkerProcess]) -> None:
    """Wait until every worker has loaded its script and checked its request."""
    waiting = {w.control: w for w in workers}
    deadline = time.monotonic() + START_TIMEOUT_S
    while waiting:
        ready = wait(list(waiting), timeout=max(0.0, deadline - time.monotonic()))
        if not ready:
            raise WorkerError(f"worker {next(iter(waiting.values())).index} did not start within {START_TIMEOUT_S:.0f}s")
        for control in ready:
            worker = waiting.pop(control)
            try:
                kind, detail = control.recv()
            except (EOFError, OSError):
                raise WorkerError(f"worker {worker.index} (pid {worker.pid}) {worker.describe_exit()} before it started") from None
            if kind == "error":
                raise SetupError(detail)


class _Collector:
    """Gathers results while relaying stop requests, progress and worker deaths."""

    def __init__(self, workers: list[WorkerProcess], plan: Plan, stop: threading.Event | None,
                 on_progress: Callable[[Progress], None] | None) -> None:
        self.pending: dict[Connection, WorkerProcess] = {w.control: w for w in workers}
        self.duration = plan.settings.duration
        self.stop = stop
        self.on_progress = on_progress
        self.results: list[tuple[int, WorkerResult]] = []
        self.failures: list[str] = []
        self.progress: dict[int, tuple[int, int]] = {}
        self.interrupted = False
        self.keyboard_interrupt = False
        self.stop_sent_at: float | None = None

    def _send_stop(self, now: float) -> None:
        if self.stop_sent_at is None:
            self.stop_sent_at = now
            for worker in self.pending.values():
                worker.send("stop")

    def run(self, started: float) -> None:
        while self.pending:
            now = time.monotonic()
            if self.stop is not None and self.stop.is_set() and self.stop_sent_at is None:
                self.interrupted = True
                self._send_stop(now)
            if self.duration is not None and now > started + self.duration + STOP_GRACE_S:
                self._send_stop(now)
            if self.stop_sent_at is not None and now > self.stop_sent_at + KILL_GRACE_S:
                for worker in self.pending.values():
                    worker.kill()
                    self.failures.append(f"worker {worker.index} (pid {worker.pid}) did not stop and was killed")
                return
            try:
                ready = wait(list(self.pending), timeout=POLL_S)
            except KeyboardInterrupt:
                self.keyboard_interrupt = self.interrupted = True
                self._send_stop(time.monotonic())
                continue
            for control in ready:
                self._receive(control, started)

    def _receive(self, control: Connection, started: float) -> None:
        worker = self.pending[control]
        try:
            message = control.recv()
        except (EOFError, OSError):
            del self.pending[control]
            self.failures.append(f"worker {worker.index} (pid {worker.pid}) {worker.describe_exit()}")
            return
        if message[0] == "progress":
            _, index, requests, errors = message
            self.progress[index] = (requests, errors)
            if self.on_progress is not None:
                self.on_progress(Progress(time.monotonic() - started,
                                          sum(r for r, _ in self.progress.values()),
                                          sum(e for _, e in self.progress.values())))
        elif message[0] == "result":
            del self.pending[control]
            result: WorkerResult = message[1]
            self.results.append((worker.index, result))
            if result.script_error:
                self._send_stop(time.monotonic())


def execute(plan: Plan, *, stop: threading.Event | None = None, on_start: Callable[[], None] | None = None,
            on_progress: Callable[[Progress], None] | None = None) -> Result:
    """Run the plan to its end (or until ``stop`` is set) and return the merged result.

    ``on_start`` runs once every worker is ready, just before they are released: the moment wrk
    prints its header. A KeyboardInterrupt stops the workers cleanly, then propagates.
    """
    workers = _start_workers(plan)
    try:
        _await_ready(workers)
        if on_start is not None:
            on_start()
        started = time.monotonic()
        for worker in workers:
            worker.send("go")
        collector = _Collector(workers, plan, stop, on_progress)
        collector.run(started)
        elapsed_us = int((time.monotonic() - started) * 1_000_000)
    finally:
        for worker in workers:
            worker.kill()
    if collector.keyboard_interrupt:
        raise KeyboardInterrupt
    ordered = [result for _, result in sorted(collector.results, key=lambda pair: pair[0])]
    merged = reduce(lambda a, b: a + b, ordered, WorkerResult())
    runtime_us = merged.elapsed_us if ordered else elapsed_us
    return Result.from_run(plan.settings, merged, runtime_us, workers=len(ordered),
                           interrupted=collector.interrupted, worker_failures=tuple(collector.failures))
