"""``python -m loadgen`` and the ``loadgen`` command.

The command is single-threaded, so it forks its workers itself from this process, which has
imported the engine with the command line: a worker then costs one ``fork``, not an interpreter's
start-up. The CLI is imported inside :func:`entry`, so that a Ctrl-C while Python is still
importing it ends quietly too, with the usual exit code, instead of a traceback.
"""

import sys


def entry() -> int:
    try:
        from loadgen._run.forkserver import DirectFork
        from loadgen._run.workerproc import child_main
        from loadgen.cli import main

        return main(server=DirectFork(child_main))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(entry())
