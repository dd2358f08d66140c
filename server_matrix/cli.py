"""``server-matrix``: run the matrix (``run``), re-render a report from results.json (``report``), compare two
runs (``compare``), list modes. The door: it parses, wires the rooms together in their order (planning, servers,
measuring, statistics, reporting) and turns every failure into one line and an exit status.

``run``'s options for the run's parameters are not written here: there is one per field of
:class:`~server_matrix.planning.parameters.Parameters` that has a flag, built from its declaration.

Each command imports the rooms it uses when it runs (the runner and loadgen, the statistics and numpy, the report,
matplotlib for the chart): the suite starts the command about a hundred times, and a usage error, ``modes`` or a
``report --no-chart`` need not wait for what only a run, or only a chart, uses.
"""

from __future__ import annotations

import inspect
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from server_matrix.measuring.signals import exit_code, stop_on_signals, stop_received
from server_matrix.planning.documents import FileError
from server_matrix.planning.modes import MODES, ModeError, ServerMode, select_modes, with_http2
from server_matrix.planning.modesfile import load_modes_file
from server_matrix.planning.modetext import listing
from server_matrix.planning.parameters import DEFAULTS, KNOBS, Parameters, ProfileError, value_type
from server_matrix.planning.preflight import database_failure, missing_extra, refusal
from server_matrix.planning.profiles import PROFILES, resolve
from server_matrix.reporting import outdir
from server_matrix.reporting.oneline import one_line
from server_matrix.servers.serverenv import import_root_failure

if TYPE_CHECKING:
    from server_matrix.measuring.results import MatrixResults
    from server_matrix.measuring.runner import MatrixRun
    from server_matrix.reporting.resultsfile import ResultsFile

EXIT_CELLS_FAILED = 1  # run: a cell failed; compare: a significant slowdown above --fail-above, or a cell lost
EXIT_USAGE = 2  # bad options or files, what stops a run before it starts (an unwritable --out, an interpreter),
# and compare --fail-above on cells it cannot judge (measured once)

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Benchmark the Django demo under every server mode and GIL setting, with loadgen.",
)


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    _say(message)
    raise typer.Exit(code)


def _say(text: str) -> None:
    typer.echo(f"server-matrix: {one_line(text)}", err=True)


def write_outputs(results: MatrixResults, out_dir: Path, chart: bool) -> list[Path]:
    """report.md, and the chart files unless ``chart`` is off."""
    from server_matrix.reporting.report import render_report

    report = out_dir / "report.md"
    outdir.write_whole(report, render_report(results).encode())
    if not chart:
        return [report]
    from server_matrix.reporting.chart import draw_chart  # matplotlib: only when a chart is drawn

    return [report, *draw_chart(results, out_dir)]


CHART = typer.Option("--chart/--no-chart", help="Draw chart.png and chart.svg beside report.md.")
MODES_FILE = typer.Option(help="JSON list of extra modes (see README).")


def _load(path: Path) -> MatrixResults:
    from server_matrix.reporting.resultsfile import load

    try:
        return load(path)
    except FileError as error:
        _fail(str(error))


# -- run ---------------------------------------------------------------------------------------------


def _parameter_options() -> list[inspect.Parameter]:
    """One keyword parameter of ``run`` per parameter with a flag, as typer reads them (None: not given)."""
    options = []
    for name, knob in KNOBS.items():
        if knob.flag is None:
            continue
        kind = value_type(name)
        flags = [f"{knob.flag}/{knob.negative_flag}"] if knob.negative_flag else [knob.flag]
        shown = str if knob.parse is not None or kind is tuple else kind
        option = typer.Option(*flags, help=knob.help, show_default=False)
        annotation = Annotated[shown | None, option]  # type: ignore[valid-type]
        options.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    return options


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """The options' values as parameters (their text parsed), or one line naming the option."""
    given = {}
    for name, value in options.items():
        knob = KNOBS[name]
        try:
            given[name] = knob.parse(value) if knob.parse is not None and value is not None else value
        except ValueError as error:
            _fail(f"{knob.flag}: {error}")
    return given


