"""A loadgen worker as a Dask task: what runs inside a Dask worker process.

The task runs the local engine (:func:`~loadgen._run.engine.execute`) for its one worker, so
the worker measures in a process of its own, away from the Dask worker's threads and their
share of the GIL, and is watched, stopped and killed as locally. Around it, Dask's primitives
named after the run: once its worker is ready the task posts ``("ready", ...)``, with its
host's ephemeral ports to the target (or ``("error", ...)``) on the run's queue, waits for the
run's go event, relays the run's stop event to the engine, and posts ``("end", ...)`` when its
worker's window has begun: the coordinator judges the task late by that end, not by the run's (a
task whose Dask worker a busy machine held past the go begins, and ends, late). Dask starts a
task again when its Dask worker is lost; that second start finds the run under way and does
nothing, so no window is measured twice. ``distributed`` is imported only when a task runs, so
plain loadgen never imports it.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from ..errors import Interrupted, LoadgenError
from ..live.record import Caught, LivePost
from ..measurement import Measurement
from ..result import WorkerFailure
from .engine import execute
from .limits import Ports, check_open_files, check_ports, ports_to
from .plan import Plan
from .warned import Raised, WorkerWarnings

if TYPE_CHECKING:
    from dask.typing import Key
    from distributed import Event, Queue, Worker

__all__ = ["RunNames", "TaskReport", "Unanswered", "answered_within", "run_task"]

POLL_S = 0.1  # how often a waiting task looks at the run's go event (each look is a long poll)
STOP_POLL_S = 1.0  # the stop watch's long poll: a stop reaches the worker at once, the timeout only ends the watch
ANSWER_S = 5.0  # during the run, the scheduler answers each question within this, or is taken as lost

T = TypeVar("T")


class Unanswered(Exception):
    """A question to the scheduler got no answer in its time (a scheduler held stopped keeps its
    connections open, and distributed waits on them for ever, deaf to Ctrl-C)."""


def answered_within(question: Callable[[], T], seconds: float) -> T:
    """``question()``'s answer (or its exception), asked in a thread of its own and given ``seconds``:
    Unanswered past them, the thread left behind (a daemon)."""
    answers: list[tuple[bool, object]] = []

    def ask() -> None:
        try:
            answers.append((True, question()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread as it is
            answers.append((False, exc))

    asking = threading.Thread(target=ask, name="loadgen-dask-question", daemon=True)
    asking.start()
    asking.join(seconds)
    if not answers:
        raise Unanswered()
    answered, answer = answers[0]
    if not answered:
        raise answer  # type: ignore[misc]
    return answer  # type: ignore[return-value]


@dataclass(frozen=True)
class RunNames:
    """The names of one run's queue and events on the scheduler: unique, so runs never mix."""

    ready: str  # the tasks' messages: ready (or why not), then each worker's end
    go: str
    stop: str
    live: str | None = None  # the queue of the workers' seconds, when the run is watched

    @classmethod
    def new(cls, *, watched: bool = False) -> RunNames:
        run = f"loadgen-{uuid.uuid4().hex}"
        return cls(f"{run}-ready", f"{run}-go", f"{run}-stop", f"{run}-live" if watched else None)


@dataclass(frozen=True)
class TaskReport:
    """What one task sends home: where it ran, when its window began (its machine's wall
    clock, for the start skew), what it measured, how its worker process failed, if it did, and
    the warnings its worker raised (a script's), to be shown where the run was asked for."""

    index: int
    address: str  # the Dask worker's
    host: str
    started_at: float
    measurement: Measurement
    failures: tuple[WorkerFailure, ...]
    warnings: tuple[Raised, ...] = ()


