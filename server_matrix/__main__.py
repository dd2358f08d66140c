"""``python -m server_matrix ...`` and the ``server-matrix`` command.

The CLI is imported inside :func:`entry`, so that a Ctrl-C while Python is still importing it
(typer, the planning room) ends quietly, with exit code 130, instead of a traceback; so does one while a
command imports what it uses (typer turns it into exit code 130). Ctrl-C works even when the shell started
the command with SIGINT ignored.
"""

import sys

from server_matrix.measuring.signals import exit_code, ignore_stop_signals, restore_ctrl_c


def entry() -> int:
    restore_ctrl_c()
    try:
        from server_matrix.cli import main
    except KeyboardInterrupt:
        return exit_code()
    try:
        return main()
    finally:
        ignore_stop_signals()  # the command is over: Python's exit follows


if __name__ == "__main__":
    sys.exit(entry())
