"""A script hook that never returns, interrupted inside its own worker process.

Hooks run on the worker's event loop, so a hook that never returns blocks it: no deadline fires
and no stop is heard. Killing the worker would lose what it measured; instead a timer signal
(SIGALRM, every quarter second, armed only for a run with a script) looks at what the process
is doing. When the loop has been silent too long and a frame of the script is on the stack, the
handler raises :class:`~loadgen.script.HookStuck` right there, naming the hook and the line it
was on; the hook's guard records it, and the worker stops as after any failure and sends home
what it measured. Between hooks the handler returns at once. The script's top level, which loadgen's
own process runs before the workers do, is watched the same way (:func:`watched_top_level`).

The guard times each hook call (:class:`~loadgen.script.HookTime`), so the watch says what held the
loop: one call that has not returned (for how long), or calls that each returned, one after
another (responses queued behind a slow ``response()``).
"""

from __future__ import annotations

import signal
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..script import HookStuck, HookTime

__all__ = ["HookWatch", "watched_top_level"]

PERIOD_S = 0.25
AFTER_STOP_S = 0.75  # once a stop was asked: the loop's timers tick every 100 ms, so it is blocked
LAST_LOOK_S = 1.0  # once a stop was asked, whatever held the loop: the parent kills at 1.5 s


class HookWatch:
    """Watches the script at ``path`` while started. A hook that holds the loop ``limit_s`` (the
    user's ``--script-timeout``) is stuck, stop or no stop. ``silent_for`` says how long the worker's
    loop has been silent (seconds), ``stop_asked`` whether the parent asked it to stop."""

    def __init__(
        self, path: str, limit_s: float, silent_for: Callable[[], float], stop_asked: Callable[[], bool]
    ) -> None:
        self.path = path
        self.limit_s = limit_s
        self.silent_for = silent_for
        self.stop_asked = stop_asked
        self.hook_time: HookTime | None = None  # the loaded script's; None: its top level is running
        self.silence = (0.0, 0.0)  # when the loop's silence began, and the hook time held by then

    def start(self) -> None:
        signal.signal(signal.SIGALRM, self._look)
        signal.setitimer(signal.ITIMER_REAL, PERIOD_S, PERIOD_S)

    def loop_stopped(self) -> None:
        """No hook runs once the loop has stopped, but the script's globals are still looked through for
        ``done()``: seconds for a large one on a loaded core, which is no stuck hook. Only ``limit_s``
        from now on is."""
        stopped_at = time.monotonic()
        self.silent_for = lambda: time.monotonic() - stopped_at
        self.stop_asked = lambda: False
        self.hook_time = None  # done() is no guarded hook: timed by the silence alone

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    def _look(self, _signum: int, frame: types.FrameType | None) -> None:
        """The signal handler: raise inside a hook that holds the loop, else return."""
        now, silent = time.monotonic(), self.silent_for()
        held = self.hook_time.held if self.hook_time else 0.0
        if abs(now - silent - self.silence[0]) > 0.005:  # the loop beat since the last look
            self.silence = (now - silent, held)
        script_frames = []
        while frame is not None:
            if frame.f_code.co_filename == self.path:
                script_frames.append(frame)
            frame = frame.f_back
        if not script_frames:
            return
        running = now - self.hook_time.began if self.hook_time else silent  # this call's time
        one_after_another = held - self.silence[1] >= PERIOD_S  # calls that returned held the silent loop
        stopped = silent >= AFTER_STOP_S and self.stop_asked()
        if running >= self.limit_s:
            why = f"did not {{end}} within {self.limit_s:g}s"
        elif one_after_another and running < AFTER_STOP_S and (silent >= self.limit_s or stopped):
            when = " when the run stopped" if stopped else ""
            why = f"calls, one after another, had held the loop {silent:.1f}s{when}"
        elif stopped and (running >= AFTER_STOP_S or silent >= LAST_LOOK_S):
            why = f"had not {{ended}} after {running:.1f}s when the run stopped"
        else:
            return
        hook = script_frames[-1].f_code.co_name  # the outermost: the hook loadgen called
        if hook == "<module>":
            what, why = "the script's top level", why.format(end="finish", ended="finished")
        else:
            what, why = f"{hook}()", why.format(end="return", ended="returned")
        raise HookStuck(f"{self.path}:{script_frames[0].f_lineno}: {what} {why}")


@contextmanager
def watched_top_level(path: str, limit_s: float) -> Iterator[None]:
    """The script's top level as loadgen's own process runs it, before the workers do: one that
    never finishes is stopped after ``limit_s`` (``--script-timeout``), as a worker's is; it held
    the command until a signal came. A timer signal reaches only the main thread: elsewhere (a
    program's thread calling the API) it runs unwatched; a program's own SIGALRM handler and timer come back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    began = time.monotonic()
    previous, (delay, interval) = signal.getsignal(signal.SIGALRM), signal.getitimer(signal.ITIMER_REAL)
    watch = HookWatch(path, limit_s, lambda: time.monotonic() - began, lambda: False)
    watch.start()
    try:
        yield
    finally:
        watch.stop()
        signal.signal(signal.SIGALRM, previous)
        if delay:  # what was left of it, at least a moment: one due meanwhile fires now
            signal.setitimer(signal.ITIMER_REAL, max(delay - (time.monotonic() - began), 0.001), interval)
