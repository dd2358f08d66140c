"""Runs a plan: start every worker, release them one after another, stop them, gather what they measured.

Whatever a worker measured reaches the result: results are read whole, however large, and a
worker is killed only when its event loop stays blocked where its own watch on the script's
hooks cannot interrupt it (:mod:`loadgen._run.hookwatch`) or it is long past its deadline,
never while it is sending. A worker that dies is named, in one line.
A stop request (Ctrl-C, SIGTERM, ``stop``) ends the run within two seconds in every phase.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from ..errors import Interrupted, SetupError, WorkerError
from ..measurement import Measurement
from ..result import Result, WorkerFailure
from . import WORKER_MAIN
from .forkserver import Forker, ForkServer, ForkServerError
from .plan import START_TIMEOUT_S, Plan
from .protocols import protocol_named
from .warned import WorkerWarnings
from .workerproc import ProgressBoard, WorkerProcess

if TYPE_CHECKING:
    from ..live.channel import Channels
    from ..live.record import LivePost

__all__ = ["Progress", "execute"]

LATE_S = 1.0  # past its deadline, a worker that has not reported is told to stop...
STUCK_S = 1.5  # ...and killed once told to stop if a script's hook has kept its loop silent this long (a
# hook stuck in Python is interrupted by the worker itself first: see hookwatch.AFTER_STOP_S)
KILL_AFTER_S = 15.0  # ...or, whatever its loop does, this long after it was told (a worker with no
# script is only slow, never blocked: a starved core, 10,000 connections to close; it gets this long)
POLL_S = 0.05
PROGRESS_INTERVAL_S = 0.5
WAITING_SILENT_S = 1.0  # told to stop, a worker whose loop is this silent is named on the progress line


@dataclass(frozen=True)
class Progress:
    """A snapshot for the live progress line: the responses and errors the run's figures will have
    so far, and the responses counted by workers that died since, which they will not (``requests``
    with them read 110,355 on the last line, and the report 103,370 below it). ``elapsed_s`` is the time since
    the workers started, a warm-up included: the measured window's is ``elapsed_s - warmup``."""

    elapsed_s: float
    requests: int
    errors: int
    lost: int = 0
    # the workers told to stop that have not reported, their loops silent a second or more (held stopped,
    # a hook that never returns, a starved machine): the run waits for them, up to KILL_AFTER_S
    waiting: tuple[int, ...] = ()


@dataclass
class _Gathering:
    """The workers of one run as :meth:`_Run.collect` gathers them: those not released yet, those it
    waits for, those whose window has begun; the end every worker is told in a closed loop, and the
    run's deadline once their windows are known."""

    unreleased: deque[WorkerProcess]
    together: bool  # a closed loop: every worker stops at the first one's end
    unopened_until: float | None  # the deadline until every worker released has begun its window (None: -n)
    pending: dict[Connection, WorkerProcess] = field(default_factory=dict)
    opened: set[Connection] = field(default_factory=set)
    opening: WorkerProcess | None = None  # the last released: the next waits for its connects
    ends_at: int | None = None  # the first worker's end, on time.monotonic_ns's clock
    late_at: float | None = None  # the last worker's end, and LATE_S

    def overdue(self, now: float) -> bool:
        """Whether the workers are to be told "late": LATE_S past the last end once every one waited
        for has begun its window; until then, past ``unopened_until``."""
        known = self.late_at is not None and self.opened.issuperset(self.pending)
        deadline = self.late_at if known else self.unopened_until
        return deadline is not None and now > deadline


