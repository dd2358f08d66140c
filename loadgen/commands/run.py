"""wrk's command: ``loadgen [options] URL [script args]``: wrk's flags and loadgen's, run, then
print what wrk prints and what it does not say.

Its flags are :class:`loadgen.Settings`'s options and this command's own (:class:`Output`: what
to print and where, where the workers run), both declared once with
:func:`loadgen.options.option`. Usage errors print one line on stderr and the usage text on
stdout, and exit 1, as wrk. With ``--json -`` stdout carries the JSON document alone and the
rest goes to stderr (:func:`~loadgen.commands.outputs.stdout_for_json`). Ctrl-C, SIGTERM and
SIGHUP end the run early with the report of what ran.
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import typer

from .._version import __version__
from ..api import event_loop_name, nothing_measured, run_settings
from ..errors import ExitCode, Interrupted, UsageError
from ..options import Flag, each, option, timed
from ..report import wrk_report
from ..report.diagnosis import diagnose
from ..report.progress import ProgressLine
from ..report.verdicts import threshold_line
from ..report.wrk import Header, announced_duration
from ..result import Result
from ..script import ScriptError, run_done
from ..settings import Settings
from ..stopping import over, stop_on_signals
from ..targetsfile import labels
from ..thresholds import Threshold, Verdict, check_selectors, check_thresholds
from .arguments import command_parameters, declared_values, settings_values, url_or_targets, with_parameters
from .notices import before_the_run
from .outputs import (
    check_distinct,
    check_histograms,
    check_html,
    check_writable,
    say_nothing_measured,
    stdout_for_json,
    unwritten,
    write_document,
    write_html,
)
from .watching import Watching, check_watching

if TYPE_CHECKING:
    from .._run.forkserver import Forker
    from .._run.plan import Plan

__all__ = ["Output", "app", "run_command", "version_line"]

app = typer.Typer(add_completion=False, context_settings={"help_option_names": []})


@dataclass(frozen=True, kw_only=True)
class Output:
    """What wrk's command does besides the run's Settings: what to print and where, and where
    the workers run (``--version`` and ``-h`` are the command's own)."""

    latency: bool = option(False, Flag(("--latency",), help="Print latency statistics", aliases=("-L",), switch=True))
    version: bool = option(False, Flag(("-v", "--version"), help="Print version details", switch=True))
    json_path: str | None = option(None, Flag(("--json",), "F", "JSON results (- = stdout)"))
    status_codes: bool = option(False, Flag(("--status-codes",), help="Counts per status code", switch=True))
    phases: bool = option(False, Flag(("--phases",), help="Latency phases", switch=True))
    progress: bool | None = option(
        None, Flag(("--progress/--no-progress",), help="Live progress on stderr", switch=True)
    )
    fail_on: tuple[Threshold, ...] = option(
        (), Flag(("--fail-on",), "X", "Exit 4 unless X (p99<50ms)", repeat=True), parse=each(Threshold.parse)
    )
    html_path: str | None = option(None, Flag(("--html",), "F", "HTML report to a file"))
    dask: str | None = option(None, Flag(("--dask",), "A", "Run on a Dask cluster"))
    # watching the run (see commands/watching.py)
    tui: bool = option(False, Flag(("--tui",), help="Full-screen live view", switch=True))
    metrics_listen: str | None = option(None, Flag(("--metrics-listen",), "A", "Prometheus at A (:P: all)"))
    metrics_linger: float | None = option(  # None: not given (refused without --metrics-listen), no linger
        None,
        Flag(("--metrics-linger",), "T", "Serve it T after the run"),
        parse=timed("--metrics-linger"),
    )
    otlp_endpoint: str | None = option(None, Flag(("--otlp-endpoint",), "U", "Push metrics over OTLP"))
    export_interval: float | None = option(  # None: not given (refused without --otlp-endpoint), 1 s
        None,
        Flag(("--export-interval",), "T", "OTLP push interval"),
        parse=timed("--export-interval"),
    )

    @property
    def progress_shown(self) -> bool:
        if self.tui:
            return False  # the view has the terminal
        return self.progress if self.progress is not None else sys.stderr.isatty() and self.json_path != "-"


def _import_distributed() -> None:
    """distributed imported while a Ctrl-C still interrupts: once it only sets the run's stop, an
    import (a second, 2-3 s on a busy machine) went on to its end, and the command took 2.4 s to
    stop. Interrupted, not KeyboardInterrupt, which typer turns into exit 130 without a word.
    Missing, check_dask says so in its one line."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        pass
    except KeyboardInterrupt:
        raise Interrupted from None


def run_command(settings: Settings, output: Output, server: Forker | None, document: TextIO) -> int:
    """Run, print what wrk prints and what it does not say, and return the exit code (``server``:
    a fork server started early, see ``__main__``; ``document``: where ``--json -`` writes)."""
    check_distinct(output.json_path, output.html_path)
    check_histograms(settings.paced, output.json_path)
    if output.json_path not in (None, "-"):
        check_writable(output.json_path)
    if output.html_path is not None:
        check_html(output.html_path)
    check_watching(output)
    watching = Watching(output)
    out = sys.stdout  # stderr with --json -
    progress_line = ProgressLine(sys.stderr, settings.warmup) if output.progress_shown else None
    prepared: list[Plan] = []

    def on_prepared(plan: Plan) -> None:
        prepared.append(plan)
        for line in before_the_run(plan):
            print(line, file=sys.stderr)

    def on_start() -> None:
        header = Header(
            settings.title, announced_duration(settings.duration, 0), settings.threads, settings.connections
        )
        out.write("\n".join(header.lines()) + "\n")
        out.flush()
        watching.started()

    if output.dask is not None:
        _import_distributed()
    stop = threading.Event()
    with stop_on_signals(stop):  # to the end: a signal after the run (the report, the linger) kills nothing
        with watching.running():
            try:
                result = run_settings(
                    settings,
                    stop=stop,
                    on_progress=progress_line.update if progress_line else None,
                    dask=output.dask,
                    on_prepared=on_prepared,
                    on_start=on_start,
                    server=server,
                    exporters=watching.sinks,
                    on_notice=lambda line: print(line, file=sys.stderr),
                )
            finally:
                if progress_line:
                    progress_line.clear()
        diagnosis = diagnose(result)
        if nothing_measured(result):
            say_nothing_measured(diagnosis.lines)
            return over(diagnosis.exit_code)
        verdicts = check_thresholds(result, output.fail_on)
        lost = _print_results(result, output, out, verdicts, document)
        try:
            _done(prepared[0], result)
        finally:  # a done() that raised or was interrupted: what the run says before its one line
            for line in [*diagnosis.lines, *map(threshold_line, verdicts), *lost]:
                print(line, file=sys.stderr)
        failed = not all(verdict.passed for verdict in verdicts)
        watching.linger(stop)
        earned = diagnosis.exit_code or (ExitCode.THRESHOLD if failed else ExitCode.OK)
        return over(earned or (ExitCode.USAGE if lost else ExitCode.OK))


def _print_results(
    result: Result, output: Output, out: TextIO, verdicts: Sequence[Verdict], document: TextIO
) -> list[str]:
    """The report and every file asked for, before the script's ``done()``: the measurement is whole
    then, and a ``done()`` that raises or hangs (interrupted) loses none of it. The lines of the files
    that could not be written."""
    if result.script_error:
        raise ScriptError(result.script_error)
    out.write(
        wrk_report(result, latency=output.latency, header=False, phases=output.phases, status_codes=output.status_codes)
    )
    out.flush()
    lost = []
    if (json_path := output.json_path) is not None:
        from ..report import to_json  # the JSON document's module, imported by the runs that write one

        lost += unwritten(lambda: write_document(to_json(result, thresholds=verdicts), json_path, document))
    if (html_path := output.html_path) is not None:  # titled as the report's first line
        lost += unwritten(lambda: write_html([(result.title, result)], html_path, [verdicts]))
    return lost


def _done(plan: Plan, result: Result) -> None:
    """The script's ``done()``, after the report, as wrk calls it."""
    if plan.script_module is not None:
        run_done(str(plan.settings.script), plan.script_module, plan.setup_threads, result)


def version_line(loop_name: str) -> str:
    """Like wrk's ``wrk 4.2.0 [epoll] Copyright (C) 2012 Will Glozer``, naming the event loop."""
    return f"loadgen {__version__} [{loop_name}] Copyright (C) 2026 the loadgen developers"


def command(ctx: typer.Context, url: str | None = None, help_: bool = False, **given: Any) -> None:
    """wrk's flags and loadgen's; every value is checked and converted here, then run_command runs."""
    output = Output(**declared_values(Output, given))
    with stdout_for_json(output.json_path) as document:
        if output.version:
            print(version_line(event_loop_name()))
        if help_:
            raise UsageError("")
        values = settings_values(ctx, given)
        if (loaded := url_or_targets(url, values)) is None:
            raise UsageError("")
        settings = Settings(loaded, **values)
        check_selectors(output.fail_on, labels(settings.targets))
        raise typer.Exit(run_command(settings, output, ctx.obj, document))


_PARAMETERS = [
    inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
    inspect.Parameter(
        "url", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=typer.Argument(None), annotation=str | None
    ),
    *command_parameters(Settings),
    *command_parameters(Output),
    inspect.Parameter(
        "help_", inspect.Parameter.KEYWORD_ONLY, default=typer.Option(False, "-h", "--help"), annotation=bool
    ),
]
app.command()(with_parameters(command, _PARAMETERS))
