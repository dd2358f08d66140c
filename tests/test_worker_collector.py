"""A forked worker without a script opens its connections with the garbage collector off, and turns
it back on at the first 100 ms tick after its last connect ended (or after a bounded number of
ticks, when connects never stop), with what the connect phase made (the connections, which live
the whole run) frozen out of its collections."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from loadgen._run.workerproc import COLLECTOR_OFF_TICKS, ProgressBoard, _collecting_once_connected, _Slot


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """This test process's collector as it was, whatever the test froze or turned off."""
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()


def _worker(connecting: set[str]) -> SimpleNamespace:
    tally = SimpleNamespace(requests=7, error_reasons={}, timeouts=0, status_counts={200: 7})
    return SimpleNamespace(tally=tally, pool=SimpleNamespace(connecting=connecting), on_tick=None, warming=False)


@pytest.fixture
def slot() -> Iterator[_Slot]:
    board = ProgressBoard(1)
    made = _Slot(os.dup(board.fileno()), 0)
    yield made
    made.slots.release()
    made.map.close()
    board.close()


def test_the_collector_comes_back_once_no_connect_is_pending(collector_restored: None, slot: _Slot) -> None:
    worker = _worker({"a connect"})
    tick = _collecting_once_connected(slot)
    gc.disable()
    frozen = gc.get_freeze_count()
    tick(worker)  # type: ignore[arg-type]
    assert not gc.isenabled() and gc.get_freeze_count() == frozen and worker.on_tick is None  # still connecting
    worker.pool.connecting.clear()
    tick(worker)  # type: ignore[arg-type]
    assert gc.isenabled() and gc.get_freeze_count() > frozen  # on, with what was made until now frozen
    assert worker.on_tick == slot.post  # the plain tick from now on


def test_the_collector_comes_back_when_connects_never_stop(collector_restored: None, slot: _Slot) -> None:
    """A server that closes every connection keeps a connect pending all run: the collector is
    off for a bounded time only."""
    worker = _worker({"a reconnect"})
    tick = _collecting_once_connected(slot)
    gc.disable()
    for _ in range(COLLECTOR_OFF_TICKS - 1):
        tick(worker)  # type: ignore[arg-type]
    assert not gc.isenabled() and worker.on_tick is None
    tick(worker)  # type: ignore[arg-type]
    assert gc.isenabled() and worker.on_tick == slot.post


@pytest.mark.skipif(not hasattr(os, "memfd_create") or os.geteuid() != 0, reason="a tmpfs is mounted: Linux, root")
def test_a_full_temporary_directory_is_no_place_the_board_needs(tmp_path: Path) -> None:
    """The board was a temporary file whose pages its first writes took from TMPDIR's disk: on a full one (a tmpfs
    of 4 KiB, filled), loadgen died of SIGBUS before the run, exit 135, not a word (-t130 on an empty one too)."""
    full = tmp_path / "full"
    full.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(full)], capture_output=True).returncode:
        pytest.skip("no tmpfs could be mounted")
    try:
        (full / "filler").write_bytes(b"x" * 4096)
        made = f"import tempfile; tempfile.tempdir = {str(full)!r}; from loadgen._run.workerproc import ProgressBoard; "
        done = subprocess.run(
            [sys.executable, "-c", made + "ProgressBoard(2).close()"], capture_output=True, timeout=30
        )
        assert done.returncode == 0, done
    finally:
        subprocess.run(["umount", str(full)], check=True)


def test_a_file_size_limit_of_0_is_one_line() -> None:
    """``ulimit -f 0`` binds the board's memfd too: its size was refused in a traceback (OSError: File too large)."""
    import resource

    made = "from loadgen._run.workerproc import ProgressBoard; ProgressBoard(2)"
    done = subprocess.run(
        [sys.executable, "-c", f"import loadgen.errors as e\ntry:\n    {made}\nexcept e.SetupError as x: print(x)"],
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY)),
    )
    assert done.stdout == "cannot make the workers' shared counts: File too large (the file size limit, ulimit -f)\n"


def test_the_board_counts_each_workers_window_its_errors_of_every_kind_and_the_heartbeats() -> None:
    """A board as made: its workers beat then. Worker 0 in its window: 7 responses, errors 2 of a
    socket's + 1 timeout + 3 responses of status 503 (6, as the report counts them); worker 1 in its
    warm-up, which no figure counts. Then worker 0 sending its measurement (never silent), and the
    parent's own heartbeat 5 s old (its workers can tell)."""
    board = ProgressBoard(2)
    slots = [_Slot(os.dup(board.fileno()), index) for index in (0, 1)]
    try:
        # as made: not silent (seconds on a millisecond clock: a millisecond may have passed since it was made)
        assert board.silent_for(0) < 1 and board.silent_for(1) < 1 and board.totals() == (0, 0)
        measured = SimpleNamespace(requests=7, error_reasons={"reset": 2}, timeouts=1, status_counts={200: 4, 503: 3})
        warming = SimpleNamespace(requests=5, error_reasons={"reset": 1}, timeouts=0, status_counts={200: 5})
        slots[0].post(SimpleNamespace(tally=measured, warming=False))  # type: ignore[arg-type]
        slots[1].post(SimpleNamespace(tally=warming, warming=True))  # type: ignore[arg-type]
        assert (board.totals(), board.totals(without={0})) == ((7, 6), (0, 0))
        assert (board.requests(0), board.requests(1)) == (7, 0)
        slots[0].finishing()
        assert (board.finishing(0), board.finishing(1), board.silent_for(0)) == (True, False, 0.0)
        assert slots[1].parent_silent_for() < 1
        board.slots[-1] -= 5_000
        assert slots[1].parent_silent_for() >= 5 > slots[1].silent_for()
    finally:
        for slot in slots:
            slot.slots.release()
            slot.map.close()
        board.close()