class _Run:
    """The processes of one run and what they reported; :meth:`close` stops them all."""

    def __init__(
        self,
        plan: Plan,
        stop: threading.Event,
        server: Forker | None,
        on_second: Callable[[LivePost], None] | None = None,
        on_end: Callable[[float], None] | None = None,
        warned: WorkerWarnings | None = None,
    ) -> None:
        self.plan = plan
        self.on_end = on_end
        self.channels: Channels | None = None  # the live views' feed, when the run is watched
        if on_second is not None:  # imported by a watched run only, before its workers are forked
            from ..live.channel import Channels
            from . import pulse  # noqa: F401 - the workers' end, which a forked worker then has

            self.channels = Channels(on_second)
        self.stop = stop  # the caller's: Ctrl-C, SIGTERM, the API's ``stop``
        self.keyboard_interrupt = False
        self.over = False  # a worker's script failed or a worker broke: the run is over for all
        # a slot per worker index: a task on a Dask cluster runs one worker of the run, not the first
        self.board = ProgressBoard(1 + max(spec.index for spec in plan.specs))
        self.server = server  # the caller's (which the caller closes), or None to start a fork server
        self.own_server: ForkServer | None = None
        self.workers: list[WorkerProcess] = []
        self.measurements: dict[int, Measurement] = {}
        self.failures: list[WorkerFailure] = []
        self.warned = warned if warned is not None else WorkerWarnings(plan.warned_here)
        self.stop_sent_at: float | None = None

    def stop_requested(self) -> bool:
        return self.over or self.stop.is_set()

    def _wait(self, connections: list[Connection], timeout: float) -> list[Any]:
        try:
            return wait(connections, timeout=timeout)
        except KeyboardInterrupt:
            self.keyboard_interrupt = True
            self.stop.set()
            return []

    # -- start ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Fork every worker and wait until each has loaded its script and checked its request."""
        printed: dict[int, tuple[str, str]] = {}
        try:
            self._start(printed)
        finally:
            self._print_in_wrks_order(printed)

    def _start(self, printed: dict[int, tuple[str, str]]) -> None:
        try:
            if self.server is None:
                self.server = self.own_server = ForkServer(WORKER_MAIN)
            self.server.ready()
            for spec in self.plan.specs:
                protocol_named(spec.protocol)  # imported before the fork when this process forks
                live = self.channels.open(spec.index) if self.channels is not None else None
                try:
                    self.workers.append(WorkerProcess(spec, self.server, self.board, live))
                finally:
                    if live is not None:
                        live.close()
        except ForkServerError as exc:
            raise WorkerError(f"unable to create thread {len(self.workers)}: {exc}", wrk_message=True) from None
        except OSError as exc:
            raise WorkerError(
                f"unable to create thread {len(self.workers)}: {exc.strerror or exc}", wrk_message=True
            ) from None
        self._wait_ready(printed)

    def _print_in_wrks_order(self, printed: dict[int, tuple[str, str]]) -> None:
        """What the script printed before the run, in wrk's order (each thread's script loaded,
        its setup(), its init()), though the workers loaded theirs at once; what a failed one
        printed it printed itself."""
        setups = self.plan.setup_printed
        for spec in self.plan.specs:
            loaded, initialised = printed.get(spec.index, ("", ""))
            setup = setups[spec.index] if spec.index < len(setups) else ""
            sys.stdout.write(loaded + setup + initialised)
        sys.stdout.flush()

    def _wait_ready(self, printed: dict[int, tuple[str, str]]) -> None:
        """Until each worker has loaded its script and checked its request; what each printed then."""
        waiting = {worker.control: worker for worker in self.workers}
        deadline = time.monotonic() + self.plan.start_timeout_s
        while waiting:
            if self.stop_requested():
                raise Interrupted()
            if time.monotonic() > deadline:
                worker = next(iter(waiting.values()))
                raise WorkerError(f"worker {worker.index} did not start within {self.plan.start_timeout_s:g}s")
            for control in self._wait(list(waiting), POLL_S):
                worker = waiting.pop(control)
                message = worker.receive()
                if message is None:
                    raise WorkerError(
                        f"worker {worker.index} (pid {worker.pid}) {worker.describe_exit()} before it started"
                    )
                self.warned.add(worker.index, message[-1])
                if message[0] == "error":
                    raise SetupError(message[1], wrk_message=message[2])
                if message[0] == "crash":
                    raise WorkerError(f"worker {worker.index} failed before it started: {message[1]}")
                printed[worker.index] = message[1]

    # -- run -------------------------------------------------------------------------------------

    def collect(self, started: float, on_progress: Callable[[Progress], None] | None) -> None:
        """Release the workers and gather their measurements, relaying stop requests and progress.

        The workers start one after another and stop together, as wrk's threads do (wrk starts
        each thread as soon as it has set it up, the thread opens its connections at once, and
        every thread stops at the same moment): each is released when the one before has issued
        its connects, and told when the first one's window ends (in a closed loop: a worker that
        stopped first would leave its requests in flight to the server while the others measure).
        On a server that accepts one connection per event-loop iteration, that order decides how
        many connections it takes in before it is busy: see benchmarks/README.md, "The original
        workload"."""
        duration = self.plan.settings.load_s
        # A worker's deadline is its own end, and LATE_S: known once it reports its connects issued, its
        # window begun (on a loaded machine, a second or more after its release). Until every worker released
        # has, a stuck one is waited for as long as for its start: told "late" before, it would stop at once.
        unopened_until = started + duration + START_TIMEOUT_S if duration is not None else None
        # At a constant rate each worker's window is its own -d instead, so that their rates add up to the one asked.
        gathering = _Gathering(deque(self.workers), not self.plan.settings.paced, unopened_until)
        self._release(gathering)
        next_progress = started + PROGRESS_INTERVAL_S
        while gathering.pending:
            self.board.looked()
            now = time.monotonic()
            if self.stop_sent_at is None and (self.stop_requested() or gathering.overdue(now)):
                self._tell_stop(gathering, now)
            for control in self._wait(list(gathering.pending), POLL_S):
                self._take(gathering, control)
            if self.stop_sent_at is not None:
                self._kill_the_stuck(gathering.pending)
            if on_progress is not None and now >= next_progress:
                on_progress(self._progress(now - started, gathering.pending.values()))
                next_progress = now + PROGRESS_INTERVAL_S
        if on_progress is not None:  # the last line is the end's, not the last tick's
            on_progress(self._progress(time.monotonic() - started))

    def _tell_stop(self, gathering: _Gathering, now: float) -> None:
        """Stop every worker: those not released yet too, released now (they start and stop at once, so
        that every worker reports, its script's globals too)."""
        self.stop_sent_at = now
        while gathering.unreleased:
            self._release(gathering)
        told = "stop" if self.stop_requested() else "late"  # late: a held paced worker finishes first
        for worker in gathering.pending.values():
            worker.send(told)

    def _take(self, gathering: _Gathering, control: Connection) -> None:
        """One worker's message: its end moved, its window begun (the next worker released once the
        one it waited for has issued its connects), or its measurement or loss (it is done)."""
        worker = gathering.pending[control]
        message = self._receive(worker)
        if message is not None and message[0] == "held":  # a paced worker's end moved: see Worker
            gathering.late_at = self._ends(gathering.late_at, message[1])
            return
        if message is None or message[0] != "opened":
            del gathering.pending[control]
        else:
            gathering.opened.add(control)
            if message[1] is not None:  # the worker's end, on time.monotonic's clock
                gathering.late_at = self._ends(gathering.late_at, message[1])
                if gathering.together and gathering.ends_at is None:
                    gathering.ends_at = message[1]
        if worker is gathering.opening and gathering.unreleased:
            self._release(gathering)

    def _progress(self, elapsed_s: float, pending: Iterable[WorkerProcess] = ()) -> Progress:
        """The counts on the board now, those of the workers lost with their measurement apart; and,
        once the run was told to stop, the workers it still waits for whose loops are silent."""
        lost = {failure.index: failure.lost_requests or 0 for failure in self.failures if failure.lost}
        waiting = tuple(
            worker.index
            for worker in pending
            if self.stop_sent_at is not None
            and not self.board.finishing(worker.index)
            and self.board.silent_for(worker.index) >= WAITING_SILENT_S
        )
        return Progress(elapsed_s, *self.board.totals(without=lost.keys()), sum(lost.values()), waiting)

    def _ends(self, late_at: float | None, end_ns: int) -> float:
        """A worker's end, reported or moved: the run's deadline from it, and the caller told (a task
        on a Dask cluster tells its coordinator, whose clock is another's)."""
        if self.on_end is not None:
            self.on_end(end_ns / 1e9)
        return max(late_at or 0.0, end_ns / 1e9 + LATE_S)

    def _release(self, gathering: _Gathering) -> None:
        """The next worker told to go, with the run's end when it is known (in a closed loop)."""
        worker = gathering.unreleased.popleft()
        self.board.released(worker.index)
        worker.send(("go", gathering.ends_at))
        gathering.pending[worker.control] = worker
        gathering.opening = worker

    def _receive(self, worker: WorkerProcess) -> tuple[Any, ...] | None:
        """Take the worker's next message (None: it is gone) and keep what it reports."""
        message = worker.receive()
        if message is None:
            self.failures.append(self._lost(worker, worker.describe_exit()))
        elif message[0] == "result":
            _, measurement, failure, raised = message
            self.warned.add(worker.index, raised)
            self.measurements[worker.index] = measurement
            if failure is not None:
                self.failures.append(WorkerFailure(worker.index, worker.pid, failure))
            self.over = self.over or bool(measurement.script_error) or failure is not None
        elif message[0] == "crash":  # an error outside the event loop
            self.warned.add(worker.index, message[2])
            self.failures.append(self._lost(worker, f"failed: {message[1]}"))
        return message

    def _lost(self, worker: WorkerProcess, what: str) -> WorkerFailure:
        """A worker gone without its measurement, with the requests it had counted by then (its
        last post on the board: at each second it closes, and each 100 ms tick)."""
        return WorkerFailure(worker.index, worker.pid, what, lost=True, lost_requests=self.board.requests(worker.index))

    def _kill_the_stuck(self, pending: dict[Connection, WorkerProcess]) -> None:
        """Kill workers told to stop whose loop a script's hook keeps blocked, or that are far past the
        request; never one whose loop has stopped (it is putting its measurement together or sending
        it). A silent loop without a script is a worker the machine starves, whose measurement would
        be lost for nothing."""
        assert self.stop_sent_at is not None
        told_for = time.monotonic() - self.stop_sent_at
        for control, worker in list(pending.items()):
            if self.board.finishing(worker.index) or wait([control], timeout=0):
                continue
            what = self._why_given_up(worker, told_for)
            if what is None:
                continue
            worker.kill()
            del pending[control]
            self.failures.append(self._lost(worker, f"{what}, and was killed"))

    def _why_given_up(self, worker: WorkerProcess, told_for: float) -> str | None:
        """Why a worker told to stop ``told_for`` seconds ago is killed now, or None to wait on. One
        held stopped is not waited for once the caller asked to stop (Ctrl-C): the stop then took
        15 s (KILL_AFTER_S), where every other phase stops within two."""
        silent = self.board.silent_for(worker.index)
        blocked = worker.runs_script and told_for > STUCK_S and silent > STUCK_S
        late = told_for > KILL_AFTER_S
        if told_for > STUCK_S and (blocked or late or self.stop.is_set()) and worker.held_stopped():
            return f"did not stop: it was held stopped (SIGSTOP, or a debugger), its loop silent for {silent:.1f}s"
        if blocked:
            return f"did not stop: its event loop was blocked for {silent:.1f}s (a script hook that never returns?)"
        return f"did not stop within {KILL_AFTER_S:.0f}s" if late else None

    # -- end ---------------------------------------------------------------------------------------

    def close(self) -> None:
        if self.channels is not None:
            self.channels.close()
        for worker in self.workers:
            worker.close(kill=worker.index not in self.measurements)
        if self.own_server is not None:
            self.own_server.close()
        self.board.close()


