"""``python -m loadgen`` and the ``loadgen`` command.

The command is single-threaded, so it forks its workers itself from this process, which has
imported the engine with the command line: a worker then costs one ``fork``, not an interpreter's
start-up. The commands that only read files (``compare``, ``merge``, ``report``) do not import
it. The CLI is imported inside :func:`entry`, so that a Ctrl-C while Python is still importing it
ends as one later does, with ``loadgen: interrupted`` and exit 130, not a traceback.

The garbage collector is off during the start-up and the objects it made are frozen out of every
later collection (``gc.freeze``), the parent's exit's included: the modules and the command's
declarations live as long as the process, and collecting them again and again was a third of
the command's CPU before its run (``benchmarks/startup_cpu.py``).
"""

from __future__ import annotations

import gc
import sys
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
    gc.disable()
    try:
        from loadgen.cli import main

        return main(server=_forker(sys.argv[1:]), on_loaded=_started)
    except KeyboardInterrupt:  # before main() could say so: the same line as from a check before the run
        print("loadgen: interrupted", file=sys.stderr)
        return 130
    finally:
        gc.enable()  # whatever ended the start-up early


if __name__ == "__main__":
    sys.exit(entry())
