"""Tests that run with no other beside them when the suite runs on several processes (pytest-xdist's ``-n``).

The suite runs two tests at a time (README's test command): most wait on servers, clocks and processes, and two
cores carry two of them. A test that judges the machine itself (a client- or server-bound verdict, a rate held, a
statistical comparison of two runs, CPU pinning, the interference flag) is marked ``alone``: it takes the turn
for itself, as the suite's only test, and the other process waits between its own tests. A fair turn: once an
``alone`` test asks, no other test starts before it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

TURNS = "LOADGEN_TEST_TURNS"  # the folder of the two lock files, made by the suite's first process for its workers
_MADE = pytest.StashKey[str]()  # the folder, in the process that made it


def share_turns(config: pytest.Config) -> None:
    """In the process that starts the workers: the folder their locks are in (they inherit the environment). A
    suite the tests start (tests/test_project.py's) inherits it too, and leaves it to the suite that made it."""
    workers = getattr(config.option, "numprocesses", None)  # pytest-xdist's -n, if it is installed
    if workers and not hasattr(config, "workerinput") and TURNS not in os.environ:
        os.environ[TURNS] = tempfile.mkdtemp(prefix="loadgen-test-turns-")
        config.stash[_MADE] = os.environ[TURNS]


def drop_turns(config: pytest.Config) -> None:
    if (folder := config.stash.get(_MADE, None)) is not None:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def turn(item: pytest.Item) -> Iterator[None]:
    """The test's turn: shared with the other worker's tests, or its own if it is marked ``alone``. The gate is
    taken first and let go once the turn is had, so that an ``alone`` test waiting for its turn holds the next
    tests back (without it, the other worker's tests, one after another, could keep it waiting to the end)."""
    folder = os.environ.get(TURNS)
    if folder is None or not hasattr(item.config, "workerinput"):  # one process: every test is alone
        yield
        return
    alone = item.get_closest_marker("alone") is not None
    with open(Path(folder) / "gate", "a") as gate, open(Path(folder) / "turn", "a") as lock:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