def run(
    profile: Annotated[str, typer.Option(help=f"Parameter set: {', '.join(PROFILES)}.")] = "default",
    out: Annotated[
        str | None,
        typer.Option(metavar="<path>", help="Results directory (default: the profile's name in matrix-results/)."),
    ] = None,
    python: Annotated[
        list[str] | None,
        typer.Option(
            help="Interpreter to run the servers with (repeatable) (default: this one and every free-threaded "
            "CPython found)."
        ),
    ] = None,
    discovery: Annotated[
        bool,
        typer.Option("--discover/--no-discover", help="Look for free-threaded interpreters when no --python is given."),
    ] = True,
    modes_file: Annotated[Path | None, MODES_FILE] = None,
    force: Annotated[bool, typer.Option(help="Run every cell again, even those already in results.json.")] = False,
    chart: Annotated[bool, CHART] = True,
    **options: Any,
) -> None:
    """Run the matrix and write results.json, report.md and the chart into the results directory."""
    if problem := missing_extra():
        _fail(problem)
    given_dir = _directory(out)
    if python is not None and "" in python:  # was run as a program named "": "cannot run : Permission denied"
        _fail("--python needs an interpreter's path")
    if profile not in PROFILES:
        _fail(f"--profile must be one of {', '.join(PROFILES)} (got {profile!r})")
    given = _given(options)
    try:
        extra_modes = load_modes_file(modes_file) if modes_file else ()
        chosen = PROFILES[profile]
        if given.get("modes") is None:  # not given; an empty --modes is refused with the other empty lists
            given["modes"] = chosen.values.get("modes", DEFAULTS["modes"]) + tuple(mode.id for mode in extra_modes)
        parameters = resolve(chosen, **given)
        selected = select_modes(MODES + extra_modes, list(parameters.modes))
        if parameters.http2:
            selected = with_http2(selected)
    except (FileError, ModeError, ProfileError) as error:
        _fail(str(error))
    if problem := refusal(parameters) or database_failure() or import_root_failure():
        _fail(problem)
    out_dir = given_dir or Path("matrix-results") / parameters.profile
    fresh = outdir.not_there(out_dir)
    stop_on_signals()  # from here on, Ctrl-C, SIGTERM and SIGHUP stop the servers and keep the finished cells
    try:
        results = _open_results(out_dir)
        _measure(parameters, selected, results, out_dir, python, discovery, force, chart)
    except KeyboardInterrupt:  # before the rounds (importing the runner, probing interpreters, planning)
        _stopped_before_any_cell(out_dir, fresh)


def _stopped_before_any_cell(out_dir: Path, fresh: list[Path]) -> NoReturn:
    """A stop before the rounds: said in the closing line, as every other stop is (it exited 143 silently, leaving
    only the lock file), and the lock file and directory this run created removed, as nothing was written there."""
    outdir.remove(fresh)
    _fail(f"interrupted before any cell was measured (nothing written to {out_dir})", exit_code())


def _measure(
    parameters: Parameters,
    selected: list[ServerMode],
    results: MatrixResults,
    out_dir: Path,
    python: list[str] | None,
    discovery: bool,
    force: bool,
    chart: bool,
) -> None:
    """The run once its options are read: the interpreters (``--python``, discovery), the plan, the rounds, the
    outputs. The rooms that do it are imported here, not by a usage error."""
    from server_matrix.measuring.environment import client_environment
    from server_matrix.measuring.progress import progress_display
    from server_matrix.measuring.runner import MatrixRun
    from server_matrix.planning.discovery import choose_interpreters
    from server_matrix.planning.interpreters import InterpreterError
    from server_matrix.planning.modes import required_modules
    from server_matrix.planning.plan import build_plan, database_modules, mode_listing
    from server_matrix.reporting.resultsfile import ResultsFile
    from server_matrix.servers.watchdog import WATCHDOG
    from server_matrix.statistics.stopping import TIME_BUDGET, StoppingRule

    try:
        WATCHDOG.start()
        try:
            interpreters, discovered = choose_interpreters(
                python, discovery, (*required_modules(selected), *database_modules()), _say
            )
        except InterpreterError as error:
            _fail(str(error))
        results.parameters = parameters.to_json()
        results.environment = client_environment(parameters) | {"discovery": discovered}
        results.merge_listing("interpreters", [interpreter.to_json() for interpreter in interpreters], "requested")
        results.merge_listing("modes", mode_listing(selected, parameters, interpreters), "id")
        store = ResultsFile(out_dir / "results.json")
        groups = build_plan(interpreters, selected, parameters)
        judge = StoppingRule(parameters.precision)
        matrix = MatrixRun(
            groups, parameters, out_dir, results, progress_display(), store.save, judge, TIME_BUDGET, force
        )
        _execute(matrix, store, chart)
    except OSError as error:  # the watchdog cannot start, results.json cannot be written
        _fail(f"{error.filename or 'cannot start'}: {error.strerror or error}", EXIT_CELLS_FAILED)
    finally:
        WATCHDOG.close()


