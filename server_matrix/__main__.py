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
        return _stdout_lost(main())
    finally:
        ignore_stop_signals()  # the command is over: Python's exit follows


def _stdout_lost(code: int) -> int:
    """``code``, or 1 when stdout refused what was written to it (``compare A B > /dev/full``, a full disk): the
    comparison lost, and the command exited 0 without a word (main() keeps stdout from raising, for a reader gone)."""
    import loadgen

    sys.stdout.flush()
    if (error := loadgen.write_failed(sys.stdout)) is None:
        return code
    print(f"server-matrix: cannot write to stdout: {error.strerror or error}: what went there is lost", file=sys.stderr)
    return code or 1


if __name__ == "__main__":
    sys.exit(entry())
