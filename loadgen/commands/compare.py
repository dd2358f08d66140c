"""``loadgen compare BASE.json NEW.json``: two results side by side, the change in percent and
whether it is significant (see :mod:`loadgen.comparison` for the method); ``--fail-above PCT``
exits 4 on a significant regression larger than PCT percent, for CI. A run without one response
has no figure to compare: it exits 3, as that run did. A gate must not pass what it cannot judge:
with ``--fail-above``, a run too short for the bootstrap (whose every change is "not judged", so
never a regression), a closed-loop run beside a constant-rate one (whose latencies count from
different moments) and a run that lost a worker's measurement (whose requests/sec lacks its share)
are refused in one line, exit 1, before anything is printed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from ..comparison import MIN_SECONDS, what_differs
from ..comparison import compare as compare_results
from ..errors import ExitCode, LoadgenError, SetupError, UsageError, excerpt
from ..options import percentage
from ..report.comparison_text import FORMATS
from ..result import Result
from ..stopping import over
from . import command_app
from .inputs import read_result

app = command_app()


class NoResponses(LoadgenError):
    """BASE or NEW measured not one response: the server failed in that run."""

    exit_code = ExitCode.SERVER


def gate_refusal(named: Sequence[tuple[str, Result]]) -> str | None:
    """Why ``--fail-above`` cannot judge BASE against NEW, or None. Each refusal would otherwise
    pass or fail for the wrong reason: a change the bootstrap cannot judge is never a regression,
    and between modes the latencies count from different moments (and a constant rate's
    requests/sec is the rate asked), so their change is no regression either; nor is that of a run
    that lost a worker's measurement (-t2, one killed: requests/sec -50%, "significant regression", exit 4)."""
    (base_path, base), (new_path, new) = named
    for difference in what_differs(base, new):
        if difference.what == "mode":
            return (
                f"{base_path} is a {difference.base} run and {new_path} a {difference.new} one: their latencies "
                "count from different moments; --fail-above judges only runs of the same mode"
            )
        if difference.what == "rate":
            return (
                f"{base_path} asked for {difference.base} and {new_path} for {difference.new}: their requests/sec "
                "is the rate asked; --fail-above judges only constant-rate runs of the same rate"
            )
    for path, result in named:
        if lost := result.lost_workers:
            return (
                f"{path} lost the measurement of worker {lost[0].index}, which {lost[0].what}: its figures are of "
                f"{result.reported_workers:,} of its {result.threads:,} workers; --fail-above judges only runs "
                "whose every worker reported"
            )
        if (seconds := len(result.timeline)) < MIN_SECONDS:
            unit = "second" if seconds == 1 else "seconds"
            return (
                f"{path} has {seconds} {unit} of timeline; --fail-above needs at least {MIN_SECONDS} per run "
                "to judge significance"
            )
    return None


@app.command()
def compare(
    base: Annotated[str, typer.Argument(metavar="BASE.json")],
    new: Annotated[str, typer.Argument(metavar="NEW.json")],
    fail_above_text: Annotated[
        str | None,
        typer.Option(
            "--fail-above",
            metavar="PCT",
            help="exit 4 on a significant regression above PCT% (5 or 5%); exit 1 when the runs cannot be judged",
        ),
    ] = None,
    format_: Annotated[str, typer.Option("--format", metavar="text|markdown|json")] = "text",
) -> None:
    """Compare two result files (loadgen --json): requests/sec, mean, p50, p90, p99, p99.9, errors."""
    if format_ not in FORMATS:
        raise UsageError(f"invalid --format {excerpt(format_)}: use text, markdown or json")
    fail_above = percentage("--fail-above")(fail_above_text)
    named = [(base, read_result(base)), (new, read_result(new))]
    for path, result in named:
        if not result.requests:
            raise NoResponses(
                f"cannot compare: {path} has not one response (the server failed in that run): no figure to compare"
            )
    if fail_above is not None and (why := gate_refusal(named)) is not None:
        raise SetupError(f"cannot gate: {why}")
    comparison = compare_results(*(result for _, result in named))
    sys.stdout.write(FORMATS[format_](comparison, base, new))
    regressed = fail_above is not None and comparison.regression_above(fail_above)
    if code := over(ExitCode.THRESHOLD if regressed else ExitCode.OK):  # a stop signal from here on keeps it
        raise typer.Exit(code)
