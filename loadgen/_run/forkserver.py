"""How worker processes are started: forked from a process that has imported the engine already.

The command line forks its workers itself (:class:`DirectFork`): it is single-threaded and has
imported the engine by then, so a worker costs one ``fork``. Anything else (the API, called from
a program that may have threads, where ``fork`` is unsafe) uses a fork server (:class:`ForkServer`):
one fresh interpreter imports the engine once, then forks every worker: of one run, or of every
run given the same :class:`loadgen.Workers`.

Twenty fresh interpreters that each import asyncio, ssl and uvloop cost seconds of CPU; a fork
of a process that already holds them costs a millisecond. The server is started with
``subprocess`` (never ``fork`` from the caller, which may have threads), in its own process
group, so a terminal's Ctrl-C reaches only loadgen's parent, which decides when to stop. On
Linux the server dies with its parent and the workers die with the server
(``PR_SET_PDEATHSIG``): nothing outlives loadgen, even a worker stuck in a script.

Protocol, one pickled message per SOCK_SEQPACKET packet, descriptors passed alongside:

* server -> parent, once: ``("ready",)``
* parent -> server: ``("fork",)`` with the child's descriptors -> ``("forked", pid)``, or
  ``("unforked", errno)`` when the kernel refused the fork (a process limit: ``ulimit -u``)
* parent -> server: ``("wait", pid)`` -> ``("exited", returncode)`` (negative: killed by a signal)
"""

from __future__ import annotations

import ctypes
import gc
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

__all__ = ["DirectFork", "ForkServer", "ForkServerError", "Forker", "signal_name"]

PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
# Where this loadgen lives goes at the end of the server's path: found if nothing else provides
# it (a checkout the caller put on sys.path), never shadowing the standard library.
_BOOTSTRAP = """\
import pickle, socket, sys
sys.path.append({path!r})
try:
    from loadgen._run.forkserver import serve
    from {module} import {function} as main
except BaseException as exc:
    socket.send_fds(socket.socket(fileno={fd}), [pickle.dumps(("error", f"{{type(exc).__name__}}: {{exc}}"))], [])
    sys.exit(1)
serve({fd}, main)
"""
PR_SET_PDEATHSIG = 1
MAX_MESSAGE = 64 * 1024
MAX_FDS = 4


def signal_name(signum: int) -> str:
    """A signal's name for a line saying it killed a process: a real-time one has no name of Python's
    (``kill -40`` on a worker ended the run with a ValueError's traceback, the report's last lines lost)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class ForkServerError(Exception):
    """The fork server could not start, or went away."""


class Forker(Protocol):
    """What the engine needs to start and reap workers: a fork server, or a direct fork."""

    def ready(self) -> None: ...

    def fork(self, fds: list[int]) -> int: ...

    def wait(self, pid: int) -> int | None: ...

    def close(self) -> None: ...


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent exits (Linux); then check the parent
    did not exit already, before the request was made."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if parent == 1:
        os._exit(1)


def _send(sock: socket.socket, message: tuple[Any, ...], fds: list[int] | None = None) -> None:
    socket.send_fds(sock, [pickle.dumps(message)], fds or [])


def _receive(sock: socket.socket) -> tuple[tuple[Any, ...], list[int]]:
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
    if not data:
        raise EOFError
    return pickle.loads(data), fds


def serve(fd: int, child_main: Callable[..., int]) -> None:
    """The server's main loop, with the engine already imported (the bootstrap imported
    ``child_main``'s module): fork on request until the parent leaves. A child runs
    ``child_main(*fds)`` and exits with what it returns."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    server_pid = os.getpid()
    _send(sock, ("ready",))
    while True:
        try:
            message, fds = _receive(sock)
        except (EOFError, OSError):
            os._exit(0)  # the parent is gone
        if message[0] == "fork":
            _send(sock, _fork(sock, server_pid, child_main, fds))
        elif message[0] == "wait":
            _, status = os.waitpid(message[1], 0)
            _send(sock, ("exited", os.waitstatus_to_exitcode(status)))


def _fork(sock: socket.socket, server_pid: int, child_main: Callable[..., int], fds: list[int]) -> tuple[Any, ...]:
    """Fork a child that runs ``child_main(*fds)``: the answer to the parent, ``("unforked", errno)`` when the
    kernel refused (under ``ulimit -u``, the OSError was this server's traceback on loadgen's stderr, and its end)."""
    try:
        pid = os.fork()
    except OSError as exc:
        answer: tuple[Any, ...] = ("unforked", exc.errno)
    else:
        if pid == 0:
            sock.close()
            _run_child(server_pid, child_main, fds)
        answer = ("forked", pid)
    for child_fd in fds:
        os.close(child_fd)
    return answer


def _run_child(parent_pid: int, child_main: Callable[..., int], fds: list[int]) -> None:
    """In a forked child: never return into the forking process's code, whatever happens.

    What the forking process made (its imports: some 29,000 objects) is frozen out of this
    process's garbage collections (``gc.freeze``, which moves the lists, not the objects): a
    full collection would otherwise visit each of them, writing to the pages the child shares
    with its parent, which the kernel then copies; the worker's own objects (its connections)
    are collected as before."""
    gc.freeze()
    code = 1
    try:
        die_with_parent()
        if os.getppid() == parent_pid:
            code = child_main(*fds)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


