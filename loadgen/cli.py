"""The ``loadgen`` command: wrk's command line and report, plus loadgen's additions.

A thin layer over the API: parse the flags (with wrk's defaults, units and messages), run, then
print. Usage errors print one line on stderr and the usage text on stdout, and exit 1, as wrk.
Ctrl-C, SIGTERM and SIGHUP end the run early with the report of what ran.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, TextIO, TypeVar

import typer

from . import units
from ._run.cluster import execute_on_cluster
from ._run.engine import execute
from ._run.forkserver import Forker
from .commands import COMMANDS
from .commands.arguments import parsed, request_settings
from .commands.outputs import check_html, check_writable, write_document, write_html
from .commands.stopping import stop_on_signals
from .errors import Interrupted, LoadgenError, UsageError
from .plan import Plan, prepare
from .report import to_json, wrk_report
from .report.diagnosis import EXIT_THRESHOLD, EXIT_USAGE, diagnose
from .report.progress import ProgressLine
from .report.targets import targets_table
from .report.thresholds import threshold_line
from .report.usage import usage_text, version_line
from .report.wrk import Header, announced_duration
from .result import Result
from .script import ScriptError, run_done
from .settings import Settings
from .targetsfile import labels, read_targets
from .thresholds import Threshold, Verdict, check_selectors, check_thresholds

__all__ = ["main"]

T = TypeVar("T")

app = typer.Typer(add_completion=False, context_settings={"help_option_names": []})


@dataclass(frozen=True)
class Output:
    """What to print besides wrk's report, and where."""

    latency: bool
    phases: bool
    json_path: str | None
    status_codes: bool
    progress: bool | None
    fail_on: tuple[Threshold, ...] = ()
    html_path: str | None = None

    @property
    def report_stream(self) -> TextIO:
        """stdout, unless the JSON goes there: then the report moves to stderr."""
        return sys.stderr if self.json_path == "-" else sys.stdout

    @property
    def progress_shown(self) -> bool:
        return self.progress if self.progress is not None else sys.stderr.isatty() and self.json_path != "-"


def _write_json(result: Result, path: str, thresholds: Sequence[Verdict] = ()) -> None:
    write_document(to_json(result, thresholds=thresholds), path)


def _status_lines(result: Result) -> str:
    lines = ["  Status codes:"] + [f"    {status}: {count}" for status, count in sorted(result.status_counts.items())]
    return "\n".join(lines) + "\n"


def run_command(settings: Settings, output: Output, server: Forker | None = None, dask: str | None = None) -> int:
    """Run, print what wrk prints and what it does not say, and return the exit code (``server``:
    a fork server started early, see ``__main__``; ``dask``: run the workers on that cluster)."""
    if output.json_path not in (None, "-"):
        check_writable(output.json_path)
    if output.html_path is not None:
        check_html(output.html_path)
    out = output.report_stream
    progress_line = ProgressLine(sys.stderr) if output.progress_shown else None
    plan = prepare(settings, here=dask is None)
    if settings.connections % settings.threads:
        print(
            f"loadgen: warning: {settings.connections} connections do not divide among {settings.threads} "
            f"threads; {settings.connections_per_worker * settings.threads} will be opened (as wrk)",
            file=sys.stderr,
        )

    def on_start() -> None:
        header = Header(
            settings.title, announced_duration(settings.duration, 0), settings.threads, settings.connections
        )
        out.write("\n".join(header.lines()) + "\n")
        out.flush()

    stop = threading.Event()
    with stop_on_signals(stop):
        try:
            if dask is not None:
                result = execute_on_cluster(plan, dask, stop=stop, on_start=on_start)
            else:
                result = execute(
                    plan,
                    stop=stop,
                    on_start=on_start,
                    on_progress=progress_line.update if progress_line else None,
                    server=server,
                )
        finally:
            if progress_line:
                progress_line.clear()
    verdicts = check_thresholds(result, output.fail_on)
    _print_results(plan, result, output, out, verdicts)
    diagnosis = diagnose(result)
    for line in [*diagnosis.lines, *map(threshold_line, verdicts)]:
        print(line, file=sys.stderr)
    failed = not all(verdict.passed for verdict in verdicts)
    return diagnosis.exit_code or (EXIT_THRESHOLD if failed else 0)


def _print_results(plan: Plan, result: Result, output: Output, out: TextIO, verdicts: Sequence[Verdict]) -> None:
    if result.script_error:
        raise ScriptError(result.script_error)
    out.write(wrk_report(result, latency=output.latency, header=False, phases=output.phases))
    out.write(targets_table(result))
    if plan.script_module is not None:
        out.flush()
        run_done(str(plan.settings.script), plan.script_module, plan.setup_threads, result)
    if output.status_codes:
        out.write(_status_lines(result))
    out.flush()
    if output.json_path is not None:
        _write_json(result, output.json_path, verdicts)
    if output.html_path is not None:
        write_html([(result.url, result)], output.html_path)


