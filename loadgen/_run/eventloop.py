"""A worker's event loop: uvloop when it is installed, else asyncio's own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from time import perf_counter_ns

try:  # imported here, not per worker: a worker forked from a process that has it costs no import
    import uvloop
except ImportError:
    uvloop = None  # type: ignore[assignment]

__all__ = ["call_on_time", "new_event_loop"]


def new_event_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    """uvloop when it is installed, else asyncio's default loop; and which one it is."""
    if uvloop is None:
        return asyncio.new_event_loop(), "asyncio"
    return uvloop.new_event_loop(), "uvloop"


def call_on_time(loop: asyncio.AbstractEventLoop, due_ns: int, action: Callable[[], None]) -> None:
    """Call ``action`` once the precise clock (perf_counter_ns) has reached ``due_ns``: the loop's
    timers may fire up to a millisecond early (uvloop's count whole milliseconds from a cached
    time), and a window that began early would be longer than -d, its timeline a second and a sliver."""
    loop.call_later(max(0.0, (due_ns - perf_counter_ns()) / 1e9), _when_due, loop, due_ns, action)


def _when_due(loop: asyncio.AbstractEventLoop, due_ns: int, action: Callable[[], None]) -> None:
    remaining = (due_ns - perf_counter_ns()) / 1e9
    if remaining > 0:  # early: again, just past it
        loop.call_later(remaining + 0.0005, _when_due, loop, due_ns, action)
    else:
        action()
