"""A timer precise to microseconds for constant-rate sending.

Event-loop timers (asyncio's and libuv's) wake with millisecond granularity, which would add
~0.5 ms of our own lateness to every latency measured from an intended send time. On Linux a
``timerfd`` armed at an absolute CLOCK_MONOTONIC time (the clock behind ``perf_counter_ns``)
makes the loop's poll return on time instead. Elsewhere the loop's own timer is used.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_TIMER_ABSTIME = 1


class _Timerfd(Protocol):
    def create(self) -> int: ...

    def arm(self, fd: int, deadline_ns: int) -> None: ...


class _OsTimerfd:
    """``os.timerfd_*`` (Python 3.13 and later)."""

    def __init__(self) -> None:
        self._os: Any = os  # the functions are absent from older Pythons' stubs

    def create(self) -> int:
        return int(self._os.timerfd_create(time.CLOCK_MONOTONIC, flags=self._os.TFD_NONBLOCK))

    def arm(self, fd: int, deadline_ns: int) -> None:
        self._os.timerfd_settime_ns(fd, flags=self._os.TFD_TIMER_ABSTIME, initial=deadline_ns)


class _LibcTimerfd:
    """timerfd_create/timerfd_settime through ctypes, for Pythons before 3.13."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._create = libc.timerfd_create
        self._settime = libc.timerfd_settime
        self._spec = (ctypes.c_long * 4)()  # struct itimerspec, no interval: filled in at each arming
        # A pointer made once, and no argtypes (ints pass as C ints, None as NULL): ctypes then
        # converts nothing per call: a quarter of an arming's cost (benchmarks/timer_arm.py: 1,660 -> 1,249 ns),
        # paid per paced send on time
        self._spec_pointer = ctypes.byref(self._spec)

    def create(self) -> int:
        fd = int(self._create(CLOCK_MONOTONIC, TFD_NONBLOCK))
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create")
        return fd

    def arm(self, fd: int, deadline_ns: int) -> None:
        spec = self._spec
        spec[2], spec[3] = divmod(deadline_ns, 1_000_000_000)
        if self._settime(fd, TFD_TIMER_ABSTIME, self._spec_pointer, None) < 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime")


def _timerfd() -> _Timerfd | None:
    """A timerfd on the clock behind perf_counter_ns, or None where there is none."""
    if (
        not sys.platform.startswith("linux")
        or time.get_clock_info("perf_counter").implementation != "clock_gettime(CLOCK_MONOTONIC)"
    ):
        return None
    if hasattr(os, "timerfd_create"):
        return _OsTimerfd()
    try:
        return _LibcTimerfd()
    except (OSError, AttributeError):
        return None


class Pacer:
    """Calls ``callback`` at (or just after) the earliest deadline it was given since it last
    fired, in perf_counter_ns. A deadline no earlier than the one already armed arms nothing:
    the connections that go idle one after another while waiting for the same send time cost
    one system call, not one each."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self.loop = loop
        self.callback = callback
        self._timerfd = _timerfd()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_ns = 0  # the deadline armed and not yet fired, 0 for none
        self._fd = self._timerfd.create() if self._timerfd is not None else -1
        if self._fd >= 0:
            loop.add_reader(self._fd, self._expired)

    def at(self, deadline_ns: int) -> None:
        deadline_ns = max(deadline_ns, 1)
        if 0 < self._armed_ns <= deadline_ns:
            return  # it fires first anyway, and the callback arms the next deadline
        self._armed_ns = deadline_ns
        if self._timerfd is not None and self._fd >= 0:
            self._timerfd.arm(self._fd, deadline_ns)
        else:
            if self._handle is not None:
                self._handle.cancel()
            delay_s = max(0.0, (deadline_ns - time.perf_counter_ns()) / 1e9)
            self._handle = self.loop.call_later(delay_s, self._fire)

    def move(self, deadline_ns: int) -> None:
        """Arm ``deadline_ns`` in place of the deadline armed, later ones too; 0 disarms. For
        when what the armed deadline was for has been done already (a response took the batch
        the timer was armed for): its wake-up would find nothing to do."""
        if self._timerfd is None or self._fd < 0:
            if self._handle is not None:
                self._handle.cancel()
                self._handle = None
            self._armed_ns = 0
            if deadline_ns:
                self.at(deadline_ns)
            return
        if deadline_ns != self._armed_ns:
            self._armed_ns = deadline_ns
            self._timerfd.arm(self._fd, deadline_ns)  # 0: disarmed; either way the expiry is cleared

    def _expired(self) -> None:
        """The timerfd is readable. A callback that arms the next deadline also clears the
        expiry (timerfd_settime does), so the read that would clear it is only made when the
        callback armed nothing: one system call less per wake-up at a steady rate. A readiness
        reported for an expiry that a later arming already cleared (the event loop collected it
        before the timer was moved or disarmed in the same iteration) is not a wake-up: nothing
        is armed, or the deadline armed has not come."""
        armed = self._armed_ns
        if not armed or armed > time.perf_counter_ns():
            return
        self._fire()
        if not self._armed_ns and self._fd >= 0:
            try:
                os.read(self._fd, 8)
            except BlockingIOError:
                pass

    def _fire(self) -> None:
        self._armed_ns = 0
        self.callback()

    def close(self) -> None:
        if self._fd >= 0:
            self.loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
        if self._handle is not None:
            self._handle.cancel()