class ForkServer:
    """The parent's handle on the fork server; :meth:`close` stops it (and with it, on Linux,
    any worker still running). ``child_main`` names what a child runs, ``"module:function"``.

    One handle may serve several runs, one after another or at once from several threads
    (:class:`loadgen.Workers`): each request and its answer are one exchange, under a lock. An
    exchange cut short (Ctrl-C between a request and its answer, the server gone) leaves an
    answer unread or none to come: the handle is then no longer :attr:`usable`."""

    def __init__(self, child_main: str) -> None:
        module, function = child_main.split(":")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        bootstrap = _BOOTSTRAP.format(path=PACKAGE_PARENT, module=module, function=function, fd=theirs.fileno())
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", bootstrap],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                process_group=0,
            )
        except OSError as exc:
            ours.close()
            raise ForkServerError(f"cannot start the worker processes: {exc.strerror or exc}") from None
        finally:
            theirs.close()
        self.sock = ours
        self.lock = threading.Lock()
        self.started = False  # its "ready" was read
        self.broken = False  # an exchange was cut short

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def usable(self) -> bool:
        """Running, and every exchange so far completed: the next one reads its own answer."""
        return not self.broken and self.process.poll() is None

    def fileno(self) -> int:
        return self.sock.fileno()

    def ready(self) -> None:
        """Wait for the server's first message (it imports the engine first); at once after that."""
        with self._exchange():
            if not self.started:
                self._expect("ready")
                self.started = True

    def fork(self, fds: list[int]) -> int:
        """Start a worker with ``fds`` (see :func:`loadgen._run.workerproc.child_main`); its pid. OSError
        when the kernel refused the fork, as :class:`DirectFork`'s, the server still usable."""
        with self._exchange():
            self._request(("fork",), fds)
            answer = self._expect("forked", "unforked")
        if answer[0] == "unforked":
            raise OSError(answer[1], os.strerror(answer[1]))
        return int(answer[1])

    def wait(self, pid: int) -> int | None:
        """The exit code of a worker that exited or was killed; None if the server is gone."""
        try:
            with self._exchange():
                self._request(("wait", pid))
                return int(self._expect("exited")[1])
        except ForkServerError:
            return None

    def close(self) -> None:
        """Stop the server (harmless twice)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.sock.close()

    @contextmanager
    def _exchange(self) -> Iterator[None]:
        with self.lock:
            if self.broken:
                raise ForkServerError("the worker process server was left in the middle of an exchange")
            try:
                yield
            except BaseException:
                self.broken = True
                raise

    def _request(self, message: tuple[Any, ...], fds: list[int] | None = None) -> None:
        try:
            _send(self.sock, message, fds)
        except OSError:
            raise ForkServerError(f"the worker process server {self._exit()}") from None

    def _expect(self, *kinds: str) -> tuple[Any, ...]:
        try:
            message, _ = _receive(self.sock)
        except (EOFError, OSError):
            raise ForkServerError(f"the worker process server {self._exit()}") from None
        if message[0] == "error":
            raise ForkServerError(f"the worker process server failed to start: {message[1]}")
        if message[0] not in kinds:
            expected = " or ".join(map(repr, kinds))
            raise ForkServerError(f"the worker process server answered {message[0]!r}, not {expected}")
        return message

    def _exit(self) -> str:
        try:
            code = self.process.wait(2)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        return f"was killed by {signal_name(-code)}" if code < 0 else f"exited with code {code}"


class DirectFork:
    """Workers forked from this very process. Only for a single-threaded process that has imported
    ``child_main``'s engine (the command line): it saves the fork server's interpreter, about 0.15 s
    of CPU. Each worker gets its own process group (a terminal's Ctrl-C reaches only the parent),
    only its own descriptors, the default SIGTERM and SIGHUP (SIGHUP ignored when the parent
    ignores it, under ``nohup``), and dies with the parent (Linux)."""

    def __init__(self, child_main: Callable[..., int]) -> None:
        self.child_main = child_main

    def ready(self) -> None:
        """Nothing to wait for: the engine is imported."""

    def fork(self, fds: list[int]) -> int:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # or the child would write the parent's buffered output a second time
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                os.setpgid(0, 0)
                for signum in (signal.SIGTERM, signal.SIGHUP):
                    if signal.getsignal(signum) is not signal.SIG_IGN:
                        signal.signal(signum, signal.SIG_DFL)
                _close_all_but(fds)
            finally:
                _run_child(parent, self.child_main, fds)
        try:
            os.setpgid(pid, pid)  # as the child does: whichever runs first, no Ctrl-C falls between
        except OSError:
            pass  # it did so already and exec'd or exited
        return pid

    def wait(self, pid: int) -> int | None:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return None
        return os.waitstatus_to_exitcode(status)

    def close(self) -> None:
        """Nothing to stop: each worker is reaped by its handle."""


def _close_all_but(fds: list[int]) -> None:
    """In a child: close every descriptor but stdio and ``fds`` (the parent's sockets to other
    workers among them), as a fork server's child would have."""
    keep = sorted({0, 1, 2, *fds})
    for low, high in zip(keep, [*keep[1:], os.sysconf("SC_OPEN_MAX")], strict=True):
        os.closerange(low + 1, high)