@app.command()
def command(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Argument()] = None,
    script_args: Annotated[list[str] | None, typer.Argument()] = None,
    connections: Annotated[str, typer.Option("-c", "--connections")] = "10",
    duration: Annotated[str, typer.Option("-d", "--duration")] = "10s",
    threads: Annotated[str, typer.Option("-t", "--threads")] = "2",
    script: Annotated[str | None, typer.Option("-s", "--script")] = None,
    header: Annotated[list[str] | None, typer.Option("-H", "--header")] = None,
    latency: Annotated[bool, typer.Option("-L", "--latency")] = False,
    phases: Annotated[bool, typer.Option("--phases")] = False,
    timeout: Annotated[str, typer.Option("-T", "--timeout")] = "2s",
    version: Annotated[bool, typer.Option("-v", "--version")] = False,
    help_: Annotated[bool, typer.Option("-h", "--help")] = False,
    method: Annotated[str, typer.Option("-m", "--method")] = "GET",
    body: Annotated[str | None, typer.Option("-b", "--body")] = None,
    body_file: Annotated[str | None, typer.Option("--body-file")] = None,
    requests: Annotated[str | None, typer.Option("-n", "--requests")] = None,
    rate: Annotated[str | None, typer.Option("-R", "--rate")] = None,
    json_path: Annotated[str | None, typer.Option("--json")] = None,
    status_codes: Annotated[bool, typer.Option("--status-codes")] = False,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress")] = None,
    unix_socket: Annotated[str | None, typer.Option("--unix-socket")] = None,
    fail_on: Annotated[list[str] | None, typer.Option("--fail-on")] = None,
    html: Annotated[str | None, typer.Option("--html")] = None,
    dask: Annotated[str | None, typer.Option("--dask")] = None,
    targets_file: Annotated[str | None, typer.Option("--targets")] = None,
) -> None:
    """wrk's flags and loadgen's; every value is checked and converted here, then run_command runs."""
    if version:
        from ._run.worker import new_event_loop

        loop, loop_name = new_event_loop()
        loop.close()
        print(version_line(loop_name))
    if help_ or (url is None and targets_file is None):
        raise UsageError("")
    if url is not None and targets_file is not None:
        raise UsageError(f"give either a URL or --targets, not both ({url})")
    targets = read_targets(targets_file) if targets_file is not None else ()
    thresholds = tuple(Threshold.parse(expression) for expression in fail_on or [])
    check_selectors(thresholds, labels(targets))
    settings = request_settings(
        targets[0].url if targets else str(url),
        threads=threads,
        connections=connections,
        duration=duration,
        timeout=timeout,
        headers=header or [],
        method=method,
        body=body,
        body_file=body_file,
        rate=None if rate is None else parsed("-R", rate, units.parse_count),
        requests=requests,
        script=script,
        script_args=script_args or (),
        unix_socket=unix_socket,
    )
    if targets:
        settings = replace(settings, targets=targets)
    output = Output(latency, phases, json_path, status_codes, progress, fail_on=thresholds, html_path=html)
    raise typer.Exit(run_command(settings, output, ctx.obj, dask))


def _is_click_usage_error(exc: BaseException) -> bool:
    """typer may bundle its own copy of click, so match the class by name, not identity."""
    return any(cls.__name__ == "UsageError" for cls in type(exc).__mro__)


def main(argv: list[str] | None = None, server: Forker | None = None) -> int:
    """Entry point: run wrk's command (or, named first, one of :mod:`loadgen.commands`) and turn
    every expected failure into one line and a code."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in COMMANDS:
        module = importlib.import_module(COMMANDS[args[0]][0])
        return _run(typer.main.get_command(module.app), args[1:], f"loadgen {args[0]}", server, usage=None)
    return _run(typer.main.get_command(app), args, "loadgen", server, usage=usage_text())


def _run(cli: Any, args: list[str], prog_name: str, server: Forker | None, usage: str | None) -> int:
    """A command with the one-line errors and exit codes; ``usage`` is printed after a usage error."""
    try:
        code = cli.main(args=args, prog_name=prog_name, standalone_mode=False, obj=server)
    except UsageError as exc:
        if str(exc):
            print(str(exc) if exc.wrk_message else f"{prog_name}: {exc}", file=sys.stderr)
        sys.stdout.write(usage or "")
        return EXIT_USAGE
    except (KeyboardInterrupt, Interrupted):
        print("loadgen: interrupted", file=sys.stderr)
        return Interrupted.exit_code
    except LoadgenError as exc:
        print(str(exc) if exc.wrk_message else f"loadgen: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        if exc.errno in (errno.EPIPE, errno.EIO):  # the reader or the terminal went away
            return 1
        raise
    except Exception as exc:
        if not _is_click_usage_error(exc):
            raise
        print(f"{prog_name}: {getattr(exc, 'format_message', exc.__str__)()}", file=sys.stderr)
        sys.stdout.write(usage or "")
        return EXIT_USAGE
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
