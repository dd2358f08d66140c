"""Runs a plan across a Dask cluster: one Dask task per worker, released together, gathered and
added up exactly as the local engine adds its processes' measurements.

Before anything starts, the cluster must have a Dask worker with the resource ``loadgen=1`` for
every task (so two never share a process) running this loadgen's version. The tasks
(:mod:`loadgen._run.remote`) get ready, then start together on the run's go event; a Dask
worker lost during the run is named and the others' measurements are kept. ``distributed`` is
imported here only, when a run asks for a cluster.
"""

from __future__ import annotations

import logging
import os
import pkgutil
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from .._version import __version__
from ..errors import SHOWN, Interrupted, SetupError, UsageError, WorkerError, check_count, excerpt, shown
from ..live.record import Caught, LivePost, WorkerGone
from ..measurement import Measurement, WorkerCpu
from ..prerun import PreRunConnection
from ..result import Host, Result, WorkerFailure
from ..settings import Settings
from ..stopping import STOP_SIGNALS
from ..target import Address, connect_reason, first_reachable
from ..units import counted
from .limits import Ports, check_ports
from .plan import START_TIMEOUT_S, Plan
from .remote import ANSWER_S, RunNames, TaskReport, Unanswered, answered_within, run_task
from .spec import WorkerSpec
from .warned import Raised, WorkerWarnings

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["check_dask", "execute_on_cluster"]

T = TypeVar("T")

LOCAL = "local:"  # --dask local:N: a LocalCluster of N single-threaded worker processes
RESOURCE = "loadgen"
CONNECT_TIMEOUT_S = 5.0
LATE_S = 1.0  # past its own end, a task that has not reported is told to stop...
KILL_AFTER_S = 15.0  # ...and given up (cancelled) this long after; its engine, which a Dask worker held
UNHEARD_MARGIN_S = 1.0  # stopped cannot tell to stop, stops by itself this much sooner after its silence began
POLL_S = 0.1
LIVENESS_S = 0.5  # how often the cluster is asked which workers are still there
LEFT = "was lost: its Dask worker left the cluster"
END_WAIT_S = 1.0  # told to stop, a task ends within its poll (remote.POLL_S) once its worker is free


def _quiet() -> None:
    """distributed logs to stderr (its configuration gives several of its loggers their own
    level); loadgen's stderr is one line per problem, said by loadgen."""
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def check_dask(dask: str | Client, threads: int, stop: threading.Event | None = None) -> None:
    """Refuse at once, before the run is prepared (and its warnings printed), what needs no
    cluster to be refused: no ``distributed``, a ``dask`` of another type, a closed Client,
    ``local:N`` of fewer workers than ``threads`` or of more than both ``threads`` and the CPUs
    (``local:99999999999`` would start that many processes), a scheduler address that is
    malformed, refused or of an unknown host (its test connection ends at once on ``stop``:
    Interrupted)."""
    try:
        import distributed
    except ImportError:
        raise SetupError("running on a Dask cluster needs distributed: pip install 'loadgen[dask]'") from None
    if not isinstance(dask, str | distributed.Client):
        raise UsageError(
            f"dask must be a scheduler's address (tcp://HOST:PORT), local:N or a distributed.Client, not {dask!r}"
        )
    check_count("threads", threads)
    if not isinstance(dask, str):
        if dask.status in ("closing", "closed"):
            raise UsageError("dask= is a closed distributed.Client: give a connected one")
        return
    workers = _local_workers(dask)
    if workers is None:
        _probe(dask, stop)
    elif workers < threads:  # loadgen starts this cluster: there is no scheduler to give workers to
        raise SetupError(
            f"--dask {shown(dask)} starts {counted(workers, 'Dask worker')} and -t {threads} needs {threads}: "
            f"give --dask {LOCAL}{threads} (or -t {workers})"
        )
    elif workers > max(threads, cpus := os.cpu_count() or 1):  # a few idle ones cost nothing; thousands would
        raise SetupError(
            f"--dask {shown(dask)} would start more Dask workers here than -t {threads} uses and this machine's "
            f"{counted(cpus, 'CPU')}: give --dask {LOCAL}{threads}"
        )


