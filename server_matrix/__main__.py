"""``python -m server_matrix`` and the ``server-matrix`` command.

The CLI is imported inside :func:`entry`, so that a Ctrl-C while Python is still importing it
(typer, rich, matplotlib, loadgen) ends quietly, with exit code 130, instead of a traceback.
"""

import sys


def entry() -> int:
    try:
        from server_matrix.cli import main
    except KeyboardInterrupt:
        return 130
    main()
    return 0


if __name__ == "__main__":
    sys.exit(entry())
