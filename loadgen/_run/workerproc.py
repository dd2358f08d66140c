"""Worker processes: the child's entry point, the parent's handle on one child, and the board
where workers post their running counts.

A worker is forked by the fork server (:mod:`loadgen._run.forkserver`) and talks to the parent
over its own socket pair with pickled messages, so its stdout and stderr stay free for a
script's prints. It ignores Ctrl-C (the parent decides when to stop) and stops by itself when
the parent goes away. It never prints a traceback: whatever goes wrong is sent home as one line.

Parent -> child: the WorkerSpec, then ("go", ends_at), then possibly "stop".
Child -> parent: ("ready", what loading the script and its init() printed, warnings) or ("error",
message, wrk's message or not, warnings); then ("opened", ends_at)
once its connects are issued (the parent releases the next worker then, as wrk starts its threads
one after another, telling it when the first one's window ends: ``time.monotonic_ns()``, or None
to run its own -d); then ("result", Measurement, failure or None, warnings), the failure said as
the rest of a line after "worker N (pid P) "; or, on a bug, ("crash", what, warnings). The warnings
are those raised since the last message, sent home to be shown once for every worker (:mod:`.warned`).
Running counts go through the :class:`ProgressBoard`, never through the socket: a message that
does not fit the socket's buffer would block the worker's loop, or be lost.
"""

from __future__ import annotations

import errno
import gc
import itertools
import mmap
import os
import resource
import select
import signal
import socket
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Collection
from functools import partial
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

from ..closedoutput import outlive_closed_output
from ..errors import SetupError
from ..measurement import error_statuses
from ..script import ScriptError, WorkerScript, hook_place, load_worker_script
from ..target import parse_url
from .forkserver import signal_name
from .hookwatch import HookWatch
from .limits import open_file_limit
from .protocols import DEFAULT, protocol_named
from .spec import WorkerSpec
from .warned import record, taken
from .worker import Worker, run_worker

if TYPE_CHECKING:
    from .forkserver import Forker
    from .pulse import Pulse

__all__ = ["ProgressBoard", "WorkerProcess", "child_main"]

OUT_OF_MEMORY = 70  # the exit code of a worker that ran out of memory, which the parent says in words
LoopErrorHandler = Callable[[Any, dict[str, Any]], object]

# The usual protocol imported here, once, by whatever forks the workers (the command, the fork
# server): a forked worker then has it already.
protocol_named(DEFAULT)

FINISHING = -1  # a board heartbeat: the worker stopped and is sending its measurement


def _shared_file() -> BinaryIO:
    """The board's file, open for its life (closed in :meth:`ProgressBoard.close`): in memory where the system has
    memfd_create (Linux), not in the temporary directory, whose disk the board's pages were taken from as its slots
    were first written: on a full one, loadgen died of SIGBUS before the run (-t130 on a full 4 KiB TMPDIR: exit 135,
    not a word), and with no temporary directory that can be written (every disk full), it was a traceback."""
    if hasattr(os, "memfd_create"):
        return open(os.memfd_create("loadgen-board"), "w+b")
    return tempfile.TemporaryFile()