def _with_parameter_options(command: Callable[..., None]) -> Callable[..., None]:
    """``command``'s ``**options`` spelled out as one option per parameter, for typer to read."""
    written = inspect.signature(command, eval_str=True)
    fixed = [item for item in written.parameters.values() if item.kind != inspect.Parameter.VAR_KEYWORD]
    options = _parameter_options()
    command.__signature__ = written.replace(parameters=[*fixed, *options])  # type: ignore[attr-defined]
    command.__annotations__ = {item.name: item.annotation for item in [*fixed, *options]}
    return command


app.command()(_with_parameter_options(run))


def _directory(out: str | None) -> Path | None:
    """``--out``'s directory (None: not given). An empty name is refused: as a Path it was the current directory,
    which a run filled with its results.json, logs and lock, unasked."""
    if out == "":
        _fail("--out needs a directory name")
    return None if out is None else Path(out)


def _open_results(out_dir: Path) -> MatrixResults:
    """What an earlier run left in ``out_dir``, after checking that it can be written to and that no other run
    writes there: each saves results.json with its own cells, so the last save would drop the other's."""
    try:
        outdir.hold(out_dir)
    except BlockingIOError:
        _fail(f"--out {out_dir}: another server-matrix run is writing there; wait for it to end, or give another --out")
    except OSError as error:
        _unwritable(out_dir, error)
    stored = out_dir / "results.json"
    if stored.exists():
        return _load(stored)
    from server_matrix.measuring.results import MatrixResults

    return MatrixResults()


def _unwritable(out_dir: Path, error: OSError) -> NoReturn:
    _fail(f"--out {out_dir}: cannot write there ({outdir.unwritable(out_dir, error)})")


def _execute(matrix: MatrixRun, store: ResultsFile, chart: bool) -> None:
    """Run, then write the outputs; after Ctrl-C, SIGTERM or SIGHUP, write those of the finished cells. The runner
    holds stop signals from its last stop on: one that comes then, or while the report and the chart are drawn, is
    obeyed once they are written (the run ends as interrupted, with its closing line and 128 + the signal)."""
    from server_matrix.measuring.results import ERROR, OK, SKIPPED
    from server_matrix.servers.watchdog import WATCHDOG

    try:
        matrix.run()
    except KeyboardInterrupt:
        WATCHDOG.close()  # every server is stopped: nothing of the run outlives the signal while the report is drawn
        _interrupted(matrix, store, write_outputs(matrix.results, matrix.out_dir, chart))
    paths = write_outputs(matrix.results, matrix.out_dir, chart)
    if stop_received():
        _interrupted(matrix, store, paths)
    matrix.listener.close()
    for path in [store.path, *paths]:
        typer.echo(str(path))
    planned = {cell.key for group in matrix.groups for cell in group.cells}
    counts = Counter(cell.status for key, cell in matrix.results.cells.items() if key in planned)
    if counts[ERROR]:  # of the cells measured, as the report counts them: a skipped cell is not one
        measured = counts[ERROR] + counts[OK]
        skipped = counts[SKIPPED]
        _fail(f"{counts[ERROR]} of {measured} cells failed ({skipped} skipped; see report.md)", EXIT_CELLS_FAILED)


def _interrupted(matrix: MatrixRun, store: ResultsFile, paths: list[Path]) -> NoReturn:
    """The closing line of a run a stop signal ended, and its exit status (128 + the signal)."""
    matrix.listener.close()
    _fail(
        f"interrupted: cells kept in {store.path}: {matrix.results.status_counts()}; report of those in {paths[0]}",
        exit_code(),
    )


