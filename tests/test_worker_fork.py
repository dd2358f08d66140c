"""A worker forked from loadgen's process leaves what that process made out of its garbage
collections (``gc.freeze``): a full collection in the worker would visit every inherited object,
and the kernel would copy every page it wrote to."""

from __future__ import annotations

import gc
import os
import signal

import pytest

from loadgen._run.forkserver import DirectFork, ForkServer, ForkServerError


def _report_frozen(fd: int) -> int:
    """A worker's entry point that writes how many objects its collections leave out."""
    os.write(fd, str(gc.get_freeze_count()).encode())
    return 0


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
