"""Worker processes: the child's entry point and the parent's handle on one child.

Each worker is a fresh interpreter running :func:`child_main`, talking to the parent over a socket pair with
pickled messages, so its stdout and stderr stay free for a script's prints. The child ignores
Ctrl-C (the parent decides when to stop) and stops by itself if the parent goes away.

Parent -> child: the WorkerSpec, then "go" (or "stop" before go), then possibly "stop".
Child -> parent: ("ready", loop) or ("error", message); ("progress", ...); ("result", WorkerResult).
"""

from __future__ import annotations

import resource
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

from .errors import SetupError
from .spec import WorkerSpec
from .target import parse_url

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
# Where this loadgen lives goes at the end of the worker's path: found if nothing else provides
# it (a checkout the caller put on sys.path), never shadowing the standard library.
_BOOTSTRAP = ("import sys; sys.path.append({path!r}); "
              "from loadgen.workerproc import child_main; sys.exit(child_main({fd}))")


def raise_open_file_limit() -> None:
    """Thousands of connections need thousands of descriptors: take the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _load_script(spec: WorkerSpec):
    from .script import load_worker_script

    script = spec.script
    addr = script.thread_addr or spec.address
    return load_worker_script(script.path, script.args, parse_url(script.url), spec.index, addr,
                              script.thread_globals, script.method, script.headers, script.body)


def child_main(fd: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_open_file_limit()
    from .worker import run_worker

    control = Connection(fd)
    spec: WorkerSpec = control.recv()
    try:
        script = _load_script(spec) if spec.script is not None else None
        if script is not None:
            script.request_batch  # verify the request now, so the run fails before it starts
    except SetupError as exc:
        control.send(("error", str(exc)))
        return 1
    control.send(("ready", None))
    if control.recv() != "go":
        return 0

    def wire(worker) -> None:
        def on_control() -> None:
            try:
                message = control.recv()
            except (EOFError, OSError):  # the parent is gone
                message = "stop"
            if message == "stop":
                worker.stop()

        worker.loop.add_reader(control.fileno(), on_control)
        worker.on_progress = lambda w: control.send(("progress", spec.index, w.complete, sum(w.errors.values()) + w.timeouts))

    try:
        result = run_worker(spec, until=wire, script=script)
    except SetupError as exc:
        control.send(("error", str(exc)))
        return 1
    sys.stdout.flush()
    control.send(("result", result))
    return 0


class WorkerProcess:
    """The parent's handle on one worker process."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.index = spec.index
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP.format(path=PACKAGE_PARENT, fd=theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, process_group=0,
            )
        finally:
            theirs.close()
        self.control = Connection(ours.detach())
        self.control.send(spec)

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: object) -> None:
        try:
            self.control.send(message)
        except OSError:
            pass  # it exited; its exit status tells why

    def describe_exit(self) -> str:
        """How the process ended, for a one-line message."""
        code = self.process.wait(5)
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.control.close()
