"""How workers are forked (loadgen._run.forkserver). A worker forked from loadgen's process leaves what
that process made out of its garbage collections (``gc.freeze``): a full collection in the worker would
visit every inherited object, and the kernel would copy every page it wrote to. What a worker holds, and
how the fork server's failures and its exchanges cut short are said."""

from __future__ import annotations

import ast
import errno
import gc
import os
import resource
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from loadgen._run.forkserver import DirectFork, ForkServer, ForkServerError


def _report_frozen(fd: int) -> int:
    """A worker's entry point that writes how many objects its collections leave out."""
    os.write(fd, str(gc.get_freeze_count()).encode())
    return 0


def _report_what_it_holds(fd: int) -> int:
    """A worker's entry point that writes its open descriptors, whether it leads its own process
    group, and its SIGTERM and SIGHUP dispositions."""
    held = []
    for name in os.listdir("/proc/self/fd"):
        try:
            os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the listing's own descriptor, closed since
        held.append(int(name))
    term, hup = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    state = (sorted(held), os.getpgid(0) == os.getpid(), term == signal.SIG_DFL, hup == signal.SIG_IGN)
    os.write(fd, repr(state).encode())
    return 0


def _exit_when_told(fd: int) -> int:
    """A worker's entry point that exits, with code 7, once a byte comes on ``fd`` (or its end closes)."""
    os.read(fd, 1)
    return 7


@contextmanager
def _forks_refused(pid: int) -> Iterator[None]:
    """The kernel refuses process ``pid`` every fork: its process limit (``ulimit -u``) at 0; for root, whom
    that limit spares, a pids cgroup (v1) of its own that holds it alone."""
    if os.geteuid() != 0:
        limits = resource.prlimit(pid, resource.RLIMIT_NPROC)
        resource.prlimit(pid, resource.RLIMIT_NPROC, (0, limits[1]))
        try:
            yield
        finally:
            resource.prlimit(pid, resource.RLIMIT_NPROC, limits)
        return
    pids = Path("/sys/fs/cgroup/pids")
    if not os.access(pids, os.W_OK):
        pytest.skip("root, and no pids cgroup to hold the fork server in")
    group = pids / f"loadgen-test-{os.getpid()}"
    group.mkdir()
    try:
        (group / "pids.max").write_text("1")
        (group / "cgroup.procs").write_text(str(pid))
        try:
            yield
        finally:
            with suppress(ProcessLookupError):  # it died
                (pids / "cgroup.procs").write_text(str(pid))
    finally:
        group.rmdir()


class Cut(Exception):
    """What the test's timer raises in the middle of an exchange with the fork server."""


def _cut(*_: object) -> None:
    raise Cut


def test_a_forked_worker_leaves_the_inherited_objects_out_of_its_collections() -> None:
    inherited = len(gc.get_objects())
    readable, writable = os.pipe()
    forker = DirectFork(_report_frozen)
    try:
        pid = forker.fork([writable])
    finally:
        os.close(writable)
    with os.fdopen(readable, "rb") as reading:
        frozen = int(reading.read())
    assert forker.wait(pid) == 0
    assert frozen >= inherited // 2  # all that this process tracked when it forked (give or take its own churn)


def test_a_fork_server_killed_by_a_signal_python_has_no_name_for_is_said_by_its_number() -> None:
    """A real-time signal (``kill -40``) has no name in Python's ``signal.Signals``: the line that
    says how the server ended was a ValueError's traceback (the workers' too: test_worker_death)."""
    server = ForkServer("os:getpid")
    try:
        server.process.send_signal(signal.SIGRTMIN + 6)
        with pytest.raises(ForkServerError) as raised:
            server.ready()
    finally:
        server.close()
    assert str(raised.value) == f"the worker process server was killed by signal {signal.SIGRTMIN + 6}"


def test_a_directly_forked_worker_holds_only_its_descriptors_in_its_own_group_with_the_default_sigterm() -> None:
    """As DirectFork promises, as a fork server's child has it: a Ctrl-C of the terminal reaches only the
    parent, a SIGTERM kills the worker (said "was killed by SIGTERM"), not the parent's handler that would
    stop it quietly, a SIGHUP the parent ignores (nohup) stays ignored, and no descriptor of the parent
    (its sockets to the other workers) stays open in it."""
    readable, writable = os.pipe()
    term = signal.signal(signal.SIGTERM, lambda *_: None)
    hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    forker = DirectFork(_report_what_it_holds)
    try:
        pid = forker.fork([writable])
    finally:
        signal.signal(signal.SIGTERM, term)
        signal.signal(signal.SIGHUP, hup)
        os.close(writable)
    with os.fdopen(readable, "rb") as reading:
        held, leads_its_group, default_term, ignored_hup = ast.literal_eval(reading.read().decode())
    assert forker.wait(pid) == 0
    assert set(held) - {0, 1, 2} == {writable}
    assert (leads_its_group, default_term, ignored_hup) == (True, True, True)


def test_a_fork_server_that_cannot_import_what_its_workers_run_says_why() -> None:
    server = ForkServer("loadgen.no_such_module:main")
    try:
        with pytest.raises(ForkServerError) as raised:
            server.ready()
    finally:
        server.close()
    why = "ModuleNotFoundError: No module named 'loadgen.no_such_module'"
    assert str(raised.value) == f"the worker process server failed to start: {why}"


def test_a_fork_server_that_cannot_be_started_says_why_in_one_phrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    with pytest.raises(ForkServerError) as raised:
        ForkServer("os:getpid")
    assert str(raised.value) == "cannot start the worker processes: No such file or directory"


def test_an_exchange_cut_short_never_gives_its_answer_to_the_next_one() -> None:
    """A Ctrl-C while the parent waits for a worker's exit leaves that answer unread: the next wait, for
    another worker, must not read it (that worker would be said to have exited with the first one's code)."""
    server = ForkServer("tests.test_worker_fork:_exit_when_told")
    held, told = os.pipe()
    at_once, closed = os.pipe()
    os.close(closed)
    previous = signal.signal(signal.SIGALRM, _cut)
    try:
        server.ready()
        waiting, exiting = server.fork([held]), server.fork([at_once])
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Cut):
            server.wait(waiting)  # the server waits for it, which waits for the test
        os.write(told, b"x")  # it exits 7 now, and the server's answer comes, never read
        assert server.wait(exiting) is None
        assert not server.usable
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        server.close()
        for fd in (held, told, at_once):
            os.close(fd)


def test_a_fork_the_kernel_refuses_is_said_in_words_and_the_server_forks_the_next_it_may(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Under a process limit (``ulimit -u``) the server's fork raised: its traceback came on loadgen's stderr, the
    server was gone, and loadgen.run() said "unable to create thread 2: the worker process server exited with code
    1". The refusal is said as the command's own fork says it, and the server forks again once it may."""
    server = ForkServer("os:getpid")
    try:
        server.ready()
        with _forks_refused(server.pid), pytest.raises(OSError) as raised:
            server.fork([])
        assert (raised.value.errno, raised.value.strerror) == (errno.EAGAIN, os.strerror(errno.EAGAIN))
        assert server.usable
        assert server.wait(server.fork([])) is not None
    finally:
        server.close()
    assert capfd.readouterr().err == ""