def _local_workers(dask: str) -> int | None:
    """N of ``local:N``; None for another address."""
    if not dask.startswith(LOCAL):
        return None
    text = dask[len(LOCAL) :]
    try:
        workers = int(text) if _digits(text) else 0
    except ValueError:  # more digits than int() reads (4,300)
        workers = 0
    if workers <= 0:
        raise SetupError(f"--dask {shown(dask)}: local: takes a number of worker processes, as local:2")
    return workers


def _digits(text: str) -> bool:
    """A number as a user writes one: Python's int() takes ``٣``, `` 2`` and ``1_0`` too."""
    return text.isascii() and text.isdigit()


def _connect(dask: str | Client) -> tuple[Client, Callable[[], None]]:
    """A client for ``dask`` (an address, ``local:N``, or a Client the caller owns; checked by
    :func:`check_dask`) and how to close what was opened here."""
    from distributed import Client

    _quiet()
    if not isinstance(dask, str):
        return dask, lambda: None
    workers = _local_workers(dask)
    if workers is not None:
        return _local(workers)
    try:
        client = _asked(lambda: Client(dask, timeout=CONNECT_TIMEOUT_S, set_as_default=False))
    except _Silent as exc:  # the probe was greeted: it went silent since
        raise _lost_before_the_go(dask, exc) from None
    except (OSError, ValueError, TypeError) as exc:
        raise SetupError(_unreachable(dask, _one_line(exc))) from None
    return client, client.close


def _unreachable(address: str, why: str) -> str:
    return f"cannot reach the Dask scheduler at {shown(address)}: {why}"


def _lost_before_the_go(dask: str | Client, exc: OSError) -> SetupError:
    """A scheduler that stopped answering, or went away, before the run started: nothing ran, said as unreachable."""
    address = dask if isinstance(dask, str) else str(getattr(dask.scheduler, "address", dask))  # a Client given
    why = " (held stopped, or its machine hung)" if isinstance(exc, _Silent) else ""
    return SetupError(_unreachable(address, f"{exc} before the run started{why}"))


def _local(workers: int) -> tuple[Client, Callable[[], None]]:
    """A LocalCluster of ``workers`` single-threaded processes, a client, and how to close both.
    Its Dask scratch space is in a directory of the run's own, removed with the cluster (Dask
    leaves its lock files behind in the shared one): a run leaves no file, failed or not."""
    from distributed import Client, LocalCluster

    scratch = tempfile.mkdtemp(prefix="loadgen-dask-")
    try:
        try:
            with _deaf_to_stop_signals():
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    silence_logs=logging.CRITICAL,
                    resources={RESOURCE: 1},
                    memory_limit=0,  # no memory monitor polling beside the measuring workers
                    local_directory=scratch,
                    scheduler_kwargs={
                        "dashboard": False,
                        "dashboard_address": "127.0.0.1:0",
                        "local_directory": scratch,
                    },
                )
        except Exception as exc:  # noqa: BLE001 - whatever the user's Dask configuration makes distributed raise
            why = _one_line(_cause(exc))
            raise SetupError(f"--dask {LOCAL}{workers}: the local Dask cluster did not start: {why}") from None
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    client = Client(cluster)

    def close_local() -> None:
        try:
            client.close()
            cluster.close()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    return client, close_local


