"""``python -m loadgen`` and the ``loadgen`` command.

The fork server that will start the workers is launched first, so that its interpreter loads the
engine while this one imports the command line (about 0.15 s each, side by side). The CLI is
imported inside :func:`entry`, so that a Ctrl-C while Python is still importing it ends quietly
too, with the usual exit code, instead of a traceback.
"""

import sys


def entry() -> int:
    server = None
    try:
        from loadgen._run import WORKER_MAIN
        from loadgen._run.forkserver import ForkServer, ForkServerError

        try:
            server = ForkServer(WORKER_MAIN)
        except ForkServerError:
            pass  # the run tries again, and says why it cannot
        from loadgen.cli import main

        return main(server=server)
    except KeyboardInterrupt:
        return 130
    finally:
        if server is not None:
            server.close()


if __name__ == "__main__":
    sys.exit(entry())
