"""One server group at work: start its server, warm it up, measure each cell, restart it only when needed.

The server is started once and every endpoint is measured against it. It is started again only
if it died, or if it is still busy with requests the client abandoned (a WSGI worker sleeping
through a gateway endpoint's backlog) well after a cell ended, so the next cell starts clean.
A server that cannot start turns every remaining cell of its group into an error carrying its
log tail; nothing here raises past the runner except KeyboardInterrupt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import loadgen
from server_matrix.measuring.interference import watch
from server_matrix.measuring.results import ERROR, OK, Cell, Sample, ServerEvents
from server_matrix.planning.estimate import BUSY_STOP_GRACE_S, SETTLE_MARGIN_S
from server_matrix.planning.gil import interpreter_flags, setting_key
from server_matrix.planning.modes import loop_values
from server_matrix.planning.parameters import Parameters
from server_matrix.planning.plan import PlannedCell, ServerGroup
from server_matrix.servers.server import (
    INTERRUPTED_STOP_GRACE_S,
    STOP_GRACE_S,
    ServerFailed,
    ServerProcess,
    free_port,
    http_get,
)
from server_matrix.servers.serverenv import server_environment
from server_matrix.servers.serverlog import LogEvents

# Requests per worker process, on every endpoint without a simulated delay. A fresh server's first requests are
# at most a few ms slower than its later ones, on every endpoint (benchmarks/first_requests.py): two per worker
# take that out of the windows with room to spare; four cost the free-threaded run half a second per server start.
WARM_UP_ROUNDS = 2
WARM_UP_CONCURRENCY = 8
# A repetition whose responses were this share or more HTTP errors (status > 399) failed: the demo answers none on
# a sound server (none in 1,300 repetitions of every mode), so they are the server or its database failing (a
# SQLite file removed, PostgreSQL stopped), and a rate of 500s is not the server's. Was counted as a rate, "ok".
ERROR_RESPONSES_SHARE = 0.01
HELD_STOPPED = "held stopped (SIGSTOP, a debugger)"  # a server that could not answer when loadgen's run ended

ProgressCallback = Callable[[Any], None]


class Settled(NamedTuple):
    """A server after a cell: its runtime reports, why the runner restarted it, its log's events, and why it is gone
    when it exited or stopped listening while the runner waited for its answer (the cell then failed)."""

    reports: list[dict[str, Any]]
    restarted: str | None
    events: LogEvents
    lost: str | None = None


def log_path_for(out_dir: Path, group: ServerGroup) -> Path:
    interpreter = group.interpreter.short_label
    return out_dir / "logs" / f"{group.mode.id}-{interpreter}-{setting_key(group.gil)}.log"


class GroupSession:
    """Call :meth:`close` when done (in a ``finally``): it stops the group's server, whatever happened."""

    def __init__(
        self, group: ServerGroup, parameters: Parameters, out_dir: Path, workers: loadgen.Workers | None = None
    ) -> None:
        self.group = group
        self.parameters = parameters
        self.workers = workers  # the run's, which starts loadgen's workers for every cell (None: a fresh one each)
        self.log_path = log_path_for(out_dir, group)
        self.server: ServerProcess | None = None
        self.start_failure: ServerFailed | None = None
        self.runtime_at_start: list[dict[str, Any]] = []
        self.warnings: list[str] = []  # what went wrong outside any cell (a port left listening)

    def close(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop the server, if one runs, SIGKILL after ``grace_s`` (harmless twice)."""
        self._stop(grace_s)

    def hurry(self, grace_s: float) -> None:
        """Cut the stop of its server, under way in another thread, to ``grace_s`` from now (see ServerProcess)."""
        server = self.server  # read once: the stopping thread sets it to None when done
        if server is not None:
            server.hurry(grace_s)

    # -- the server ------------------------------------------------------------------------------

    def _stop(self, grace_s: float = STOP_GRACE_S) -> None:
        if self.server is not None:
            self.server.stop(grace_s)
            if not self.server.port_freed:
                self.warnings.append(
                    f"{self.group.mode.id}: port {self.server.port} still in use after the server "
                    f"(pid {self.server.pid}) was stopped"
                )
            self.server = None

    def _expected_boots(self, port: int) -> int:
        return self.group.mode.expected_boots(**self.parameters.server_values(port))

    def _start(self) -> ServerProcess:
        port = free_port(self.parameters.bind)
        group = self.group
        values = self.parameters.server_values(port) | loop_values(group.interpreter.modules)
        command = [group.interpreter.executable, *interpreter_flags(group.gil), *group.mode.command_args(**values)]
        cpus = set(self.parameters.server_cpus) if self.parameters.server_cpus else None
        server = ServerProcess(
            command,
            server_environment(group.gil, self.parameters.demo_environment(), self.parameters.bind),
            self.log_path,
            port,
            expected_boots=self._expected_boots(port),
            boot_line=group.mode.boot_line,
            cpus=cpus,
            host=self.parameters.bind,
        )
        try:
            server.wait_ready(self.parameters.startup_timeout_s)
            self._warm_up(server)
            if not server.alive():
                raise server.failure(server.death("during warm-up"))
            self.runtime_at_start = server.runtime_reports(self._samples(server))
        except BaseException as error:  # Ctrl-C while it boots: nothing will be measured, no need to wait 15 s
            server.stop(INTERRUPTED_STOP_GRACE_S if isinstance(error, KeyboardInterrupt) else STOP_GRACE_S)
            raise
        return server

    def _samples(self, server: ServerProcess) -> int:
        """Runtime probes per check: enough to reach most worker processes."""
        return max(2, 2 * server.expected_boots)

    def _warm_up(self, server: ServerProcess) -> None:
        """A few requests per worker on each endpoint that does not just sleep: nothing is first-time when measuring."""
        paths = [cell.path for cell in self.group.cells if cell.endpoint.delay_s == 0]
        rounds = WARM_UP_ROUNDS * max(1, server.expected_boots)
        timeout = self.parameters.timeout_s + SETTLE_MARGIN_S

        def fetch(path: str) -> None:
            try:
                http_get(server.port, path, timeout=timeout, host=server.host)
            except OSError:
                pass  # a failing endpoint shows up in its measurement, with the server's log

        with ThreadPoolExecutor(max_workers=WARM_UP_CONCURRENCY) as pool:
            list(pool.map(fetch, [path for path in paths for _ in range(rounds)]))

    def start(self) -> None:
        """Start and warm up the server before the group's first cell (the runner overlaps this with the last
        group's stop); a server that cannot start is remembered, and each cell then carries why."""
        try:
            self._ensure_server()
        except ServerFailed:
            pass

    def _ensure_server(self) -> ServerProcess:
        if self.start_failure is not None:
            raise self.start_failure
        if self.server is None or not self.server.alive():
            self._stop()  # reap what is left of a dead server (orphaned workers)
            try:
                self.server = self._start()
            except ServerFailed as failure:
                self.start_failure = failure
                raise
        return self.server

    def _settle(self, server: ServerProcess, planned: PlannedCell) -> Settled:
        """Runtime reports once the server answers again, or why it had to be restarted; its log's events; and why it
        is gone, when it exited or stopped listening meanwhile."""
        delay_s = planned.endpoint.scaled_delay_s(self.parameters.gateway_scale)
        wait_s = delay_s + SETTLE_MARGIN_S
        backlog_s = self.group.mode.backlog_s(
            self.parameters.connections, delay_s, **self.parameters.server_values(server.port)
        )
        if backlog_s > wait_s:  # it would not answer in time: no need to wait to find out
            events = self._stop_busy(server)
            return Settled([], f"busy with about {backlog_s:.0f}s of requests the client abandoned: restarted", events)
        status = server.answer(wait_s)
        if status == 200:
            return Settled(server.runtime_reports(self._samples(server)), None, server.log_events())
        if not server.alive():
            return Settled([], None, server.log_events(), server.death("after the run"))
        events = self._stop_busy(server)  # what it is busy with was abandoned by the client: no need to wait
        if status is None:  # a server that refuses connections is not busy: it stopped listening (gunicorn halting)
            lost = server.lost(f"refused every connection for {wait_s:.0f}s after the run")
            return Settled([], "refused connections after the run: restarted", events, lost)
        return Settled([], f"still busy {wait_s:.0f}s after the run (requests the client abandoned): restarted", events)

    def _stop_busy(self, server: ServerProcess) -> LogEvents:
        """Stop a server busy with the requests the client abandoned; its log's events from before: what it logs as
        it is stopped is the runner's doing, not the run's (granian fails the demo's queued async views, a traceback
        each: 9 after gateway_10s async)."""
        events = server.log_events()
        self._stop(BUSY_STOP_GRACE_S)
        return events

    # -- a cell ----------------------------------------------------------------------------------

    def cell(self, planned: PlannedCell, status: str, **details: Any) -> Cell:
        """The cell with one sample: ``status`` and ``details`` (a :class:`Sample`'s fields)."""
        group = self.group
        return Cell(
            mode=group.mode.id,
            mode_title=group.title,
            python=group.interpreter.requested,
            python_executable=group.interpreter.executable,
            python_version=group.interpreter.version,
            free_threaded_build=group.interpreter.free_threaded,
            gil_requested=group.gil,
            endpoint=planned.endpoint.name,
            endpoint_title=planned.endpoint.title,
            variant=planned.variant,
            path=planned.path,
            samples=[Sample(status=status, **details)],
            informational=group.informational,
            measurement=group.measurement(self.parameters),
            window=planned.window,
        )

    def measure(self, planned: PlannedCell, on_progress: ProgressCallback | None = None) -> Cell:
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        started = time.monotonic()
        try:
            server = self._ensure_server()
        except ServerFailed as failure:
            return self.cell(
                planned,
                ERROR,
                reason=failure.reason,
                log_tail=failure.log_tail,
                server=ServerEvents(command=failure.command, log_file=str(self.log_path)),
                started_at=started_at,
                elapsed_s=time.monotonic() - started,
            )
        before = server.log_events()
        with watch() as machine:  # what else used the CPUs while loadgen ran
            result, problem = self._load(server, planned, on_progress)
        died = not server.alive()
        held = not died and server.held()
        runtime_at_start = self.runtime_at_start
        if held:  # it would answer nothing to the settling wait: SIGKILL reaches it, SIGTERM would wait for SIGCONT
            self._stop(BUSY_STOP_GRACE_S)
        if died or held:  # nothing to settle: its log holds all it said
            gone = server.death("during the run") if died else f"server {HELD_STOPPED} at the end of the run"
            settled = Settled([], None, server.log_events(), gone)
        else:
            settled = self._settle(server, planned)
        reports, restarted, events, lost = settled
        if lost:
            problem = lost + (f" ({problem})" if problem else "")
        return self.cell(
            planned,
            ERROR if problem else OK,
            reason=problem,
            gil_reported=gil_reported(reports or runtime_at_start),
            server=self._events(server, before, events, restarted, runtime_at_start, reports),
            log_tail=server.log_tail() if problem else None,
            result=result,
            machine=machine.usage.to_json() if machine.usage else None,
            started_at=started_at,
            elapsed_s=time.monotonic() - started,
        )

    def _load(
        self, server: ServerProcess, planned: PlannedCell, on_progress: ProgressCallback | None
    ) -> tuple[loadgen.Result | None, str | None]:
        parameters = self.parameters
        try:
            result = loadgen.run(
                f"http://{server.host}:{server.port}{planned.path}",
                threads=parameters.client_threads,
                connections=parameters.connections,
                duration=planned.window.duration_s,
                timeout=parameters.timeout_s,
                on_progress=on_progress,
                dask=parameters.client_dask,
                http2=self.group.mode.http2,
                workers=self.workers,
            )
        except loadgen.LoadgenError as error:
            return None, f"loadgen: {error}"
        if result.worker_failures:
            return result, "loadgen: " + "; ".join(map(str, result.worker_failures))
        return result, error_responses(result, server.last_error)

    def _events(
        self,
        server: ServerProcess,
        before: LogEvents,
        after: LogEvents,
        restarted: str | None,
        runtime_at_start: list[dict[str, Any]],
        reports: list[dict[str, Any]],
    ) -> ServerEvents:
        expected = server.expected_boots
        delta = after - before
        return ServerEvents(
            command=server.command,
            port=server.port,
            pid=server.pid,
            log_file=str(self.log_path),
            worker_timeouts=delta.worker_timeouts,
            worker_restarts=max(0, after.worker_boots - expected) - max(0, before.worker_boots - expected),
            tracebacks=delta.tracebacks,
            gil_reenabled_warnings=delta.gil_reenabled_warnings,
            client_disconnects=delta.client_disconnects,
            restarted=restarted,
            runtime_at_start=runtime_at_start,
            runtime=reports,
        )


def error_responses(result: loadgen.Result, last_error: Callable[[], str | None]) -> str | None:
    """Why the repetition failed when the server answered ERROR_RESPONSES_SHARE or more of it with HTTP errors, with
    the last error its log names: the reason said only "see its log", whose tail is a traceback's frames, the cause
    (PostgreSQL stopped, or full: "too many clients already") in its last line."""
    errors = result.errors.status
    if not errors or errors < ERROR_RESPONSES_SHARE * result.requests:
        return None
    counts = sorted(result.status_counts.items())
    statuses = ", ".join(f"{count} x {status}" for status, count in counts if status > 399)  # loadgen's errors
    said = last_error()
    where = f"the last error in its log: {said}" if said else "see its log"
    return f"{errors} of {result.requests} responses were HTTP errors ({statuses}): the server failed them, {where}"


def gil_reported(reports: list[dict[str, Any]]) -> bool | None:
    """True if any sampled server process has the GIL enabled; None when none answered."""
    return any(report["gil_enabled"] for report in reports) if reports else None
