"""``python -m loadgen`` and the ``loadgen`` command.

The CLI is imported inside :func:`entry`, so that a Ctrl-C while Python is still importing it
ends quietly too, with the usual exit code, instead of a traceback.
"""

import sys


def entry() -> int:
    try:
        from loadgen.cli import main
    except KeyboardInterrupt:
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(entry())
