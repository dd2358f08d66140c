"""``loadgen compare BASE.json NEW.json``: two results side by side, the change in percent and
whether it is significant (see :mod:`loadgen.comparison` for the method); ``--fail-above PCT``
exits 4 on a significant regression larger than PCT percent, for CI. A run without one response
has no figure to compare: it exits 3, as that run did."""

from __future__ import annotations

import math
import sys
from typing import Annotated

import typer

from ..comparison import compare as compare_results
from ..errors import ExitCode, LoadgenError, UsageError
from ..report.comparison_text import FORMATS
from . import command_app
from .inputs import read_result

app = command_app()


class NoResponses(LoadgenError):
    """BASE or NEW measured not one response: the server failed in that run."""

    exit_code = ExitCode.SERVER


@app.command()
def compare(
    base: Annotated[str, typer.Argument(metavar="BASE.json")],
    new: Annotated[str, typer.Argument(metavar="NEW.json")],
    fail_above: Annotated[
        float | None, typer.Option("--fail-above", metavar="PCT", help="exit 4 on a significant regression above PCT%")
    ] = None,
    format_: Annotated[str, typer.Option("--format", metavar="text|markdown|json")] = "text",
) -> None:
    """Compare two result files (loadgen --json): requests/sec, mean, p50, p90, p99, p99.9, errors."""
    if format_ not in FORMATS:
        raise UsageError(f"invalid --format {format_!r}: use text, markdown or json")
    if fail_above is not None and not (math.isfinite(fail_above) and fail_above >= 0):
        raise UsageError(f"--fail-above is a percentage >= 0, not {fail_above:g}")
    results = read_result(base), read_result(new)
    for path, result in zip((base, new), results, strict=True):
        if not result.requests:
            raise NoResponses(
                f"cannot compare: {path} has not one response (the server failed in that run): no figure to compare"
            )
    comparison = compare_results(*results)
    sys.stdout.write(FORMATS[format_](comparison, base, new))
    if fail_above is not None and comparison.regression_above(fail_above):
        raise typer.Exit(ExitCode.THRESHOLD)
