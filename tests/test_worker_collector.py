"""A forked worker without a script opens its connections with the garbage collector off, and turns
it back on at the first 100 ms tick after its last connect ended, with what the connect phase made
(the connections, which live the whole run) frozen out of its collections."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from loadgen._run.workerproc import ProgressBoard, _Slot, _tick_collecting_once_connected


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """This test process's collector as it was, whatever the test froze or turned off."""
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()


def test_the_collector_comes_back_once_no_connect_is_pending(collector_restored: None) -> None:
    board = ProgressBoard(1)
    slot = _Slot(os.dup(board.fileno()), 0)
    tally = SimpleNamespace(requests=7, error_reasons={}, timeouts=0)
    worker = SimpleNamespace(tally=tally, pool=SimpleNamespace(connecting={"a connect"}), on_tick=None)
    gc.disable()
    frozen = gc.get_freeze_count()
    _tick_collecting_once_connected(slot, worker)  # type: ignore[arg-type]
    assert not gc.isenabled() and gc.get_freeze_count() == frozen and worker.on_tick is None  # still connecting
    assert board.totals() == (7, 0)  # the board is posted all the same
    worker.pool.connecting.clear()
    _tick_collecting_once_connected(slot, worker)  # type: ignore[arg-type]
    assert gc.isenabled() and gc.get_freeze_count() > frozen  # on, with what was made until now frozen
    assert worker.on_tick == slot.post  # the plain tick from now on
    slot.slots.release()
    slot.map.close()
    board.close()
