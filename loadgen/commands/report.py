"""``loadgen report RESULT.json... [--html OUT.html]``: a result file shown again, as wrk's report
on stdout with the lines its run said after it on stderr (the diagnosis), or as the HTML report;
several files share the HTML report's charts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ExitCode, UsageError
from ..report import wrk_report
from ..report.diagnosis import diagnose
from ..report.verdicts import threshold_line
from ..result import Result
from ..stopping import over
from ..thresholds import Verdict
from . import command_app
from .inputs import read_judged
from .outputs import check_html, check_not_read, write_html

app = command_app()


def _names(paths: list[str]) -> list[str]:
    """What each result is called in the report, every label of the HTML page included: its file
    name; where another file has that name, as many of its directories as tell the two apart
    (``x/a.json``, ``y/a.json``); a path given again gets ``#2``, ``#3``, ..., as a target does."""
    parts = [Path(path).parts for path in paths]
    names = [_tail(own, [other for other in parts if other != own]) for own in parts]
    return [
        f"{name}#{names[:index].count(name) + 1}" if name in names[:index] else name for index, name in enumerate(names)
    ]


def _tail(own: tuple[str, ...], others: list[tuple[str, ...]]) -> str:
    """The fewest last parts of a path that no other path ends with (all of it if every one does)."""
    for depth in range(1, len(own)):
        if all(other[-depth:] != own[-depth:] for other in others):
            return str(Path(*own[-depth:]))
    return str(Path(*own))


@app.command()
def report(
    files: Annotated[list[str], typer.Argument(metavar="RESULT.json...")],
    html: Annotated[str | None, typer.Option("--html", help="write the HTML report to this file")] = None,
    latency: Annotated[bool, typer.Option("-L", "--latency", help="the latency distribution, as wrk's")] = False,
    phases: Annotated[bool, typer.Option("--phases", help="the latency phases")] = False,
    status_codes: Annotated[bool, typer.Option("--status-codes", help="the count of each status code")] = False,
) -> None:
    """Show result files (loadgen --json) again: wrk's report, or one HTML page for them all."""
    if html is not None and (latency or phases or status_codes):
        raise UsageError("--latency, --phases and --status-codes shape the text report; the HTML report has everything")
    if html is not None:
        check_not_read(html, files)
        check_html(html)
    read = [read_judged(path) for path in files]
    results = [(name, result) for name, (result, _) in zip(_names(files), read, strict=True)]
    verdicts = [judged for _, judged in read]
    if html is not None:
        write_html(results, html, verdicts)
    else:
        _print_reports(results, verdicts, latency=latency, phases=phases, status_codes=status_codes)
    over(ExitCode.OK)  # a stop signal from here on (Python's exit too) said "interrupted", exit 130, after the reports


def _print_reports(
    results: list[tuple[str, Result]],
    verdicts: list[tuple[Verdict, ...]],
    *,
    latency: bool,
    phases: bool,
    status_codes: bool,
) -> None:
    """wrk's report of each result, its lines (a worker lost, a threshold's verdict) on stderr after it."""
    for index, ((name, result), judged) in enumerate(zip(results, verdicts, strict=True)):
        if len(results) > 1:
            separator = "\n" if index else ""
            sys.stdout.write(f"{separator}==> {name} <==\n")
        sys.stdout.write(wrk_report(result, latency=latency, phases=phases, status_codes=status_codes))
        sys.stdout.flush()  # before its lines, as the run printed them
        of = f"{name}: " if len(results) > 1 else ""
        for line in diagnose(result).lines:
            print(f"loadgen: {of}{line.removeprefix('loadgen: ')}", file=sys.stderr)
        for verdict in judged:
            print(f"{of}{threshold_line(verdict)}", file=sys.stderr)
