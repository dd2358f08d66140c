"""A worker's event loop (uvloop when it is installed, else asyncio's own) and its clock: the
timers that must run on time however busy the loop is (its end, its seconds, its Req/Sec samples,
its --stages-connections checks, an HTTP/2 connection's give-up after a GOAWAY)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import signal
import threading
import types
from collections.abc import Callable
from functools import partial
from time import perf_counter_ns

try:  # imported here, not per worker: a worker forked from a process that has it costs no import
    import uvloop
except ImportError:
    uvloop = None  # type: ignore[assignment]

__all__ = ["Clock", "Timer", "call_on_time", "new_event_loop"]

# libuv takes at most 1,024 events from each epoll_wait: a worker with fewer connections than this
# (and its few other descriptors) never fills one, and its loop's own timers are on time
TICKING_FROM = 1000
TICK_S = 0.01  # a ticking worker's CPU time between two ticks


def new_event_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    """uvloop when it is installed, else asyncio's default loop; and which one it is."""
    if uvloop is None:
        return asyncio.new_event_loop(), "asyncio"
    return uvloop.new_event_loop(), "uvloop"


class Timer:
    """A timer of a :class:`Clock`: run once, by the loop's own timer or by a tick, whichever comes first."""

    __slots__ = ("action", "done", "handle")

    def __init__(self, action: Callable[[], object]) -> None:
        self.action = action
        self.done = False
        self.handle: asyncio.TimerHandle | None = None

    def run(self) -> None:
        if not self.done:
            self.cancel()
            self.action()

    def cancel(self) -> None:
        self.done = True
        if self.handle is not None:
            self.handle.cancel()


class Clock:
    """A worker's timers, run on time while its sockets keep its loop busy.

    uvloop runs its timers between polls, and one poll (libuv's) goes on without a look at them for as
    long as each epoll_wait fills its 1,024 events, 48 times at most: a worker with more connections than
    that, all answered at once by a fast server, reads 49,152 responses between two looks at its timers
    (0.8 s at 60,000 a second; on a starved core, seconds: at -t2 -c16000 on two cores a worker counted the
    responses of its first 2.6 s in its first second, none in the next, and stopped 0.6 s past its end).
    Such a worker ticks too: every 10 ms of its CPU time (SIGPROF: a worker waiting for its sockets uses
    none) the signal's handler writes a byte to a pipe the loop polls with the sockets, and its reader runs
    the timers due by then, as the loop would have: late by the tick and by the sockets ready before the
    pipe (one response each, about the run's latency). A thread would tick on the wall clock, but one asleep
    made each callback of a busy uvloop 7-10% dearer (measured). Fewer connections: the loop's timers alone.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: int) -> None:
        self.loop = loop
        self._due: list[tuple[int, int, Timer]] = []  # a ticking clock's timers: when due, in order
        self._order = itertools.count()
        self._pipe: tuple[int, int] | None = None  # a ticking clock's: read by the loop, written by the signal
        self._before: signal.Handlers | Callable[..., object] | int | None = None  # the handler it replaced
        self._ticking = connections >= TICKING_FROM and threading.current_thread() is threading.main_thread()

    def start(self) -> None:
        """Tick from now on, if it ticks at all: not from its construction, so that a worker whose
        setting-up fails leaves the process's SIGPROF as it found it."""
        if self._ticking and self._pipe is None:
            self._pipe = os.pipe()
            for fd in self._pipe:
                os.set_blocking(fd, False)
            self.loop.add_reader(self._pipe[0], self._tick)
            self._before = signal.signal(signal.SIGPROF, self._signalled)
            signal.setitimer(signal.ITIMER_PROF, TICK_S, TICK_S)

    def call_later(self, delay_s: float, callback: Callable[..., object], *args: object) -> Timer:
        """The loop's ``call_later``; a ticking clock runs it at a tick if the loop has not by then."""
        timer = Timer(partial(callback, *args))
        timer.handle = self.loop.call_later(delay_s, timer.run)
        if self._pipe is not None:
            due = self._due
            while due and due[0][2].done:  # run by the loop meanwhile (a worker that waits does not tick)
                heapq.heappop(due)
            heapq.heappush(due, (perf_counter_ns() + int(delay_s * 1e9), next(self._order), timer))
        return timer

    def stop(self) -> None:
        """The run is over: no more ticks (the signal's handler as it was before, the pipe closed)."""
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, self._before if self._before is not None else signal.SIG_DFL)
            self.loop.remove_reader(pipe[0])
            for fd in pipe:
                os.close(fd)

    def _signalled(self, _signum: int, _frame: types.FrameType | None) -> None:
        """The signal's handler, which Python runs between any two steps of the loop's code: it only writes."""
        pipe = self._pipe
        if pipe is not None:
            with contextlib.suppress(OSError):  # the pipe is full: a tick is waiting already
                os.write(pipe[1], b"\0")

    def _tick(self) -> None:
        """The pipe's reader, among the loop's sockets: the timers due by now, in order."""
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                os.read(self._pipe[0], 4096)
        now, due = perf_counter_ns(), self._due
        while due and due[0][0] <= now:
            heapq.heappop(due)[2].run()


def call_on_time(clock: Clock, due_ns: int, action: Callable[[], None]) -> None:
    """Call ``action`` once the precise clock (perf_counter_ns) has reached ``due_ns``: the loop's
    timers may fire up to a millisecond early (uvloop's count whole milliseconds from a cached
    time), and a window that began early would be longer than -d, its timeline a second and a sliver."""
    clock.call_later(max(0.0, (due_ns - perf_counter_ns()) / 1e9), _when_due, clock, due_ns, action)


def _when_due(clock: Clock, due_ns: int, action: Callable[[], None]) -> None:
    remaining = (due_ns - perf_counter_ns()) / 1e9
    if remaining > 0:  # early: again, just past it
        clock.call_later(remaining + 0.0005, _when_due, clock, due_ns, action)
    else:
        action()