@contextmanager
def _deaf_to_stop_signals() -> Iterator[None]:
    """Processes started meanwhile never see the stop signals: a terminal sends Ctrl-C to its
    whole process group, which holds a local cluster's worker processes too, and loadgen, not
    each of them, decides how the run stops. The signals are blocked in this thread, so the
    threads it starts (the cluster's) and the processes they start inherit the block; a signal
    that arrives meanwhile waits, and is handled here when the block ends.

    multiprocessing's resource tracker (a process too) unblocks SIGINT and SIGTERM in the thread
    that starts it, which would be the cluster's thread that starts the worker processes: so it
    is started here first, and the block set again."""
    from multiprocessing import resource_tracker

    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    resource_tracker.ensure_running()
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _probe(address: str, stop: threading.Event | None) -> None:
    """A scheduler address must name a port: refused here, before a Client is half made (which
    would complain on stderr as the interpreter exits). Over TCP, a test connection: a refused
    port or an unknown host is known at once, where a Client would try for CONNECT_TIMEOUT_S and
    then say only that it timed out; and a port that accepts but never speaks (not a scheduler,
    or one held stopped) within CONNECT_TIMEOUT_S, where a Client waited for its greeting for ever,
    deaf to Ctrl-C."""
    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(address)
    try:
        host, port = parse_host_port(location)
        if not _digits(location.rpartition(":")[2]):  # its int() read tcp://h:٣ as port 3, tcp://h:8_786 as 8786
            raise ValueError(f"its port is not written in the digits 0-9: {excerpt(location, SHOWN)}")
        if not 1 <= port <= 65535:  # tcp://h:99999 was said to be refused, as if a scheduler could listen there
            raise ValueError(f"its port is not 1-65535: {excerpt(location, SHOWN)}")
    except ValueError as exc:  # its words quote the address whole: cut, as shown() cuts it
        why = str(exc).replace(repr(location), excerpt(location, SHOWN))
        raise SetupError(
            f"--dask {shown(address)}: not a Dask scheduler's address (tcp://HOST:PORT) nor local:N ({why})"
        ) from None
    if scheme not in ("tcp", "tls"):
        return  # another transport: the Client's to reach
    try:
        reached = first_reachable(host, port, CONNECT_TIMEOUT_S, stop)
    except socket.gaierror as exc:
        raise SetupError(_unreachable(address, f"unknown host {shown(host)} ({exc.strerror})")) from None
    except OSError as exc:
        raise SetupError(_unreachable(address, connect_reason(exc))) from None
    if scheme == "tcp":
        _greeted(address, reached, stop)


def _greeted(address: str, reached: Address, stop: threading.Event | None) -> None:
    """A Dask scheduler speaks first on each connection (its handshake): a port that accepts and
    says nothing is not one that will answer, said within CONNECT_TIMEOUT_S (Interrupted on ``stop``)."""
    try:
        with PreRunConnection(reached, stop, CONNECT_TIMEOUT_S) as connection:
            spoke = bool(connection.recv(1))
    except TimeoutError:
        raise SetupError(
            _unreachable(
                address,
                f"it accepts connections but said nothing within {CONNECT_TIMEOUT_S:g}s "
                "(not a Dask scheduler, or one held stopped)",
            )
        ) from None
    except OSError as exc:
        raise SetupError(_unreachable(address, connect_reason(exc))) from None
    if not spoke:
        raise SetupError(_unreachable(address, "it closed the connection without a word (not a Dask scheduler?)"))


class _Silent(OSError):
    """The scheduler left a question unanswered for ANSWER_S: taken as lost, it is asked nothing more."""

    def __str__(self) -> str:
        return f"it did not answer within {ANSWER_S:g}s"


class _Gone(OSError):
    """The client lost the scheduler (killed, or its machine gone), and cancelled every future with it."""

    def __str__(self) -> str:
        return "it went away"


def _asked(question: Callable[[], T]) -> T:
    """``question`` to the scheduler, its answer given ANSWER_S (see :func:`answered_within`):
    _Silent when none came (a scheduler held stopped keeps its connections open, and distributed
    waits on them for ever)."""
    try:
        return answered_within(question, ANSWER_S)
    except Unanswered:
        raise _Silent() from None


