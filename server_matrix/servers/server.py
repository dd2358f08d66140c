"""One server process: start it in its own process group, wait until it answers, ask it what it runs, stop it.

The server's output goes to a log file that the runner scans (worker timeouts, restarts,
tracebacks). Stopping is SIGTERM to the whole process group, SIGKILL after a grace period, then
a wait until no member of the group is left and the port accepts a new listener. Every process
the server starts also carries a marker in its environment (``MARKER``), so one that left the
group (a server that daemonizes itself, as gunicorn ``--daemon`` does: it forks, starts a session
of its own, and its first process exits) is found and stopped too; such a server is refused. Should the
runner die first, the watchdog kills the group, and the leader dies with the runner's main
thread (``PR_SET_PDEATHSIG``; servers are started from that thread only).
"""

from __future__ import annotations

import ctypes
import http.client
import json
import math
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from server_matrix.planning.endpoints import RUNTIME_PATH
from server_matrix.servers.serverlog import (
    LogEvents,
    boot_lines_lost,
    count_events,
    last_error,
    startup_failure,
    tail,
    worker_boots,
    write_header,
)
from server_matrix.servers.watchdog import WATCHDOG

READY_PROBES = 3  # consecutive 200s from the runtime endpoint
PROBE_INTERVAL_S = 0.02  # a refused connect costs microseconds: a ready server is seen at once
DAEMON_SETTLE_S = 1.0  # a server that exited 0 before it was ready: how long its daemon may take to appear
PROBE_TIMEOUT_S = 5.0
REFUSED_RETRY_S = 0.05  # a server that refuses the settling probe is asked again so often, until it answers or exits
# A gunicorn worker logs its boot line before it loads the app: the second of two gthread workers answered 0.2 to 1 s
# after the first, and a run started in between had every connection on the first (32 of 32, `ss -tnp`), half the
# server's threads. Readiness waits this long at most, past the other conditions, for every worker to answer once.
ALL_WORKERS_WAIT_S = 3.0
STOP_GRACE_S = 15.0
INTERRUPTED_STOP_GRACE_S = 1.0  # after Ctrl-C nothing more is measured: the server need not finish its work
KILL_WAIT_S = 10.0
PORT_FREE_WAIT_S = 5.0
PR_SET_PDEATHSIG = 1
MARKER = "SERVER_MATRIX_SERVER"  # in each server's environment, a value of its own: its processes inherit it
# Looked up now, not between fork and exec, where a dynamic loader lock held by another thread would hang.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl


class ServerFailed(RuntimeError):
    """The server did not start, or is gone: ``reason`` is one line, ``log_tail`` its last words."""

    def __init__(self, reason: str, log_tail: str, command: list[str]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.log_tail = log_tail
        self.command = command


LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as sock:
        try:
            sock.bind((host, 0))
        except OSError as error:
            raise ServerFailed(
                f"no free port on {host} ({error.strerror}): too many sockets in use or in "
                "TIME_WAIT? see net.ipv4.ip_local_port_range",
                "",
                [],
            ) from None
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when a new listener could bind the port (TIME_WAIT leftovers do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _marked(pid: str, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            return marker in environ.read().split(b"\0")
    except OSError:
        return False


def server_processes(pgid: int, marker: str | None = None) -> list[int]:
    """Live (non-zombie) processes of the group, and those elsewhere whose environment has ``marker``."""
    needle = f"{MARKER}={marker}".encode() if marker else None
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not (fields := _stat_fields(entry)):
            continue
        if fields[0] != "Z" and (int(fields[2]) == pgid or (needle is not None and _marked(entry, needle))):
            members.append(int(entry))
    return members


def _stat_fields(pid: int | str) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command's name: its state letter (``R``, ``S``, ``T`` stopped,
    ``Z``...), its parent, its process group...; none once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while cleaning up, so a second Ctrl-C cannot leave a server behind."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def http_get(port: int, path: str, timeout: float = PROBE_TIMEOUT_S, host: str = LOOPBACK) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _before_exec(cpus: set[int] | None) -> None:
    """In the child, between fork and exec: system calls only, no lock taken (the runner has threads)."""
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)
    if cpus:
        os.sched_setaffinity(0, cpus)


class ServerProcess:
    """A started server; :meth:`stop` ends its whole process group (the caller calls it in a ``finally``)."""

    def __init__(
        self,
        command: Sequence[str],
        environment: dict[str, str],
        log_path: Path,
        port: int,
        *,
        expected_boots: int = 0,
        boot_line: str | None = None,
        cpus: set[int] | None = None,
        host: str = LOOPBACK,
    ) -> None:
        self.command = list(command)
        self.host = host
        self.port = port
        self.log_path = log_path
        self.expected_boots = expected_boots
        self.boot_line = boot_line
        self.marker = uuid.uuid4().hex
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab", buffering=0) as log:  # unbuffered: nothing left for its close to fail on
            self.log_start = write_header(log, log_path, self.command)
            try:
                self.process = subprocess.Popen(
                    self.command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**environment, MARKER: self.marker},
                    start_new_session=True,
                    preexec_fn=lambda: _before_exec(cpus),  # noqa: PLW1509
                )
            except OSError as error:
                raise ServerFailed(f"cannot start the server: {error.strerror or error}", "", self.command) from None
        self.pgid = self.process.pid  # start_new_session: the leader's pid is the group id
        WATCHDOG.watch(self.pgid)
        self.port_freed: bool | None = None
        self._kill_by = math.inf  # set by hurry(): a stop SIGKILLs from then on, whatever its own grace

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def exit_description(self) -> str:
        code = self.process.poll()
        if code is None:
            return "is running"
        return f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"

    def death(self, when: str) -> str:
        """``server exited with status 4 during the run``, with the demo's line saying why when it logged one: a
        gunicorn worker whose start-up failed (PostgreSQL's ``too many clients``) after another one made the server
        ready stops the server mid-cell, and the cell said only "exited with status 4"."""
        return self.lost(f"{self.exit_description()} {when}")

    def lost(self, what: str) -> str:
        """``server <what>``, with the demo's line saying why when it logged one."""
        said = startup_failure(self.log_text())
        return f"server {what}" + (f": {said}" if said else "")

    # -- the log -------------------------------------------------------------------------------

    def log_text(self) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(self.log_start)
            return log.read().decode(errors="replace")

    def log_events(self) -> LogEvents:
        return count_events(self.log_text(), self.boot_line)

    def last_error(self) -> str | None:
        return last_error(self.log_text())

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log_text(), lines)

    def failure(self, reason: str) -> ServerFailed:
        return ServerFailed(reason, self.log_tail(), self.command)

    # -- readiness and questions -----------------------------------------------------------------

    def wait_ready(self, timeout_s: float) -> None:
        """N consecutive 200s from the runtime endpoint and every expected worker's boot line, or ServerFailed: at
        once when the demo logs why it cannot start (uvicorn --workers respawned its workers for the whole limit, a
        minute, and the cell said "not ready"), or when the server exits (also past the limit: a probe held by
        another listener on its port outlasted the exit, and the cell said "not ready")."""
        deadline = time.monotonic() + timeout_s
        consecutive = status = 0
        while True:
            log = self.log_text()  # once a probe: what it says of the start, and the workers' boot lines
            if reason := startup_failure(log):
                raise self.failure(reason)
            if not self.alive():
                raise self.failure(self._exit_reason())
            if time.monotonic() > deadline:
                raise self.failure(self._not_ready(timeout_s, status, consecutive))
            try:  # no longer than the time left: a server that accepts and never answers held it 5 s past the limit
                left_s = max(PROBE_INTERVAL_S, min(PROBE_TIMEOUT_S, deadline - time.monotonic()))
                status, _ = http_get(self.port, RUNTIME_PATH, timeout=left_s, host=self.host)
            except OSError:
                status = 0
            consecutive = consecutive + 1 if status == 200 else 0
            if consecutive >= READY_PROBES:  # answering: ready once every worker's boot line is in its log
                if worker_boots(log, self.boot_line) >= self.expected_boots:
                    self._wait_every_worker(min(deadline, time.monotonic() + ALL_WORKERS_WAIT_S))
                    return
                if lost := boot_lines_lost(self.log_path):
                    raise self.failure(lost)
            time.sleep(PROBE_INTERVAL_S)

    def _wait_every_worker(self, deadline: float) -> None:
        """Until each worker process has answered a runtime probe, or ``deadline``: a worker that logged its boot line
        may still be loading the app, and the first one up would take every connection of the run."""
        answered: set[int] = set()
        while (expected := self._answering_processes()) > 1 and time.monotonic() < deadline:
            answered.update(report["pid"] for report in self.runtime_reports(max(2, 2 * expected)))
            if len(answered) >= expected:
                return
            time.sleep(PROBE_INTERVAL_S)

    def _answering_processes(self) -> int:
        """How many processes can answer a probe: the expected workers, but no more than the server's processes
        besides its master. granian's workers on a free-threaded build are threads of one process, whose every
        answer has one pid: waiting for a second one cost every such server start ALL_WORKERS_WAIT_S."""
        processes = len(self._processes())
        return min(self.expected_boots, processes - 1 if processes > 1 else processes)

    def _not_ready(self, timeout_s: float, status: int, consecutive: int) -> str:
        """Which readiness condition was missing: the runtime endpoint's 200s in a row, or some workers' boot lines
        (a 200 alone, from the first worker up, is not ready). The 200s counted to the 3 needed, not on."""
        booted = f"; {self.log_events().worker_boots} of {self.expected_boots} workers' boot lines in its log"
        return (
            f"server not ready after {timeout_s:g} s ({min(consecutive, READY_PROBES)} of {READY_PROBES} answers 200 "
            f"in a row, last status {status or 'no answer'}{booted if self.expected_boots else ''})"
        )

    def _exit_reason(self) -> str:
        """Why the server is not ready: it exited, or its first process left others behind (it daemonized)."""
        reason = f"server {self.exit_description()} before it was ready"
        left = self._escaped()
        settle = time.monotonic() + DAEMON_SETTLE_S
        while not left and self.process.poll() == 0 and time.monotonic() < settle:  # its daemon may be forking yet
            time.sleep(PROBE_INTERVAL_S)
            left = self._escaped()
        if left:
            reason += (
                f", leaving {len(left)} process(es) it started running (pid {', '.join(map(str, left))}): it "
                "daemonized itself (as gunicorn --daemon does), which server-matrix cannot watch; they were stopped, "
                "run the server in the foreground"
            )
        return reason

    def answer(self, wait_s: float) -> int | None:
        """The runtime endpoint's status within ``wait_s`` after a run (0: none; None: every connection refused till
        then): a gunicorn halting (a worker failed the demo's start-up) refuses at once, then exits 1-6 s later."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                left_s = max(deadline - time.monotonic(), REFUSED_RETRY_S)
                return http_get(self.port, RUNTIME_PATH, timeout=left_s, host=self.host)[0]
            except ConnectionRefusedError:
                if not self.alive():
                    return 0
                if time.monotonic() >= deadline:
                    return None
                time.sleep(REFUSED_RETRY_S)
            except OSError:
                return 0

    def runtime_reports(self, samples: int) -> list[dict[str, Any]]:
        """What the server processes report about themselves: one report per process reached in ``samples`` tries."""
        with ThreadPoolExecutor(max_workers=samples) as pool:  # at once: sooner, and more processes reached
            answers = list(pool.map(self._runtime_report, range(samples)))
        return list({report["pid"]: report for report in answers if report is not None}.values())

    def _runtime_report(self, _: int) -> dict[str, Any] | None:
        try:
            status, body = http_get(self.port, RUNTIME_PATH, host=self.host)
        except OSError:
            return None
        return json.loads(body) if status == 200 else None

    # -- stopping --------------------------------------------------------------------------------

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM to the group, SIGKILL after ``grace_s``, until no member is left; then check the port."""
        if self.port_freed is not None:
            return
        with signals_deferred():
            self._signal_group(signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while self._running() and time.monotonic() < min(deadline, self._kill_by):
                time.sleep(0.05)
            deadline = time.monotonic() + KILL_WAIT_S
            while self._running() and time.monotonic() < deadline:
                self._signal_group(signal.SIGKILL)
                time.sleep(0.05)
            if not self._running():
                WATCHDOG.release(self.pgid)  # gone for good: the group id may be reused by anyone
            deadline = time.monotonic() + PORT_FREE_WAIT_S
            while not port_is_free(self.port, self.host) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.port_freed = port_is_free(self.port, self.host)

    def hurry(self, grace_s: float) -> None:
        """Cut a stop under way (in another thread) or to come to ``grace_s`` from now: the run was interrupted, and
        what the server is finishing was abandoned (a stop given 15 s would hold Ctrl-C for as long)."""
        self._kill_by = min(self._kill_by, time.monotonic() + grace_s)

    def held(self) -> bool:
        """Whether a process of the server is stopped (SIGSTOP, a debugger): it answers nothing until continued."""
        return any(_stat_fields(pid)[:1] in (["T"], ["t"]) for pid in self._processes())

    def _processes(self) -> list[int]:
        return server_processes(self.pgid, self.marker)

    def _escaped(self) -> list[int]:
        """The server's processes out of its process group, where only a daemon's setsid puts them: its workers still
        winding down after their master was killed are in it (uvicorn --workers killed at boot was "daemonized")."""
        return [pid for pid in self._processes() if (fields := _stat_fields(pid)) and int(fields[2]) != self.pgid]

    def _running(self) -> bool:
        """The leader not yet reaped, or any process it started (workers outliving it, a daemon) still there."""
        return self.process.poll() is None or bool(self._processes())

    def _signal_group(self, signum: int) -> None:
        """The process group, and whatever the server started outside it (found by its marker)."""
        try:
            os.killpg(self.pgid, signum)
        except ProcessLookupError:
            pass
        for pid in server_processes(-1, self.marker):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
