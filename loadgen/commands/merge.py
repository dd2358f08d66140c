"""``loadgen merge A.json B.json... [--json OUT] [--latency] [--force]``: the results of runs made
apart (several machines started by hand) as one, printed as wrk's report with the lines a run says
after it on stderr, exactly as if one run had measured them all: the exact histograms add
losslessly, so every percentile is the union's.

Runs that measured different things are refused in one line: another URL, method, wire
protocol (HTTP/1.1 and HTTP/2), set of targets or target sent otherwise (its share of the
requests, or its server; unless ``--force``), or a constant-rate run beside a closed-loop
one (never: their latencies are measured from different moments). So is the same run twice, by
the run ids the documents carry, or the same result for a version 2 document's run, which has
none (unless ``--force``): it would double every count. Documents
loadgen cannot read (damaged, or of another schema version) are refused on reading.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from ..comparison import targets_only_in, targets_unlike
from ..errors import ExitCode, SetupError, UsageError
from ..report import to_json, wrk_report
from ..report.diagnosis import diagnose
from ..result import Result
from ..result import merge as merge_results
from ..stopping import over
from . import command_app
from .inputs import read_result
from .outputs import check_writable, stdout_for_json, write_document

app = command_app()


def _mode(result: Result) -> str:
    return "a constant-rate run" if result.paced else "a closed-loop run"


def _same_run(named: Sequence[tuple[str, Result]]) -> str | None:
    """The first run given twice (two files, one file twice, or a file that holds it twice), as a
    refusal. A run from a version 2 document has no id: one given twice is seen by its whole
    result (the same file, or a copy: within a merged file it cannot be told apart)."""
    seen: dict[str, int] = {}
    for index, (name, result) in enumerate(named):
        for run_id in result.run_ids:
            if run_id is None:
                continue
            if seen.get(run_id) == index:
                return _twice(f"{name} holds run {run_id} twice")
            if run_id in seen:
                return _twice(_where(named[seen[run_id]][0], name, f" ({run_id})"))
            seen[run_id] = index
        if None in result.run_ids:
            for earlier, other in named[:index]:
                if other == result:
                    return _twice(_where(earlier, name, ""))
    return None


def _where(earlier: str, name: str, run: str) -> str:
    """Where a run given twice is: a file named twice, or two files (``run``: its id, if it has one)."""
    return f"{name} is given twice" if earlier == name else f"{earlier} and {name} hold the same run{run}"


def _twice(where: str) -> str:
    return f"{where}: merging would count each of its responses twice; add --force to merge anyway"


def refusal(named: Sequence[tuple[str, Result]], *, force: bool) -> str | None:
    """Why these results must not be added into one, or None."""
    if not force and (twice := _same_run(named)) is not None:
        return twice
    first_name, first = named[0]
    for name, result in named[1:]:
        if result.paced != first.paced:
            return (
                f"{first_name} is {_mode(first)} and {name} {_mode(result)}: their latencies are measured "
                "from different moments and cannot be merged"
            )
        if force:
            continue
        if (first.targets or result.targets) and any(only := targets_only_in(first, result)):
            return (
                f"{first_name} and {name} ran different targets (only in {first_name}: {only[0] or 'none'}; only in "
                f"{name}: {only[1] or 'none'}): add --force to merge them"
            )
        for what, mine, theirs in (
            ("URL", first.url, result.url),
            ("method", first.runs[0].method, result.runs[0].method),
            ("protocol", first.protocol, result.protocol),
        ):
            if mine != theirs:
                return f"{first_name} and {name} have different {what}s ({mine}, {theirs}): add --force to merge them"
        if (first.targets or result.targets) and any(unlike := targets_unlike(first, result)):
            return (
                f"{first_name} and {name} sent a target otherwise ({first_name}: {unlike[0]}; {name}: {unlike[1]}): "
                "add --force to merge them"
            )
    return None


@app.command()
def merge(
    files: Annotated[list[str], typer.Argument(metavar="RESULT.json...")],
    json_path: Annotated[str | None, typer.Option("--json", metavar="OUT", help="write the merged result")] = None,
    latency: Annotated[bool, typer.Option("-L", "--latency", help="the latency distribution, as wrk's")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="merge results of different URLs, methods, protocols or targets, or the same run twice"
        ),
    ] = False,
) -> None:
    """Merge result files (loadgen --json) of runs made apart into one result and print its report."""
    if len(files) < 2:
        raise UsageError("needs two result files or more")
    if json_path not in (None, "-"):
        check_writable(json_path)
    named = [(path, read_result(path)) for path in files]
    why = refusal(named, force=force)
    if why is not None:
        raise SetupError(f"cannot merge: {why}")
    merged = merge_results(result for _, result in named)
    with stdout_for_json(json_path) as document:  # with --json -, the report on stderr
        sys.stdout.write(wrk_report(merged, latency=latency))
        sys.stdout.flush()  # before its lines, as a run prints them
        for line in diagnose(merged).lines:  # a worker a run lost, by its number in the union
            print(line, file=sys.stderr)
        if json_path is not None:
            write_document(to_json(merged), json_path, document)
        over(ExitCode.OK)  # a stop signal from here on (Python's exit too) said "interrupted", exit 130, after it
