"""``python -m loadgen`` and the ``loadgen`` command.

The command is single-threaded, so it forks its workers itself from this process, which has
imported the engine with the command line: a worker then costs one ``fork``, not an interpreter's
start-up. The commands that only read files (``compare``, ``merge``, ``report``) do not import
it. The CLI is imported inside :func:`entry`, so that a Ctrl-C while Python is still importing it
ends as one later does, with ``loadgen: interrupted`` and exit 130, not a traceback; SIGTERM and
SIGHUP alike, from the start (they killed the command without a word until a run set its own
handlers: in the imports, the checks before the run, ``report``, ``compare`` and ``merge``).

The garbage collector is off during the start-up and the objects it made are frozen out of every
later collection (``gc.freeze``), the parent's exit's included: the modules and the command's
declarations live as long as the process, and collecting them again and again was a third of
the command's CPU before its run (``benchmarks/startup_cpu.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loadgen._run.forkserver import Forker


def _forker(args: list[str]) -> Forker | None:
    """What forks the workers, with the engine imported, for the commands that run load; none for
    those that only read files (``compare``, ``merge``, ``report``), which do without the import."""
    from loadgen.commands import FILES_ONLY

    if args and args[0] in FILES_ONLY:
        return None
    from loadgen._run.forkserver import DirectFork
    from loadgen._run.workerproc import child_main

    return DirectFork(child_main)


def _started() -> None:
    """The start-up is over: what it made is kept out of the collections, which resume."""
    gc.freeze()
    gc.enable()


def entry() -> int:
    try:
        return _command()
    finally:
        _exiting()


def _exiting() -> None:
    """The command is over (its report, files and last line out): what follows is Python's exit, during which its
    handlers are gone (the previous ones back, then CPython's defaults), so a Ctrl-C, SIGTERM or SIGHUP then killed
    the command (-2 after a run that printed its report: a shell's 130, "interrupted before the run started"). They
    are ignored from here, for the process's every thread, and the command exits with the code it earned."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


def _command() -> int:
    gc.disable()
    try:
        from loadgen.stopping import interrupt_on_signals

        with interrupt_on_signals():  # a run's own handlers, once it starts, stand in for these
            from loadgen.cli import main

            code = main(server=_forker(sys.argv[1:]), on_loaded=_started)
    except KeyboardInterrupt:  # before main() could say so: the same line as from a check before the run
        stopping = sys.modules.get("loadgen.stopping")  # no import once interrupted
        if stopping is not None and (earned_code := stopping.earned()) is not None:  # or after the command's work
            return int(earned_code)
        print("loadgen: interrupted", file=sys.stderr)
        return 130
    finally:
        gc.enable()  # whatever ended the start-up early
    _leave_the_scripts_threads(code)
    return code


def _leave_the_scripts_threads(code: int) -> None:
    """Wait a while for the threads the script left running in this process (started by its top
    level, ``setup()`` or ``done()``), then exit with ``code`` without them: Python's exit waited
    for them, so the command never ended after its report (a Ctrl-C then was a traceback). Ctrl-C,
    SIGTERM or SIGHUP end the wait; the exit's handlers still run."""
    script = sys.modules.get("loadgen.script")  # not imported: no script ran
    left = script.threads_left_running() if script is not None else []
    if script is None or not left:
        return
    from loadgen.stopping import interrupt_on_signals

    deadline = time.monotonic() + script.LEFT_RUNNING_WAIT_S
    with contextlib.suppress(KeyboardInterrupt), interrupt_on_signals():  # not join(): one interrupted took its
        while any(thread.is_alive() for thread in left) and time.monotonic() < deadline:  # thread for ended (3.11)
            time.sleep(0.05)
    left = [thread for thread in left if thread.is_alive()]
    if not left:
        return
    said = f"{len(left)} thread{'s' if len(left) > 1 else ''} ({', '.join(thread.name for thread in left)})"
    print(
        f"loadgen: not waiting longer for the {said} the script left running (start one with daemon=True)",
        file=sys.stderr,
    )
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(entry())
