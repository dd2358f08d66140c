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
import json
import sys
import threading
from typing import Annotated, TextIO

import typer

from .. import units
from .._run.engine import execute
from .._run.forkserver import Forker
from ..capacity_search import Bracket, Outcome, Step, connections_bound, next_rate
from ..errors import ExitCode, Interrupted, UsageError
from ..plan import prepare
from ..report.capacity_text import capacity_document, step_line, summary_line
from ..report.diagnosis import diagnose
from ..settings import Settings
from ..thresholds import Threshold, check_thresholds
from .arguments import parsed, request_settings
from .outputs import check_writable, write_document
from .stopping import stop_on_signals

app = typer.Typer(add_completion=False)

REST_S = 1.0  # after a failed step, the server's backlog drains before the next one starts


@dataclasses.dataclass(frozen=True)
class Search:
    """How to search: every step's settings but the rate, the SLOs, and the rates to try."""

    settings: Settings
    slos: tuple[Threshold, ...]
    start: int
    precision: float  # a fraction
    ceiling: int


def _run(search: Search, stop: threading.Event, out: TextIO, server: Forker | None) -> tuple[Outcome, int]:
    """Run steps until the search ends: the outcome, and the exit code of a step that failed (or 0).
    ``server`` (the command line's, see :mod:`loadgen._run.forkserver`) starts every step's workers."""
    bracket, steps, stopped, failure_code = Bracket(), [], None, 0
    while (rate := next_rate(bracket, search.start, search.precision, search.ceiling)) is not None:
        try:
            result = execute(prepare(dataclasses.replace(search.settings, rate=float(rate))), stop=stop, server=server)
        except Interrupted:
            stopped = "interrupted"
            break
        diagnosis = diagnose(result)
        step = Step(rate, result, check_thresholds(result, search.slos), diagnosis.exit_code)
        steps.append(step)
        print(step_line(len(steps), step), file=out, flush=True)
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
    return Outcome(tuple(steps), bracket, search.ceiling, stopped), failure_code


def _exit_code(outcome: Outcome, failure_code: int) -> int:
    if outcome.stopped == "failure":
        return failure_code
    if outcome.stopped in ("client", "connections"):
        return ExitCode.CLIENT
    if outcome.stopped == "interrupted":
        return ExitCode.INTERRUPTED
    return ExitCode.OK if outcome.capacity is not None else ExitCode.THRESHOLD


@app.command()
def capacity(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument()],
    slo: Annotated[list[str], typer.Option("--slo", help="an SLO every step must meet, as p99<100ms (repeatable)")],
    threads: Annotated[str, typer.Option("-t", "--threads")] = "2",
    connections: Annotated[str, typer.Option("-c", "--connections", help="enough for rate x latency")] = "100",
    duration: Annotated[str, typer.Option("-d", "--duration", help="of each step")] = "5s",
    start: Annotated[str, typer.Option("--start", help="the first step's rate, requests/sec")] = "100",
    max_rate: Annotated[str, typer.Option("--max", help="the highest rate to try")] = "1M",
    precision: Annotated[float, typer.Option("--precision", help="bisect until within this percent")] = 5.0,
    timeout: Annotated[str, typer.Option("-T", "--timeout")] = "2s",
    header: Annotated[list[str] | None, typer.Option("-H", "--header")] = None,
    method: Annotated[str, typer.Option("-m", "--method")] = "GET",
    body: Annotated[str | None, typer.Option("-b", "--body")] = None,
    body_file: Annotated[str | None, typer.Option("--body-file")] = None,
    script: Annotated[str | None, typer.Option("-s", "--script")] = None,
    unix_socket: Annotated[str | None, typer.Option("--unix-socket")] = None,
    json_path: Annotated[str | None, typer.Option("--json", help="every step's result and the capacity")] = None,
) -> None:
    """Find the highest constant rate (requests/sec) at which the server meets every SLO."""
    slos = tuple(Threshold.parse(expression) for expression in slo)
    first, ceiling = parsed("--start", start, units.parse_count), parsed("--max", max_rate, units.parse_count)
    if not first or not ceiling or first > ceiling:
        raise UsageError("--start and --max are rates > 0, with --start <= --max")
    if not precision > 0:
        raise UsageError("--precision is a percentage > 0")
    settings = request_settings(
        url,
        threads=threads,
        connections=connections,
        duration=duration,
        timeout=timeout,
        headers=header or [],
        method=method,
        body=body,
        body_file=body_file,
        rate=float(first),
        script=script,
        unix_socket=unix_socket,
    )
    settings.check()
    if json_path not in (None, "-"):
        check_writable(json_path)
    out = sys.stderr if json_path == "-" else sys.stdout  # as a run's report, when JSON takes stdout
    stop = threading.Event()
    with stop_on_signals(stop):
        outcome, failure_code = _run(Search(settings, slos, first, precision / 100, ceiling), stop, out, ctx.obj)
    print(summary_line(outcome), file=out, flush=True)
    if json_path is not None:
        write_document(json.dumps(capacity_document(outcome, list(slo)), indent=2, default=str), json_path)
    raise typer.Exit(_exit_code(outcome, failure_code))
