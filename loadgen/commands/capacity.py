"""``loadgen capacity --slo 'p99<100ms' URL``: the highest constant rate the server sustains while
meeting every SLO (see :mod:`loadgen.capacity_search` for the search). Each step prints one line as it
ends, then the ``capacity:`` line; ``--json`` keeps every step's whole result.

Exit codes (:class:`loadgen.errors.ExitCode`): OK a capacity was found; THRESHOLD not even the
lowest rate met the SLOs; CLIENT the client, not the server, was the limit (a saturated worker,
or too few connections; no capacity is reported); WORKER or SERVER a worker or the server failed
in a step; INTERRUPTED interrupted.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

import typer

from ..api import nothing_measured, run_settings
from ..capacity_search import Bracket, Outcome, Step, connections_bound, next_rate
from ..errors import ExitCode, Interrupted, UsageError
from ..options import Flag, counted, declared, each, option, percentage
from ..report.capacity_text import capacity_document, step_line, summary_line
from ..report.diagnosis import diagnose
from ..script import ScriptError
from ..settings import MOST_RATE, Settings
from ..stopping import over, stop_on_signals
from ..targetsfile import labels
from ..thresholds import Threshold, check_selectors, check_thresholds
from . import command_app
from .arguments import command_parameters, declared_values, settings_values, url_or_targets, with_parameters
from .notices import before_the_run
from .outputs import check_writable, say_nothing_measured, stdout_for_json, unwritten, write_document

if TYPE_CHECKING:
    from .._run.forkserver import Forker
    from .._run.plan import Plan

app = command_app()

REST_S = 1.0  # after a failed step, the server's backlog drains before the next one starts


def _rate_text(rate: int) -> str:
    """A default rate as the flag takes it: ``1M``."""
    for factor, unit in ((1_000_000, "M"), (1_000, "k")):
        if rate >= factor and rate % factor == 0:
            return f"{rate // factor}{unit}"
    return str(rate)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Bounds:
    """capacity's own flags, beside every step's Settings: the SLOs, the rates to search between,
    and where the JSON goes (declared as :class:`~loadgen.Settings`' options are)."""

    slos: tuple[Threshold, ...] = option(
        (),
        Flag(("--slo",), "X", "an SLO every step must meet, as p99<100ms (repeatable)", repeat=True, required=True),
        parse=each(Threshold.parse),
    )
    start: int = option(100, Flag(("--start",), "N", "the first step's rate, requests/sec"), parse=counted("--start"))
    max_rate: int = option(
        1_000_000, Flag(("--max",), "N", "the highest rate to try"), parse=counted("--max"), shown=_rate_text
    )
    precision: float = option(
        5.0,
        Flag(("--precision",), "P", "bisect until within this percent (5 or 5%)"),
        parse=percentage("--precision"),
        shown=lambda value: f"{value:g}%",
    )
    json_path: str | None = option(None, Flag(("--json",), "F", "every step's result and the capacity"))


@dataclasses.dataclass(frozen=True)
class Search:
    """How to search: every step's settings but the rate, the SLOs, and the rates to try."""

    settings: Settings
    slos: tuple[Threshold, ...]
    start: int
    precision: float  # a fraction
    ceiling: int


class _ShownOnce:
    """The steps' warnings, each shown the first time a step raises it: every step is a run, and
    its script's warnings (its ``setup()``'s, each worker's) came again with each (three steps,
    three of each). Each is shown as Python shows it, the user's filters applied as it was raised.
    So are the lines the run command says before it starts (connections that do not divide among
    the threads...), each once: the steps never said them."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, type[Warning], str, int]] = set()
        self.said: set[str] = set()

    def before(self, plan: Plan) -> None:
        """A step planned: what the run command would say before it starts, but what a step before said."""
        for line in before_the_run(plan):
            if line not in self.said:
                self.said.add(line)
                print(line, file=sys.stderr, flush=True)

    @contextmanager
    def step(self) -> Iterator[None]:
        """Around a step: what it raised is shown as it ends, however it ends."""
        caught: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                yield
        finally:
            for warning in caught:
                said = (str(warning.message), warning.category, warning.filename, warning.lineno)
                if said not in self.seen:
                    self.seen.add(said)
                    warnings.showwarning(
                        warning.message, warning.category, warning.filename, warning.lineno, warning.file, warning.line
                    )


def _run(search: Search, stop: threading.Event, out: TextIO, server: Forker | None) -> tuple[Outcome, int]:
    """Run steps until the search ends: the outcome, and the exit code of a step that failed (or 0).
    ``server`` (the command line's, see :mod:`loadgen._run.forkserver`) starts every step's workers."""
    bracket, steps, stopped, failure_code, unmeasured = Bracket(), [], None, 0, None
    shown = _ShownOnce()
    while (rate := next_rate(bracket, search.start, search.precision, search.ceiling)) is not None:
        try:
            with shown.step():
                step_settings = dataclasses.replace(search.settings, rate=float(rate))
                result = run_settings(step_settings, stop=stop, server=server, on_prepared=shown.before)
        except Interrupted as exc:
            stopped = "interrupted"
            if exc.running:  # the script's top level or setup(), named as wrk's command names it
                print(exc.line, file=sys.stderr)
            break
        diagnosis = diagnose(result)
        if nothing_measured(result):  # every worker died: no step to judge, the steps before kept
            say_nothing_measured(diagnosis.lines)
            stopped, failure_code, unmeasured = "failure", diagnosis.exit_code, rate
            break
        if result.script_error:  # a hook raised: its step was cut short, and judging it would mislead
            raise ScriptError(result.script_error)
        step = Step(rate, result, check_thresholds(result, search.slos), diagnosis.exit_code)
        steps.append(step)
        print(step_line(len(steps), step, bracket.quickest), file=out, flush=True)
        if result.interrupted:
            stopped = "interrupted"
        elif diagnosis.exit_code:
            stopped, failure_code = "failure", diagnosis.exit_code
            for line in diagnosis.lines:
                print(line, file=sys.stderr)
        elif step.client_limited:
            stopped = "client"
        if stopped:
            break
        bracket = bracket.after(step)
        if connections_bound(bracket):
            stopped = "connections"
            break
        if not step.passed and stop.wait(REST_S):
            stopped = "interrupted"
            break
    return Outcome(tuple(steps), bracket, search.ceiling, stopped, unmeasured), failure_code


def _json_written(outcome: Outcome, bounds: Bounds, document: TextIO) -> bool:
    """--json, when asked: every step's result and the capacity; False, its line said, when it could not be written
    (the search's own exit code stands then, 1 in place of 0)."""
    if (json_path := bounds.json_path) is None:
        return True
    text = json.dumps(capacity_document(outcome, [slo.expression for slo in bounds.slos]), indent=2, default=str)
    lost = unwritten(lambda: write_document(text, json_path, document))
    for line in lost:
        print(line, file=sys.stderr)
    return not lost


def _exit_code(outcome: Outcome, failure_code: int) -> int:
    if outcome.stopped == "failure":
        return failure_code
    if outcome.stopped in ("client", "connections"):
        return ExitCode.CLIENT
    if outcome.stopped == "interrupted":
        return ExitCode.INTERRUPTED
    return ExitCode.OK if outcome.capacity is not None else ExitCode.THRESHOLD


STEP_DEFAULTS = {"connections": 100, "duration": 5.0}  # a step's, where they differ from a run's
STEP_HELPS = {"connections": "enough for rate x latency", "duration": "of each step", "method": "HTTP method"}
# a step runs at the search's constant rate, to its end: no -R, -n or stages of its own
SET_BY_THE_SEARCH = ("rate", "requests", "stages", "stages_connections", "script_args")


def capacity(ctx: typer.Context, url: str | None, **given: Any) -> None:
    """Find the highest constant rate (requests/sec) at which the server meets every SLO."""
    bounds = Bounds(**declared_values(Bounds, given))
    first, ceiling = bounds.start, bounds.max_rate
    if not first or not ceiling or first > ceiling or ceiling > MOST_RATE:
        raise UsageError("--start and --max are rates > 0 and at most 1G, with --start <= --max")
    if not 0 < bounds.precision <= 100:  # above 100%, the same search as at 100%: the doubling's own step
        raise UsageError(f"--precision is a percentage > 0 and at most 100, not {bounds.precision:g}")
    values = settings_values(ctx, given, exclude=SET_BY_THE_SEARCH)
    if (loaded := url_or_targets(url, values)) is None:
        raise UsageError("give the URL to search, or --targets")
    settings = Settings(loaded, **values, rate=float(first))
    settings.check()
    check_selectors(bounds.slos, labels(settings.targets))  # else every step failed it, and the search ended at exit 4
    json_path = bounds.json_path
    if json_path not in (None, "-"):
        check_writable(json_path)
    stop = threading.Event()
    search = Search(settings, bounds.slos, first, bounds.precision / 100, ceiling)
    with stdout_for_json(json_path) as document, stop_on_signals(stop):  # with --json -, the steps' lines on stderr
        outcome, failure_code = _run(search, stop, sys.stdout, ctx.obj)
        print(summary_line(outcome), flush=True)
        written = _json_written(outcome, bounds, document)
        earned = _exit_code(outcome, failure_code) or (ExitCode.OK if written else ExitCode.USAGE)
        code = over(earned)  # a stop signal from here on, its handlers given back, keeps it
    raise typer.Exit(code)


BEFORE_THE_STEPS = ("slos",)  # capacity's own flags: the SLOs before every step's flags, the rest after them
AFTER_THE_STEPS = tuple(name for name, _ in declared(Bounds) if name not in BEFORE_THE_STEPS)
_PARAMETERS = [
    inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
    inspect.Parameter(
        "url", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=typer.Argument(None), annotation=str | None
    ),
    *command_parameters(Bounds, exclude=AFTER_THE_STEPS, shown=True),
    *command_parameters(Settings, exclude=SET_BY_THE_SEARCH, helps=STEP_HELPS, defaults=STEP_DEFAULTS, shown=True),
    *command_parameters(Bounds, exclude=BEFORE_THE_STEPS, shown=True),
]
app.command()(with_parameters(capacity, _PARAMETERS))