# -- report, compare, modes ------------------------------------------------------------------------


@app.command()
def report(
    results_json: Annotated[Path, typer.Argument(help="A results.json written by `server-matrix run`.")],
    out: Annotated[
        str | None, typer.Option(metavar="<path>", help="Where to write report.md and the chart (default: beside it).")
    ] = None,
    chart: Annotated[bool, CHART] = True,
) -> None:
    """Render report.md and the chart again from results.json."""
    if problem := missing_extra():
        _fail(problem)
    given_dir = _directory(out)
    results = _load(results_json)
    out_dir = given_dir or results_json.parent
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _unwritable(out_dir, error)
    try:
        paths = write_outputs(results, out_dir, chart)
    except OSError as error:  # the file named: the directory may hold the others
        _fail(f"{error.filename}: {error.strerror or error}")
    for path in paths:
        typer.echo(str(path))


@app.command()
def compare(
    base: Annotated[Path, typer.Argument(help="A: the results.json to compare against.")],
    new: Annotated[Path, typer.Argument(help="B: the results.json compared with it.")],
    json_output: Annotated[bool, typer.Option("--json", help="JSON instead of a markdown table.")] = False,
    fail_above: Annotated[
        float | None,
        typer.Option(
            "--fail-above",
            metavar="PCT",
            help="Exit 1 when a significant slowdown (requests/sec or p99) exceeds PCT percent, or a cell measured "
            "in A is not measured in B; else exit 2 when a compared cell was measured once (no interval to judge).",
        ),
    ] = None,
) -> None:
    """B/A per cell measured in both: requests/sec and p99, with a 95% interval and a significance mark."""
    if problem := missing_extra():
        _fail(problem)
    if fail_above is not None and not 0 <= fail_above < math.inf:  # inf: a gate that never fails, unsaid
        _fail(f"--fail-above must be a finite percentage, at least 0 (got {fail_above:g})")
    results = _load(base), _load(new)  # before the statistics' imports (numpy): a refusal is as quick as report's
    from server_matrix.reporting.changes_text import as_json, markdown
    from server_matrix.statistics.changes import compare_runs

    comparison = compare_runs(*results)
    if fail_above is not None and comparison.unjudged and not comparison.lost:  # a lost cell fails, judged or not
        _fail(
            f"cannot gate: {comparison.unjudged} of {len(comparison.changes)} compared cells were measured once "
            "in A or B (no interval, so no slowdown can be told from noise); run both with --repeat 2 or more, "
            "or a profile that repeats (default), or compare without --fail-above"
        )
    typer.echo((as_json if json_output else markdown)(comparison, fail_above), nl=False)
    if comparison.failed(fail_above):
        raise typer.Exit(EXIT_CELLS_FAILED)


@app.command("modes")
def list_modes(modes_file: Annotated[Path | None, MODES_FILE] = None) -> None:
    """List the built-in server modes and a modes file's, each followed by its HTTP/2 sibling when its server
    speaks h2c (measured only with run --http2; the other siblings are skipped, see the README)."""
    if modes_file is not None and (problem := missing_extra()):  # the file is checked with jsonschema
        _fail(problem)
    try:
        typer.echo("\n".join(listing(MODES + (load_modes_file(modes_file) if modes_file else ()))))
    except FileError as error:
        _fail(str(error))


def _is_usage_error(error: BaseException) -> bool:
    """typer may bundle its own copy of click: match the class by name, not identity (as loadgen's CLI does)."""
    return any(cls.__name__ == "UsageError" for cls in type(error).__mro__)


def main() -> int:
    """The command; a usage error in one line (exit 2), as every other error. A reader of stdout or stderr gone
    (``| head -3``, a terminal closed) ends no run: the output vanishes, the run goes on to its files."""
    import loadgen

    loadgen.outlive_closed_output()
    try:
        return int(app(standalone_mode=False) or 0)
    except Exception as error:
        format_message = getattr(error, "format_message", None)
        if not _is_usage_error(error) or format_message is None:
            raise
        _say(f"{format_message()} (see --help)")
        return EXIT_USAGE