def run_task(plan: Plan, names: RunNames, start_timeout_s: float) -> TaskReport | None:
    """The one worker of ``plan`` (the run's plan cut to this task's spec), inside a Dask worker;
    None when it did not run (the run started without it, was stopped first, or it could not get
    ready and said why on the queue)."""
    from distributed import Event, Queue, get_worker

    go, halt, ready = Event(names.go), Event(names.stop), Queue(names.ready)
    if go.is_set() or halt.is_set():
        return None  # started again after its first Dask worker was lost: the run went on without it
    (spec,) = plan.specs
    worker = get_worker()
    address, host, key = worker.address, socket.gethostname(), worker.get_current_task()
    stop, finished = threading.Event(), threading.Event()
    started_at = 0.0
    ports: Ports | None = None  # read as the task starts
    warned = WorkerWarnings()  # the worker's, sent home with its result or its error

    def on_start() -> None:
        """The worker is ready: say so, and hold it until every task is."""
        nonlocal started_at
        ready.put(("ready", spec.index, address, host, ports))
        deadline = time.monotonic() + start_timeout_s
        watched = partial(_given_up, worker, key)
        while not go.wait(timeout=POLL_S):  # a coordinator gone before its go sets no stop: its future is forgotten
            if halt.is_set() or watched() or time.monotonic() > deadline:
                raise Interrupted("the run was stopped before it started")
        threading.Thread(target=_relay_stop, args=(halt, watched, stop, finished), daemon=True).start()
        started_at = time.time()

    try:
        check_open_files(spec.connections)
        ports = ports_to(spec.address)  # the coordinator warns of them for every task on this host together
        check_ports(spec.connections, ports, spec.address)  # this task's alone: refused before its worker starts
        on_second, on_end = _relay_seconds(names.live), _post_end(ready, spec.index)
        result = execute(plan, stop=stop, on_start=on_start, on_second=on_second, on_end=on_end, warned=warned)
    except Interrupted:
        return None
    except LoadgenError as exc:
        ready.put(("error", spec.index, f"{exc} (on {host})", exc.exit_code, warned.raised()))
        return None
    finally:
        finished.set()
    measured, failures = result.measured, result.worker_failures
    return TaskReport(spec.index, address, host, started_at, measured, failures, warned.raised())


def _relay_seconds(name: str | None) -> Callable[[LivePost], None] | None:
    """When the run is watched: each second the worker posts, put on the run's live queue (one
    call to the scheduler per second; a second that cannot be put is left out of the view only),
    and its channel's close after them (its engine process dead: the view stops waiting for it)."""
    if name is None:
        return None
    from distributed import Queue, get_client

    queue = Queue(name, client=get_client())

    def post(record: LivePost) -> None:
        if isinstance(record, Caught):  # the task's own reader's clock: the coordinator's look is the run's
            return
        try:
            queue.put(record)
        except Exception:  # noqa: BLE001 - whatever distributed raises as it goes away
            pass

    return post


def _post_end(queue: Queue, index: int) -> Callable[[float], None]:
    """Post the worker's end on the run's queue as the seconds left to it: the coordinator's
    monotonic clock is another machine's (an end that cannot be posted leaves the task to the
    coordinator's wait for a task that has not said its end)."""

    def post(end: float) -> None:
        try:
            queue.put(("end", index, end - time.monotonic()))
        except Exception:  # noqa: BLE001 - whatever distributed raises as it goes away
            pass

    return post


def _given_up(worker: Worker, key: Key) -> bool:
    """The task's run is over for Dask: its future cancelled (the coordinator gave it up) or
    forgotten (the coordinator's client left: exited, killed, or gone with a go it set and never
    saw answered), so the Dask worker no longer runs it as a task, though its thread goes on."""
    task = worker.state.tasks.get(key)
    return task is None or task.state not in ("executing", "long-running")


def _relay_stop(halt: Event, given_up: Callable[[], bool], stop: threading.Event, finished: threading.Event) -> None:
    """Set the engine's stop when the run's stop event is set, or when the run gave the task up
    (``given_up``), until the engine is done; or when the event cannot be asked any more (the
    Dask worker is closing, the scheduler is gone) or is not answered within ANSWER_S past its poll
    (the scheduler held stopped, which keeps the question waiting for ever: the coordinator has
    given the task up by then): no one is left to say when to stop, and nothing may outlive the
    task (it loaded the server to its -d)."""
    while not finished.is_set():
        try:
            halted = answered_within(partial(halt.wait, timeout=STOP_POLL_S), STOP_POLL_S + ANSWER_S)
        except Exception:  # noqa: BLE001 - unanswered, or whatever distributed raises as it goes away
            halted = True
        if halted or given_up():
            stop.set()
            return