def execute(
    plan: Plan,
    *,
    stop: threading.Event | None = None,
    on_start: Callable[[], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    server: Forker | None = None,
    on_second: Callable[[LivePost], None] | None = None,
    on_end: Callable[[float], None] | None = None,
    warned: WorkerWarnings | None = None,
) -> Result:
    """Run the plan to its end (or until ``stop`` is set) and return the merged result.

    ``on_start`` runs once every worker is ready, just before they are released: the moment wrk
    prints its header. A KeyboardInterrupt stops the workers cleanly, then propagates; a stop
    requested before the run started raises :class:`loadgen.Interrupted`. ``server`` starts the
    workers (the command line forks them itself) and stays the caller's to close; without it, a
    fork server is started here for this run. ``on_second`` is given each worker's seconds as
    they close, from a thread of its own (:mod:`loadgen.live`): every one posted before the
    return, and a :class:`~loadgen.live.record.WorkerGone` after a worker's last (at once when one
    dies), and :class:`~loadgen.live.record.Caught` each time the thread has read all there was.
    ``on_end`` is given each worker's end (``time.monotonic``'s clock) when the worker reports it,
    its window begun, and again when it moves (a held paced worker's). The workers' warnings are
    shown at the end, each once; given ``warned``, they are kept there instead, for the caller to
    show (a Dask task's are shown where the run was asked for, not in its Dask worker's log).
    """
    run = _Run(plan, stop if stop is not None else threading.Event(), server, on_second, on_end, warned)
    try:
        try:
            run.start()
        except Interrupted:
            if run.keyboard_interrupt:
                raise KeyboardInterrupt from None
            raise
        if on_start is not None:
            on_start()
        if run.channels is not None:
            run.channels.start()
        started = time.monotonic()
        run.collect(started, on_progress)
        elapsed_us = int((time.monotonic() - started) * 1_000_000)
    finally:
        run.close()
        if warned is None:
            run.warned.show()  # once, however many workers raised each (the command shows them after its view)
    if run.keyboard_interrupt:
        raise KeyboardInterrupt
    measured = Measurement.sum(run.measurements[index] for index in sorted(run.measurements))
    return Result(
        runs=(plan.settings,),
        measured=measured,
        runtime_us=measured.elapsed_us or elapsed_us,
        interrupted=run.stop.is_set(),
        worker_failures=tuple(sorted(run.failures, key=lambda failure: failure.index)),
    )