def _before_the_go(client: Client, question: Callable[[], T], ask: Callable[[Callable[[], T]], T] = _asked) -> T:
    """``question`` to the scheduler before the run's go, asked by ``ask`` (given ANSWER_S): a scheduler lost
    meanwhile (killed, its machine gone) is _Gone, one still connected that did not answer _Silent. distributed
    raises an OSError (its CommClosedError) for a question under way as it loses the scheduler, which was a
    traceback, and holds the next one while it tries to reconnect, which read as a scheduler held stopped."""
    try:
        return ask(question)
    except _Silent:
        if client.status == "running":
            raise
        raise _Gone() from None
    except OSError:
        raise _Gone() from None


def _with_the_scheduler(exc: OSError) -> str:
    """How a task whose report could not come home, a question to the scheduler having failed with ``exc``, is named."""
    if isinstance(exc, _Silent):
        return f"was lost with the Dask scheduler: {exc}"
    return f"was lost with the Dask scheduler ({_one_line(exc)})"


def _cause(exc: BaseException) -> BaseException:
    """The first of the exceptions that led to ``exc`` (distributed says "Nanny failed to start." from the one
    that says why)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _suitable_workers(client: Client, threads: int) -> dict[str, str]:
    """Address -> host of every Dask worker that can take a loadgen task, or one line saying
    how many there are when they are fewer than the tasks."""
    workers = _before_the_go(client, lambda: client.scheduler_info(n_workers=-1))["workers"]
    suitable = {
        address: str(info.get("host", address))
        for address, info in workers.items()
        if info.get("resources", {}).get(RESOURCE, 0) >= 1
    }
    if len(suitable) < threads:
        raise SetupError(
            f"the Dask cluster has {counted(len(suitable), 'worker')} with the resource {RESOURCE}=1 "
            f"({len(workers)} in all) "
            f"and -t {threads} needs {threads}: start each with "
            f"'dask worker SCHEDULER --nthreads 1 --resources {RESOURCE}=1'"
        )
    return suitable


def _check_versions(client: Client, workers: dict[str, str]) -> None:
    """Every worker runs this loadgen's version: a task's code and its messages must match ours."""
    # resolve_name is the standard library's: it reaches a worker whatever loadgen it has, or none
    found = _before_the_go(
        client,
        lambda: client.run(
            pkgutil.resolve_name, "loadgen._version:__version__", workers=list(workers), on_error="return"
        ),
    )
    for address, version in sorted(found.items()):
        if isinstance(version, ImportError):
            raise SetupError(
                f"loadgen is not installed on the Dask worker {workers[address]} ({address}): "
                f"pip install 'loadgen[dask]=={__version__}' there"
            )
        if isinstance(version, BaseException):
            raise SetupError(
                f"cannot ask the Dask worker {workers[address]} ({address}) for its loadgen version: "
                f"{_one_line(version)}"
            )
        if version != __version__:
            raise SetupError(
                f"the Dask worker {workers[address]} ({address}) has loadgen {version}, "
                f"this is loadgen {__version__}: install the same version everywhere"
            )


class _ClusterRun:
    """One run's tasks on the cluster and what they reported."""

    def __init__(
        self,
        plan: Plan,
        client: Client,
        stop: threading.Event,
        on_second: Callable[[LivePost], None] | None = None,
    ) -> None:
        from distributed import Event, Queue

        self.plan = plan
        self.client = client
        self.stop = stop  # the caller's: Ctrl-C, SIGTERM, the API's ``stop``
        self.keyboard_interrupt = False
        names = RunNames.new(watched=on_second is not None)
        self.on_second = on_second
        live = names.live
        self.live = _before_the_go(client, lambda: Queue(live, client=client)) if live is not None else None
        self.names = names
        self.go = Event(names.go, client=client)
        self.halt = Event(names.stop, client=client)  # tells every task to stop now
        self.ready = _before_the_go(client, lambda: Queue(names.ready, client=client))  # made on the scheduler
        self.futures: dict[Future[TaskReport | None], int] = {}
        self.placed: dict[int, tuple[str, str]] = {}  # task -> (Dask worker address, host)
        self.ports: dict[int, Ports | None] = {}  # task -> its host's ephemeral ports to its target
        self.reports: list[TaskReport] = []
        self.failures: list[WorkerFailure] = []
        self.warned = WorkerWarnings(plan.warned_here)  # the tasks' workers', shown here once the run is over
        self.silent = False  # the scheduler left a question unanswered (held stopped): it is asked nothing more

    def _answered(self, question: Callable[[], T]) -> T:
        """``question`` to the scheduler, its answer given ANSWER_S (see :func:`answered_within`):
        _Silent when none came, and for every later question."""
        if self.silent:
            raise _Silent()
        try:
            return _asked(question)
        except _Silent:
            self.silent = True
            raise

    def _halt(self) -> None:
        """Tell every task to stop (a scheduler gone or silent: the liveness look names the tasks)."""
        self._tell(self.halt.set)

    def _tell(self, order: Callable[[], object]) -> None:
        """An order to the scheduler that may go unheard (gone or silent: what follows says so)."""
        try:
            self._answered(order)
        except Exception:  # noqa: BLE001 - whatever distributed raises as the scheduler goes away
            pass

    def submit(self) -> None:
        """One task per worker, each with the plan cut to its spec (the script's module stays here)."""
        for spec in self.plan.specs:
            ours = replace(spec, stop_unheard_s=KILL_AFTER_S - UNHEARD_MARGIN_S)
            own = replace(self.plan, specs=(ours,), script_module=None, setup_threads=(), setup_printed=())
            future = self.client.submit(
                run_task,
                own,
                self.names,
                self.plan.start_timeout_s,
                pure=False,
                resources={RESOURCE: 1},
                key=f"{self.names.go}-{spec.index}",
            )
            self.futures[future] = spec.index

    def wait_ready(self) -> None:
        """Until every task is ready, or one line says why the run cannot start."""
        deadline = time.monotonic() + self.plan.start_timeout_s
        while len(self.placed) < len(self.futures):
            if self.stop.is_set():
                raise Interrupted()
            if time.monotonic() > deadline:
                raise WorkerError(
                    f"{len(self.futures) - len(self.placed)} of {len(self.futures)} tasks were not "
                    f"ready on the Dask cluster within {self.plan.start_timeout_s:g}s"
                )
            for future, index in self.futures.items():
                if future.status in ("cancelled", "lost") and self.client.status != "running":
                    raise _Gone()  # not the task's doing (it said "worker 0 failed ...: cancelled", exit 2)
                if future.status in ("error", "cancelled", "lost"):
                    what = _one_line(self._answered(future.exception)) if future.status == "error" else future.status
                    raise WorkerError(f"worker {index} failed on the Dask cluster before it started: {what}")
            try:
                # what is there, at once: a get with a timeout that runs out is logged by the scheduler as an
                # error with its traceback (distributed's queue_get), three times a run on the user's scheduler
                messages = _before_the_go(self.client, lambda: self.ready.get(batch=True), self._answered)
                if not messages:
                    time.sleep(POLL_S)
            except KeyboardInterrupt:
                self.keyboard_interrupt = True
                self.stop.set()
                continue
            for message in messages:
                self._placed(message)

    def _placed(self, message: tuple[Any, ...]) -> None:
        """A task is ready (where it runs, its host's ports), or the one line why it cannot start."""
        if message[0] == "error":
            _, index, line, exit_code, raised = message
            self.warned.add(index, map(Raised._make, raised))  # the queue's messages come as plain sequences
            raise (WorkerError if exit_code == WorkerError.exit_code else SetupError)(line)
        _, index, address, host, ports = message
        self.placed[index] = (address, host)
        self.ports[index] = ports

    def start(self) -> None:
        """The go, to every task at once."""
        _before_the_go(self.client, self.go.set, self._answered)

    def crowded(self) -> tuple[str, ...]:
        """The port-range warning (:func:`~loadgen._run.limits.check_ports`) of each host, judged
        there by its tasks' reading and for all their connections to one target together, as the
        local run judges its workers'; each line once. SetupError (naming the host) when they
        cannot all have a port."""
        tasks: dict[tuple[str, Address], list[WorkerSpec]] = {}
        for spec in self.plan.specs:
            tasks.setdefault((self.placed[spec.index][1], spec.address), []).append(spec)
        lines: dict[str, None] = {}
        for (host, target), specs in tasks.items():
            readings = [ports for spec in specs if (ports := self.ports[spec.index]) is not None]
            total = sum(spec.connections for spec in specs)
            ports = max(readings, key=lambda reading: reading.held, default=None)
            try:
                lines.update(dict.fromkeys(f"{line} (on {host})" for line in check_ports(total, ports, target)))
            except SetupError as exc:
                raise SetupError(f"{exc} (on {host})") from None
        return tuple(lines)

    def collect(self, started: float) -> None:
        """Gather every task's report, telling them to stop when asked or late, and naming those
        whose Dask worker left the cluster.

        A task is late LATE_S past its own end, which it posts once its window has begun (a task
        whose Dask worker a busy machine held past the go begins late: told to stop at the run's
        end and LATE_S, it stopped as it began, 0 requests in 0.00s), as the local engine judges
        its workers. One stop tells every task: it is given once each task still running is past
        its own end, so it reaches late ones only (and each task's engine has told its worker
        "late" by then, at the same end on its own clock: this stop is for a task that did not
        hear). Until each has posted its end, one that has not is waited for as long as for its start.
        """
        pending = dict(self.futures)
        duration = self.plan.settings.load_s
        unposted_until = started + duration + START_TIMEOUT_S if duration is not None else None
        ends: dict[int, float] = {}  # task -> its worker's end, on this machine's monotonic clock
        halted_at: float | None = None
        halted_wall = 0.0  # when, on the wall clock the scheduler's last_seen is on
        next_look = started + LIVENESS_S
        while pending:
            self._take_ends(ends)
            now = time.monotonic()
            deadline = _deadline(pending.values(), ends, unposted_until)
            if halted_at is None and (self.stop.is_set() or (deadline is not None and now > deadline)):
                self._halt()
                halted_at, halted_wall = now, time.time()
            if halted_at is not None and now - halted_at > KILL_AFTER_S:
                for future, index in pending.items():
                    if future.done():  # its report came since the last look: kept, as every report is
                        self._receive(future, index)
                        continue
                    self._fail(
                        index,
                        f"did not stop within {KILL_AFTER_S:.0f}s{self._unheard(index, halted_wall)}, "
                        "and was cancelled",
                    )
                    self._tell(future.cancel)  # before Dask runs it again
                return
            try:
                time.sleep(POLL_S)
            except KeyboardInterrupt:
                self.keyboard_interrupt = True
                self.stop.set()
            self._relay_seconds()
            for future in [future for future in pending if future.done()]:
                self._receive(future, pending.pop(future))
            if now >= next_look and pending:
                self._forget_the_lost(pending)
                next_look = now + LIVENESS_S
        self._relay_seconds()  # what the last tasks put after the look before they ended: their last seconds

    def _take_ends(self, ends: dict[int, float]) -> None:
        """The ends the tasks posted since the last look (as the seconds left to each), on this
        clock: a little late by the message's way here, so never early."""
        try:
            messages = self._answered(lambda: self.ready.get(batch=True))
        except Exception:  # noqa: BLE001 - the scheduler is going away: the liveness look names the tasks
            return
        now = time.monotonic()
        for message in messages:
            if message[0] == "end":
                _, index, left_s = message
                ends[index] = max(ends.get(index, 0.0), now + left_s)  # a held paced worker's end moves later

    def _relay_seconds(self) -> None:
        """The seconds the tasks posted since the last look, to ``on_second``, then that they were
        all read (:class:`Caught`: a task that posts nothing is behind, not the look)."""
        if self.live is None or self.on_second is None:
            return
        try:
            live = self.live
            records = self._answered(lambda: live.get(batch=True))
        except Exception:  # noqa: BLE001 - the scheduler is going away: the view stops, the run does not
            return
        for record in records:
            self.on_second(record)
        self.on_second(Caught())

    def _fail(self, index: int, what: str, pid: int | None = None, lost_requests: int | None = None) -> None:
        """A task gone without its report: what it measured is lost (a task whose report came
        has its failures kept as they are, in :meth:`_receive`); the live views stop waiting for it."""
        address, host = self.placed[index]
        self.failures.append(WorkerFailure(index, pid, f"on {host} ({address}) {what}", True, lost_requests))
        if self.on_second is not None:
            self._relay_seconds()  # what it posted before, then that it is gone
            self.on_second(WorkerGone(index))

    def _receive(self, future: Future[TaskReport | None], index: int) -> None:
        if future.status == "error":
            self._fail(index, f"failed: {_one_line(future.exception())}")
            return
        if future.status != "finished":  # cancelled: by the client itself when it lost the scheduler
            self._fail(
                index, "was lost with the Dask scheduler" if self.client.status != "running" else f"was {future.status}"
            )
            return
        try:
            report = self._answered(future.result)  # gathered through the scheduler, held stopped or gone meanwhile
        except OSError as exc:
            self._fail(index, _with_the_scheduler(exc))
            return
        if report is None:
            self._fail(index, "stopped before its window began" if self._present(index) else LEFT)
            return
        self.warned.add(index, report.warnings)
        if not report.measurement.workers:  # its engine process died with what it measured, as a lost Dask worker
            for failure in report.failures:
                self._fail(index, f"was lost: its engine process {failure.what}", failure.pid, failure.lost_requests)
            return
        self.reports.append(report)
        address, host = self.placed[index]
        for failure in report.failures:
            self.failures.append(replace(failure, what=f"on {host} ({address}) {failure.what}"))
        if report.failures or report.measurement.script_error:
            self._halt()  # the run is over for all, as when a local worker fails in its loop

    def _forget_the_lost(self, pending: dict[Future[TaskReport | None], int]) -> None:
        """Tasks whose Dask worker left the cluster (or all of them, when the scheduler is gone):
        named, and cancelled before Dask runs them again. What finished is kept."""
        try:
            present = self._answered(self.client.nthreads)  # the cheapest question about every worker
        except OSError as exc:
            present, why = {}, _with_the_scheduler(exc)
        else:
            why = LEFT
        for future, index in list(pending.items()):
            if self.placed[index][0] not in present:
                self._fail(index, why)
                self._tell(future.cancel)  # before Dask runs it again
                del pending[future]

    def _present(self, index: int) -> bool:
        """Whether the task's Dask worker is still in the cluster (if the scheduler cannot say, as if it were). Dask
        runs a lost worker's task again elsewhere, where it finds the run under way and stops before its window
        begins: its empty report came back before the liveness look named the loss, and the line said the task
        stopped before its window began (a Dask worker killed mid-run, once in a clean-clone CI run)."""
        try:
            return self.placed[index][0] in self._answered(self.client.nthreads)
        except Exception:  # noqa: BLE001 - the scheduler is going away: the liveness look names the tasks
            return True

    def _unheard(self, index: int, since: float) -> str:
        """Why a task told to stop at ``since`` (wall clock) did not, when the scheduler knows: its
        Dask worker not heard from since (its heartbeats stopped: held stopped, or its machine hung);
        "did not stop" alone read as a task that ran on."""
        try:
            workers = self._answered(lambda: self.client.scheduler_info(n_workers=-1))["workers"]
            last_seen = float(workers[self.placed[index][0]]["last_seen"])
        except Exception:  # noqa: BLE001 - gone, or the scheduler with it: the line says what is known
            return ""
        if last_seen >= since:
            return ""
        silent = time.time() - last_seen
        return f": its Dask worker has not been heard from for {silent:.1f}s (held stopped, or its machine hung)"

    def close(self) -> None:
        """Stop every task still running (a cancelled task's thread runs on until told: each is
        given a moment to end, so that none is cut short by its worker closing) and drop the
        run's queue from the scheduler."""
        from distributed import wait

        try:
            self._answered(self.halt.set)
            wait(list(self.futures), timeout=END_WAIT_S)
            self._answered(lambda: self.client.cancel(list(self.futures)))
            self.ready.close()
            if self.live is not None:
                self.live.close()
        except Exception:  # noqa: BLE001 - the cluster may be gone already; nothing is left to stop then
            pass

    def result(self, elapsed_us: int) -> Result:
        reports = sorted(self.reports, key=lambda report: report.index)
        measured = Measurement.sum(report.measurement for report in reports)
        earliest = min((report.started_at for report in reports), default=0.0)
        settings = self.plan.settings
        hosts = tuple(_host(report, settings, report.started_at - earliest) for report in reports)
        return Result(
            runs=(settings,),
            measured=measured,
            runtime_us=measured.elapsed_us or elapsed_us,
            interrupted=self.stop.is_set(),
            hosts=hosts,
            worker_failures=tuple(sorted(self.failures, key=lambda failure: failure.index)),
        )


