"""A forked worker without a script opens its connections with the garbage collector off, and turns
it back on at the first 100 ms tick after its last connect ended (or after a bounded number of
ticks, when connects never stop), with what the connect phase made (the connections, which live
the whole run) frozen out of its collections."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
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