class ProgressBoard:
    """Per worker, in shared memory: responses so far, errors so far, a heartbeat (the
    monotonic millisecond of the worker's last loop tick, or FINISHING), and whether its measured
    window is open (1; 0 in its warm-up, whose counts no figure has). After them, the parent's own
    heartbeat (its last look at the workers), for a worker that must stop once the parent can no
    longer tell it to (:data:`WorkerSpec.stop_unheard_s`)."""

    FIELDS = 4

    def __init__(self, workers: int) -> None:
        self.file = _shared_file()
        try:
            self.file.truncate(8 * (self.FIELDS * workers + 1))
        except OSError as exc:  # EFBIG under `ulimit -f 0`, which binds a memfd too: it was a traceback
            self.file.close()
            limit = " (the file size limit, ulimit -f)" if exc.errno == errno.EFBIG else ""
            raise SetupError(f"cannot make the workers' shared counts: {exc.strerror}{limit}") from None
        self.map = mmap.mmap(self.file.fileno(), 0)
        self.slots = memoryview(self.map).cast("q")
        now = _now_ms()
        for index in range(workers):
            self.slots[index * self.FIELDS + 2] = now
        self.looked()

    def fileno(self) -> int:
        return self.file.fileno()

    def totals(self, without: Collection[int] = ()) -> tuple[int, int]:
        """Responses and errors so far of every worker but those ``without`` (the parent's heartbeat,
        last, is no worker's), in their measured windows: none of a warm-up, which no figure has (the
        progress line counted it, then dropped to 0 as the window opened, 83,797 to 20,090)."""
        kept = [index * self.FIELDS for index in range(len(self.slots) // self.FIELDS) if index not in without]
        opened = [base for base in kept if self.slots[base + 3]]
        return sum(self.slots[base] for base in opened), sum(self.slots[base + 1] for base in opened)

    def requests(self, index: int) -> int:
        """Worker ``index``'s responses in its measured window so far: none in its warm-up (one that
        died in it was said to lose the warm-up's requests, which the figures leave out anyway)."""
        return self.slots[index * self.FIELDS] if self.slots[index * self.FIELDS + 3] else 0

    def finishing(self, index: int) -> bool:
        return self.slots[index * self.FIELDS + 2] == FINISHING

    def released(self, index: int) -> None:
        """The worker was just released: its loop is silent from now on only, not since the board was
        made (the parent's watch may look before the worker has run)."""
        self.slots[index * self.FIELDS + 2] = _now_ms()
        self.looked()

    def looked(self) -> None:
        """The parent's heartbeat: it is there to tell the workers to stop."""
        self.slots[-1] = _now_ms()

    def silent_for(self, index: int) -> float:
        """Seconds since the worker's loop last ticked: a loop blocked in user code goes silent."""
        beat = self.slots[index * self.FIELDS + 2]
        return 0.0 if beat == FINISHING else max(0.0, (_now_ms() - beat) / 1000)

    def close(self) -> None:
        self.slots.release()
        self.map.close()
        self.file.close()


class _Slot:
    """A worker's own place on the board."""

    def __init__(self, fd: int, index: int) -> None:
        self.map = mmap.mmap(fd, 0)
        self.slots = memoryview(self.map).cast("q")
        self.base = index * ProgressBoard.FIELDS
        os.close(fd)

    def post(self, worker: Worker) -> None:
        tally = worker.tally
        self.slots[self.base] = tally.requests
        # every kind, as the report's diagnosis, --tui and /metrics count them: without the error
        # statuses, a server answering 503 to everything read "0 errors" on the progress line
        self.slots[self.base + 1] = (
            sum(tally.error_reasons.values()) + tally.timeouts + error_statuses(tally.status_counts)
        )
        self.slots[self.base + 3] = int(not worker.warming)
        self.beat()

    def beat(self) -> None:
        self.slots[self.base + 2] = _now_ms()

    def silent_for(self) -> float:
        """Seconds since the last beat."""
        return max(0.0, (_now_ms() - self.slots[self.base + 2]) / 1000)

    def parent_silent_for(self) -> float:
        """Seconds since the parent last looked at the workers (:meth:`ProgressBoard.looked`)."""
        return max(0.0, (_now_ms() - self.slots[-1]) / 1000)

    def finishing(self) -> None:
        self.slots[self.base + 2] = FINISHING


def _now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def _tell(control: Connection, message: tuple[Any, ...]) -> bool:
    """Send to the parent; False when it is gone (then there is no one left to tell)."""
    try:
        control.send(message)
    except OSError:
        return False
    return True


def _tell_end(control: Connection, what: str, ends_at: int | None) -> None:
    """``opened``: its connects are issued, and when its load ends; ``held``: that end moved."""
    _tell(control, (what, ends_at))


COLLECTOR_OFF_TICKS = 20  # at most 2 s: against a server that closes connections, connects never stop


def _collecting_once_connected(slot: _Slot) -> Callable[[Worker], None]:
    """A worker's 100 ms tick while its connect phase runs without the garbage collector: the
    board's post, and once none of its connects is pending (or after ``COLLECTOR_OFF_TICKS``), the
    collector back on, the connections it made frozen out of its collections (they live the whole
    run: at 10,000 connections, a few hundred collections visited them and freed nothing)."""
    ticks = itertools.count(1)

    def tick(worker: Worker) -> None:
        slot.post(worker)
        if not worker.pool.connecting or next(ticks) >= COLLECTOR_OFF_TICKS:
            gc.freeze()
            gc.enable()
            worker.on_tick = slot.post

    return tick


UNHEARD_POLL_S = 0.1


def _stop_when_unheard(worker: Worker, slot: _Slot, after_s: float, said: list[str]) -> None:
    """Stop the worker once its parent has not looked at it for ``after_s``: a Dask task's parent is
    the Dask worker, which alone can tell it to stop (its run stopped, or given up); held stopped,
    it would leave the worker loading the server to its -d, after loadgen's end. Why, in ``said``."""

    def look() -> None:
        silent = slot.parent_silent_for()
        if silent > after_s:
            said.append(
                f"stopped by itself: its Dask worker was not heard from for {silent:.1f}s "
                "(held stopped, or its machine hung) and could no longer tell it to stop"
            )
            worker.stop()
        else:
            worker.loop.call_later(UNHEARD_POLL_S, look)

    worker.loop.call_later(UNHEARD_POLL_S, look)


def _describe(exc: BaseException) -> str:
    """One line for an unexpected error in a worker: type, message and where it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def out_of_memory() -> NoReturn:
    """End the worker at once. Out of memory, it fails anywhere, its loop's error handler included
    (uvloop then printed tracebacks, or ran on, only printing each MemoryError, until killed 15 s
    after the end), and saying why would take memory: the parent tells from the exit code."""
    os._exit(OUT_OF_MEMORY)


def _loop_error(handler: LoopErrorHandler, loop: Any, context: dict[str, Any]) -> None:
    """The worker's loop error handler, but a MemoryError ends the worker (see out_of_memory)."""
    if isinstance(context.get("exception"), MemoryError):
        out_of_memory()
    handler(loop, context)


def _unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """An error Python or uvloop can only print (uvloop's read callback: a traceback a read, the
    worker running on): a MemoryError ends the worker as one in its loop does."""
    if isinstance(unraisable.exc_value, MemoryError):
        out_of_memory()
    sys.__unraisablehook__(unraisable)


def _memory_limit() -> str:
    """The address-space limit the workers had (``ulimit -v``), if any, for the line of one that
    ran out of memory."""
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return ""
    return f" (its address space was limited to {limit // 1024:,} KiB: ulimit -v)"


def _allocation_failed(signum: int) -> str:
    """Out of memory, said of a worker a signal killed under an address-space limit: below about 55 MB, an
    allocation fails where no handler is (CPython's own, aborting; a C extension's, a segmentation fault), and
    the worker was said "killed by SIGSEGV" (ulimit -v 52000, -t1 -c5000), with no word of the limit."""
    limit = _memory_limit()
    if not limit or signum not in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
        return ""
    return f", most likely out of memory{limit}"


def _watch_hooks(spec: WorkerSpec, slot: _Slot, control: Connection) -> HookWatch | None:
    """A watch on the script's hooks (none without a script), started: a stop asked is a
    message waiting on the control socket, which the blocked loop cannot read."""
    if spec.script is None:
        return None
    waiting = select.poll()
    waiting.register(control.fileno(), select.POLLIN)
    watch = HookWatch(spec.script.path, spec.script.timeout_s, slot.silent_for, lambda: bool(waiting.poll(0)))
    slot.beat()
    watch.start()
    return watch


def load_spec_script(spec: WorkerSpec) -> WorkerScript | None:
    """The worker's script, loaded from the text in its spec, with its request checked: before
    the run starts, so that a broken script stops it with one line (a SetupError)."""
    script = spec.script
    if script is None:
        return None
    addr = script.thread_addr or spec.address
    protocol = protocol_named(spec.protocol)
    loaded = load_worker_script(
        script.path,
        script.source,
        script.args,
        parse_url(script.url),
        spec.index,
        addr,
        script.thread_globals,
        script.method,
        script.headers,
        script.body,
        protocol.text_refused,
    )
    first = loaded.first_request
    try:
        protocol.check(first)
    except SetupError as exc:  # wrk's words for the bytes; which file and hook made them
        hook = loaded.module.__dict__.get("request")
        made_by = "request() returned" if hook is not None else "its wrk fields make"
        raise ScriptError(f"{hook_place(script.path, hook)}: {made_by} an invalid request: {exc}") from None
    return loaded


def _post_second(slot: _Slot, pulse: Pulse, worker: Worker) -> None:
    """A second closed in a watched run: on the board first, then on the live channel, so that a
    worker that dies has counted on the board at least what the views have of it."""
    slot.post(worker)
    pulse.post(worker)


def _failure(worker: Worker) -> str | None:
    """What went wrong in the worker's loop, if anything, as the rest of its line."""
    if worker.failure is not None:
        return f"failed: {worker.failure}"
    if worker.script is not None and worker.script.stuck is not None:
        return f"was stuck and interrupted: {worker.script.stuck}"
    return None


def child_main(control_fd: int, board_fd: int, live_fd: int | None = None) -> int:
    """A worker process from start to end; its exit code. ``live_fd``: a channel to post each
    second on while the run is watched (:mod:`loadgen.live.pulse`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.unraisablehook = _unraisable
    outlive_closed_output()  # forked by the fork server too, not only by the command, which did it
    warnings.showwarning = record  # sent home (the command's recording, inherited by a fork, was never shown)
    open_file_limit()  # its connections are its open files: take the hard limit
    control = Connection(control_fd)
    try:
        spec: WorkerSpec = control.recv()
        slot = _Slot(board_fd, spec.index)
        watch = _watch_hooks(spec, slot, control)
        try:
            script = load_spec_script(spec)
        except SetupError as exc:
            _tell(control, ("error", str(exc), exc.wrk_message, taken()))
            return 1
        if watch is not None and script is not None:
            watch.hook_time = script.hook_time
        pulse = None
        if live_fd is not None:  # a watched run (whatever forked this worker imported the module already)
            from .pulse import Pulse

            pulse = Pulse(live_fd)
        if not _tell(control, ("ready", script.printed if script is not None else ("", ""), taken())):
            return 0

        workers: list[Worker] = []
        unheard: list[str] = []  # why it stopped by itself, if it did

        def wire(worker: Worker) -> None:
            """Wait to be released with the event loop and the worker made, so that it starts at once."""
            _, ends_at = control.recv()  # ("go", ends_at)
            slot.beat()  # the loop's own beats start 100 ms after it does
            workers.append(worker)

            def on_control() -> None:
                try:
                    told = control.recv()  # "stop", or "late" (past the parent's deadline), the only ones after "go"
                except (EOFError, OSError):  # the parent is gone
                    told = "stop"
                worker.late() if told == "late" else worker.stop()

            worker.loop.add_reader(control.fileno(), on_control)
            handler = worker.loop.get_exception_handler()
            assert handler is not None  # the worker's own
            worker.loop.set_exception_handler(partial(_loop_error, handler))
            if spec.script is None:  # a script's objects are collected from the start
                gc.disable()
                worker.on_tick = _collecting_once_connected(slot)
            else:
                worker.on_tick = slot.post
            worker.ends_at = ends_at
            worker.on_opened = partial(_tell_end, control, "opened")
            worker.on_held = partial(_tell_end, control, "held")
            if pulse is not None:
                worker.on_second = partial(_post_second, slot, pulse)
            if spec.stop_unheard_s is not None:
                _stop_when_unheard(worker, slot, spec.stop_unheard_s, unheard)

        def loop_stopped() -> None:
            slot.post(workers[0])  # its final counts, for the progress line's last
            slot.finishing()  # the parent no longer takes the worker's silence for a stuck loop
            if watch is not None:
                watch.loop_stopped()
            if pulse is not None:
                pulse.post_last(workers[0])

        measurement = run_worker(spec, until=wire, script=script, stopped=loop_stopped)
        if watch is not None:
            watch.stop()
        os.set_blocking(control.fileno(), True)  # the loop made it non-blocking; a result must go whole
        sys.stdout.flush()
        _tell(control, ("result", measurement, _failure(workers[0]) or next(iter(unheard), None), taken()))
        return 0
    except (EOFError, OSError):
        return 0  # the parent went away: nothing to report to
    except BaseException as exc:  # noqa: BLE001 - a bug must reach the user as one line, not a traceback
        if isinstance(exc, MemoryError):
            out_of_memory()
        _tell(control, ("crash", _describe(exc), taken()))
        return 1


class WorkerProcess:
    """The parent's handle on one worker process."""

    def __init__(
        self, spec: WorkerSpec, server: Forker, board: ProgressBoard, live: socket.socket | None = None
    ) -> None:
        self.index = spec.index
        self.runs_script = spec.script is not None  # only a script's hook can block the loop
        self.server = server
        ours, theirs = socket.socketpair()
        try:
            self.pid = server.fork([theirs.fileno(), board.fileno(), *([live.fileno()] if live else [])])
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.control = Connection(ours.detach())
        self.exit_code: int | None = None
        self.send(spec)

    def send(self, message: object) -> None:
        try:
            self.control.send(message)
        except OSError:
            pass  # it exited; its exit status tells why

    def receive(self) -> tuple[Any, ...] | None:
        """The worker's next message, or None when it is gone."""
        try:
            message: tuple[Any, ...] = self.control.recv()
        except (EOFError, OSError):
            return None
        return message

    def kill(self) -> None:
        if self.exit_code is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def held_stopped(self) -> bool:
        """Stopped by a signal (SIGSTOP) or a debugger, as Linux's /proc says: a loop that does not
        run at all, which a script's hook is not blocking (said to be one: "a script hook that never
        returns?")."""
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as stat:
                state = stat.read().rpartition(b")")[2].split()[:1]
        except OSError:
            return False
        return state in ([b"T"], [b"t"])

    def reap(self) -> int | None:
        """Wait for the process to end (kill it first if needed); its exit code."""
        if self.exit_code is None:
            self.exit_code = self.server.wait(self.pid)
        return self.exit_code

    def describe_exit(self) -> str:
        """How the process ended, for a one-line message."""
        code = self.reap()
        if code is None:
            return "was lost with the worker process server"
        if code < 0:
            return f"was killed by {signal_name(-code)}{_allocation_failed(-code)}"
        if code == OUT_OF_MEMORY:
            return f"ran out of memory{_memory_limit()}"
        return f"exited with code {code}"

    def close(self, *, kill: bool = True) -> None:
        """Reap the process (killing it first unless it delivered and is exiting by itself)."""
        if kill:
            self.kill()
        self.reap()
        self.control.close()