def _deadline(tasks: Collection[int], ends: dict[int, float], unposted_until: float | None) -> float | None:
    """When the tasks still running are late (None: a run without -d, stopped only when asked)."""
    posted = [ends[index] for index in tasks if index in ends]
    if unposted_until is None or not posted or len(posted) < len(tasks):
        return unposted_until
    return max(posted) + LATE_S


def _host(report: TaskReport, settings: Settings, offset_s: float) -> Host:
    """One task's line in ``hosts``: its counts as the Result counts them."""
    own = Result(runs=(settings,), measured=report.measurement, runtime_us=report.measurement.elapsed_us)
    cpu = report.measurement.client_cpu[0] if report.measurement.client_cpu else WorkerCpu(0.0, 0.0)
    return Host(
        report.index, report.address, report.host, own.requests, own.errors.socket + own.errors.status, cpu, offset_s
    )


def execute_on_cluster(
    plan: Plan,
    dask: str | Client,
    *,
    stop: threading.Event | None = None,
    on_start: Callable[[], None] | None = None,
    on_second: Callable[[LivePost], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> Result:
    """:func:`loadgen._run.engine.execute` across a Dask cluster (``dask``: a scheduler's
    address, ``local:N``, or a connected ``distributed.Client``, which :func:`check_dask` has
    seen); ``on_second`` as there, each task's seconds relayed through a queue on the scheduler;
    ``on_notice`` is given each line the hosts warn of once every task is ready, before the run
    starts (what a local run's plan says in its notices)."""
    stop = stop if stop is not None else threading.Event()
    sys.stdout.write("".join(plan.setup_printed))  # each task's init() prints on its own host
    client, close_client = _connect(dask)
    try:
        _check_versions(client, _suitable_workers(client, plan.settings.threads))
        run = _ClusterRun(plan, client, stop, on_second)
        try:
            run.submit()
            run.wait_ready()
            for line in run.crowded():
                if on_notice is not None:
                    on_notice(line)
            if on_start is not None:
                on_start()
            run.start()
            started = time.monotonic()
            run.collect(started)
            elapsed_us = int((time.monotonic() - started) * 1_000_000)
        finally:
            run.close()
            run.warned.show()  # once, however many workers raised each, as a local run shows them
    except (_Silent, _Gone) as exc:  # during the run, collect takes the scheduler's silence as its loss
        raise _lost_before_the_go(dask, exc) from None
    finally:
        close_client()
    if run.keyboard_interrupt:
        raise KeyboardInterrupt
    return run.result(elapsed_us)
