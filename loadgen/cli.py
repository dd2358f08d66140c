"""The ``loadgen`` command: dispatch to wrk's command (:mod:`loadgen.commands.run`) or, named
first, one of :mod:`loadgen.commands`, and turn every expected failure into one line on stderr
and a code (:class:`loadgen.errors.ExitCode`). Usage errors print the usage text after the line,
as wrk.
"""

from __future__ import annotations

import errno
import functools
import importlib
import sys
from typing import TYPE_CHECKING, Any

import typer

from .closedoutput import outlive_closed_output, write_failed
from .commands import COMMANDS, WRK_COMMAND
from .errors import ExitCode, Interrupted, LoadgenError, UsageError
from .stopping import at_work, earned

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._run.forkserver import Forker

__all__ = ["main"]


def _is_click_usage_error(exc: BaseException) -> bool:
    """typer may bundle its own copy of click, so match the class by name, not identity."""
    return any(cls.__name__ == "UsageError" for cls in type(exc).__mro__)


def main(
    argv: list[str] | None = None, server: Forker | None = None, on_loaded: Callable[[], None] | None = None
) -> int:
    """Entry point: run wrk's command (or, named first, one of :mod:`loadgen.commands`) and turn
    every expected failure into one line and a code. ``on_loaded`` is called once the command is
    imported and made, before its arguments are read (the end of the program's start-up)."""
    outlive_closed_output()  # a reader gone (| head) does not end the run before its files are written
    at_work()
    args = sys.argv[1:] if argv is None else argv
    usage: Callable[[], str] | None = None
    if args and args[0] in COMMANDS:
        prog_name, module, args = f"loadgen {args[0]}", importlib.import_module(COMMANDS[args[0]][0]), args[1:]
    else:
        from .commands.usage import usage_text

        prog_name, module, usage = "loadgen", importlib.import_module(WRK_COMMAND), usage_text
    cli = typer.main.get_command(module.app)
    if cli.callback is not None:
        cli.callback = _interrupt_said(cli.callback)
    if on_loaded is not None:
        on_loaded()
    return _stdout_lost(_run(cli, args, prog_name, server, usage), prog_name)


def _stdout_lost(code: int, prog_name: str) -> int:
    """``code``, or 1 when stdout refused what was written to it (``> /dev/full``, a full disk) and the
    command's report is lost: said in a line, as a --json file that cannot be written is (exit 1; the
    run's own failure code kept), where the run's 0 would have said all was well."""
    error = write_failed(sys.stdout)
    if error is None:
        return code
    print(f"{prog_name}: cannot write to stdout: {error.strerror or error}: what went there is lost", file=sys.stderr)
    return code or ExitCode.USAGE


def _interrupt_said(callback: Callable[..., Any]) -> Callable[..., Any]:
    """The command with a Ctrl-C that reaches its code (the files ``report``, ``compare`` and ``merge``
    read, a run's command after its signals are given back) as Interrupted: typer turned it into
    exit 130 without a word."""

    @functools.wraps(callback)
    def command(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None

    return command


def _run(cli: Any, args: list[str], prog_name: str, server: Forker | None, usage: Callable[[], str] | None) -> int:
    """A command with the one-line errors and exit codes; ``usage`` makes the text printed after a
    usage error (only then: a run does not need it)."""
    from .commands.arguments import spelled_out, wrk_abbreviated
    from .settings import Settings

    try:
        if usage is not None:  # wrk's command: its long options abbreviated, as wrk's getopt_long takes them
            args = wrk_abbreviated(args, cli.params)
        args = spelled_out(args, Settings, cli.params)
        code = cli.main(args=args, prog_name=prog_name, standalone_mode=False, obj=server)
    except UsageError as exc:
        if str(exc):
            print(str(exc) if exc.wrk_message else f"{prog_name}: {exc}", file=sys.stderr)
        _write_usage(args, cli.params, usage)
        return ExitCode.USAGE
    except (KeyboardInterrupt, Interrupted) as exc:
        if (earned_code := earned()) is not None:  # on the command's way out: its work is done
            return earned_code
        print((exc if isinstance(exc, Interrupted) else Interrupted()).line, file=sys.stderr)
        return ExitCode.INTERRUPTED
    except LoadgenError as exc:  # named as the usage errors are: a command's by its name, not 'loadgen'
        print(str(exc) if exc.wrk_message else f"{prog_name}: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        if exc.errno in (errno.EPIPE, errno.EIO):  # the reader or the terminal went away
            return 1
        raise
    except Exception as exc:
        if not _is_click_usage_error(exc):
            raise
        print(f"{prog_name}: {getattr(exc, 'format_message', exc.__str__)()}", file=sys.stderr)
        _write_usage(args, cli.params, usage)
        return ExitCode.USAGE
    return int(code or 0)


def _write_usage(args: list[str], params: list[Any], usage: Callable[[], str] | None) -> None:
    """The usage text after a usage error, on stdout as wrk prints it; on stderr when ``--json -`` asked stdout for
    the document alone (``loadgen --json - -m 10 URL | jq`` read the 55 lines of usage)."""
    from .commands.arguments import json_to_stdout

    if usage is not None:
        (sys.stderr if json_to_stdout(args, params) else sys.stdout).write(usage())


if __name__ == "__main__":
    sys.exit(main())
