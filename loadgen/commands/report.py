"""``loadgen report RESULT.json... [--html OUT.html]``: a result file shown again, as wrk's report
on stdout or as the HTML report; several files share the HTML report's charts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from ..report import wrk_report
from ..report.targets import targets_table
from . import command_app
from .inputs import read_result
from .outputs import check_html, write_html

app = command_app()


def _names(paths: list[str]) -> list[str]:
    """What each result is called in the report: its file name, or its path where names repeat."""
    names = [Path(path).name for path in paths]
    return names if len(set(names)) == len(names) else paths


@app.command()
def report(
    files: Annotated[list[str], typer.Argument(metavar="RESULT.json...")],
    html: Annotated[str | None, typer.Option("--html", help="write the HTML report to this file")] = None,
    latency: Annotated[bool, typer.Option("-L", "--latency", help="the latency distribution, as wrk's")] = False,
    phases: Annotated[bool, typer.Option("--phases", help="the latency phases")] = False,
) -> None:
    """Show result files (loadgen --json) again: wrk's report, or one HTML page for them all."""
    if html is not None and (latency or phases):
        raise UsageError("--latency and --phases shape the text report; the HTML report has everything")
    if html is not None:
        check_html(html)
    results = [(name, read_result(path)) for name, path in zip(_names(files), files, strict=True)]
    if html is not None:
        write_html(results, html)
        return
    for index, (name, result) in enumerate(results):
        if len(results) > 1:
            separator = "\n" if index else ""
            sys.stdout.write(f"{separator}==> {name} <==\n")
        sys.stdout.write(wrk_report(result, latency=latency, phases=phases))
        sys.stdout.write(targets_table(result))
