"""``server-matrix``: run the matrix (``run``), re-render a report from results.json (``report``), compare two
runs (``compare``), list modes."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from server_matrix.chart import draw_chart
from server_matrix.comparison import compare as compare_runs
from server_matrix.comparison_text import as_json, markdown
from server_matrix.discovery import PLACES, discover
from server_matrix.documents import FileError
from server_matrix.environment import client_environment
from server_matrix.interpreters import Interpreter, InterpreterError, prepare
from server_matrix.modes import (
    MODES,
    ModeError,
    ServerMode,
    loop_values,
    required_modules,
    select_modes,
)
from server_matrix.modesfile import load_modes_file
from server_matrix.plan import build_plan
from server_matrix.profiles import PROFILES, Parameters, Profile, ProfileError, resolve
from server_matrix.progress import progress_display
from server_matrix.report import render_report
from server_matrix.results import ERROR, MatrixResults
from server_matrix.resultsfile import load as load_results
from server_matrix.runner import MatrixRun
from server_matrix.signals import exit_code, stop_on_signals
from server_matrix.watchdog import WATCHDOG

EXIT_CELLS_FAILED = 1  # run: a cell failed; compare: a significant slowdown above --fail-above
EXIT_USAGE = 2  # bad options, and what stops a run before it starts (an unwritable --out, an unusable interpreter)

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Benchmark the Django demo under every server mode and GIL setting, with loadgen.",
)


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    typer.echo(f"server-matrix: {message}", err=True)
    raise typer.Exit(code)


def _names(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(item.strip() for item in text.split(",") if item.strip())


def _cpus(option: str, text: str | None) -> list[int] | None:
    """``0``, ``0,1`` or ``0-3``, as taskset takes them, each CPU one this process may use."""
    if text is None:
        return None
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or not (last or first).isdigit() or int(first) > int(last or first):
            _fail(f"{option}: bad CPU list {text!r} (use 0, 0,1 or 0-3)")
        cpus.update(range(int(first), int(last or first) + 1))
    unavailable = sorted(cpus - os.sched_getaffinity(0))
    if unavailable:
        _fail(
            f"{option}: CPU {', '.join(map(str, unavailable))} not available "
            f"(this process may use {', '.join(map(str, sorted(os.sched_getaffinity(0))))})"
        )
    return sorted(cpus)


def mode_listing(modes: list[ServerMode], parameters: Parameters) -> list[dict[str, object]]:
    values = parameters.server_values(port="$PORT") | loop_values(None)
    return [
        {
            "id": mode.id,
            "title": mode.display_title(original=parameters.original_titles, **values),
            "args": mode.command_args(**values),
            "about": mode.about,
            "meaningful_on": sorted(mode.meaningful_on),
        }
        for mode in modes
    ]


def write_outputs(results: MatrixResults, out_dir: Path) -> list[Path]:
    """report.md and the chart files from the results."""
    report = out_dir / "report.md"
    report.write_text(render_report(results))
    return [report, *draw_chart(results, out_dir)]


@app.command()
def run(
    profile: Annotated[str, typer.Option(help=f"Parameter set: {', '.join(PROFILES)}.")] = "default",
    out: Annotated[Path | None, typer.Option(help="Results directory (default: matrix-results/PROFILE).")] = None,
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
    modes: Annotated[str | None, typer.Option(help="Comma-separated mode ids (default: the profile's).")] = None,
    modes_file: Annotated[Path | None, typer.Option(help="JSON list of extra modes (see README).")] = None,
    endpoints: Annotated[str | None, typer.Option(help="Comma-separated endpoints (default: all).")] = None,
    variants: Annotated[str | None, typer.Option(help="sync, async or both.")] = None,
    gil: Annotated[str | None, typer.Option(help="GIL settings on free-threaded builds: 0, 1 or 0,1.")] = None,
    duration: Annotated[float | None, typer.Option(help="Seconds per endpoint (at least).")] = None,
    duration_factor: Annotated[
        float | None, typer.Option(help="Each endpoint runs at least this many times its delay (0: fixed duration).")
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Client timeout, seconds.")] = None,
    client_threads: Annotated[int | None, typer.Option(help="loadgen threads (worker processes).")] = None,
    connections: Annotated[int | None, typer.Option(help="loadgen connections.")] = None,
    workers: Annotated[int | None, typer.Option(help="Server worker processes.")] = None,
    threads: Annotated[int | None, typer.Option(help="Server threads (gthread, asgi-threads).")] = None,
    server_timeout: Annotated[float | None, typer.Option(help="gunicorn --timeout, seconds.")] = None,
    gateway_scale: Annotated[float | None, typer.Option(help="DEMO_GATEWAY_SCALE for the servers.")] = None,
    startup_timeout: Annotated[float | None, typer.Option(help="Seconds a server has to become ready.")] = None,
    repeat: Annotated[
        int | None,
        typer.Option(
            help="Repetitions of each CPU-bound cell, in interleaved rounds (default: the profile's; gateway endpoints "
            "run once)."
        ),
    ] = None,
    gateway_once: Annotated[
        bool | None,
        typer.Option(
            "--gateway-once/--gateway-everywhere",
            help="Measure each gateway endpoint on a mode's first server only, or under every interpreter and GIL "
            "setting (default: once for the default profile, everywhere for original and quick).",
            show_default=False,
        ),
    ] = None,
    server_cpus: Annotated[str | None, typer.Option(help="Pin the servers to these CPUs (0,1 or 0-3).")] = None,
    client_cpus: Annotated[str | None, typer.Option(help="Pin loadgen to these CPUs.")] = None,
    client_dask: Annotated[
        str | None,
        typer.Option(
            help="Run loadgen's workers on this Dask cluster (tcp://HOST:8786, local:N), off the servers' CPUs."
        ),
    ] = None,
    bind: Annotated[
        str, typer.Option(help="The servers' address (with --client-dask: one the Dask workers reach).")
    ] = "127.0.0.1",
    force: Annotated[bool, typer.Option(help="Run every cell again, even those already in results.json.")] = False,
) -> None:
    """Run the matrix and write results.json, report.md and the chart into the results directory."""
    overrides = dict(
        duration_s=duration,
        duration_factor=duration_factor,
        timeout_s=timeout,
        client_threads=client_threads,
        connections=connections,
        workers=workers,
        threads=threads,
        server_timeout_s=server_timeout,
        gateway_scale=gateway_scale,
        startup_timeout_s=startup_timeout,
        repeat=repeat,
        gateway_once=gateway_once,
        endpoints=_names(endpoints),
        variants=_names(variants),
        client_dask=client_dask,
        bind=bind,
    )
    if profile not in PROFILES:
        _fail(f"--profile must be one of {', '.join(PROFILES)} (got {profile!r})")
    try:
        parameters, selected = _choose(
            PROFILES[profile],
            _names(modes),
            modes_file,
            _names(gil),
            _cpus("--server-cpus", server_cpus),
            _cpus("--client-cpus", client_cpus),
            overrides,
        )
    except (FileError, ModeError, ProfileError) as error:
        _fail(str(error))
    out_dir = out or Path("matrix-results") / parameters.profile
    results = _open_results(out_dir)
    stop_on_signals()  # from here on, Ctrl-C, SIGTERM and SIGHUP stop the servers and keep the finished cells
    try:
        WATCHDOG.start()
        interpreters, found = _prepare_interpreters(python, discovery, required_modules(selected))
        results.parameters = parameters.to_json()
        results.environment = client_environment(parameters) | {
            "discovery": _discovery_record(python, discovery, found)
        }
        results.merge_listing("interpreters", [interpreter.to_json() for interpreter in interpreters], "requested")
        results.merge_listing("modes", mode_listing(selected, parameters), "id")
        _execute(
            MatrixRun(
                build_plan(interpreters, selected, parameters),
                parameters,
                out_dir,
                results,
                progress_display(),
                force=force,
            )
        )
    except OSError as error:  # the watchdog cannot start, results.json cannot be written
        _fail(f"{error.filename or 'cannot start'}: {error.strerror or error}", EXIT_CELLS_FAILED)
    finally:
        WATCHDOG.close()


def _open_results(out_dir: Path) -> MatrixResults:
    """What an earlier run left in ``out_dir``, after checking that it can be written to."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out_dir).close()
    except OSError as error:
        _fail(f"--out {out_dir}: cannot write there ({error.strerror or error})")
    stored = out_dir / "results.json"
    try:
        return load_results(stored) if stored.exists() else MatrixResults()
    except FileError as error:
        _fail(str(error))


def _choose(
    profile: Profile,
    mode_ids: tuple[str, ...] | None,
    modes_file: Path | None,
    gil: tuple[str, ...] | None,
    server_cpus: list[int] | None,
    client_cpus: list[int] | None,
    overrides: Mapping[str, object],
) -> tuple[Parameters, list[ServerMode]]:
    """The profile with the command line's overrides, and the modes to run (extra modes run after the profile's)."""
    extra_modes = load_modes_file(modes_file) if modes_file else ()
    if gil and not set(gil) <= {"0", "1"}:
        raise ProfileError("--gil takes 0, 1 or 0,1")
    parameters = resolve(
        profile,
        modes=mode_ids or profile.modes + tuple(mode.id for mode in extra_modes),
        gil=tuple(int(value) for value in gil) if gil else None,
        server_cpus=server_cpus,
        client_cpus=client_cpus,
        **overrides,
    )
    return parameters, select_modes(MODES + extra_modes, list(parameters.modes))


def _prepare_interpreters(
    requested: list[str] | None, discovery: bool, modules: tuple[str, ...]
) -> tuple[list[Interpreter], list[str]]:
    """The interpreters to run (``--python``, else this one and every free-threaded one found), and what
    discovery found."""
    if requested:
        chosen, found = [(path, "--python") for path in requested], []
    else:
        discovered = discover() if discovery else []
        chosen = [(sys.executable, "this interpreter"), *((item.path, item.origin) for item in discovered)]
        found = [f"{item.path} (CPython {item.version}t, {item.origin})" for item in discovered]
        for line in found:
            typer.echo(f"server-matrix: found a free-threaded interpreter: {line}", err=True)
    try:
        interpreters = [
            prepare(path, modules, origin, announce=lambda text: typer.echo(f"server-matrix: {text}", err=True))
            for path, origin in chosen
        ]
    except InterpreterError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        _fail("interrupted", exit_code())
    return interpreters, found


def _discovery_record(requested: list[str] | None, discovery: bool, found: list[str]) -> dict[str, object]:
    """For the report: whether free-threaded interpreters were looked for, where, and what was found."""
    return {
        "searched": not requested and discovery,
        "places": list(PLACES),
        "found": found,
        "reason": "--python given" if requested else None if discovery else "--no-discover",
    }


def _execute(matrix: MatrixRun) -> None:
    """Run, then write the outputs; after Ctrl-C, SIGTERM or SIGHUP, write those of the finished cells."""
    try:
        matrix.run()
    except KeyboardInterrupt:
        paths = write_outputs(matrix.results, matrix.out_dir)
        matrix.listener.close()
        _fail(
            f"interrupted: {len(matrix.results.cells)} finished cells kept in {matrix.results_path}; "
            f"report of those in {paths[0]}",
            exit_code(),
        )
    matrix.listener.close()
    for path in [matrix.results_path, *write_outputs(matrix.results, matrix.out_dir)]:
        typer.echo(str(path))
    planned = {cell.key for group in matrix.groups for cell in group.cells}
    failed = [key for key, cell in matrix.results.cells.items() if key in planned and cell.status == ERROR]
    if failed:
        _fail(f"{len(failed)} of {len(planned)} cells failed (see report.md)", EXIT_CELLS_FAILED)


@app.command()
def report(
    results_json: Annotated[Path, typer.Argument(help="A results.json written by `server-matrix run`.")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write report.md and the chart (default: beside it).")
    ] = None,
) -> None:
    """Render report.md and the chart again from results.json."""
    results = _load(results_json)
    out_dir = out or results_json.parent
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = write_outputs(results, out_dir)
    except OSError as error:
        _fail(f"--out {out_dir}: cannot write there ({error.strerror or error})")
    for path in paths:
        typer.echo(str(path))


def _load(path: Path) -> MatrixResults:
    try:
        return load_results(path)
    except FileError as error:
        _fail(str(error))


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
            help="Exit 1 when a significant slowdown (requests/sec or p99) exceeds PCT percent.",
        ),
    ] = None,
) -> None:
    """B/A per cell measured in both: requests/sec and p99, with a 95% interval and a significance mark."""
    if fail_above is not None and not fail_above >= 0:
        _fail(f"--fail-above must be at least 0 (got {fail_above:g})")
    comparison = compare_runs(_load(base), _load(new))
    typer.echo((as_json if json_output else markdown)(comparison, fail_above), nl=False)
    if comparison.failed(fail_above):
        raise typer.Exit(EXIT_CELLS_FAILED)


@app.command("modes")
def list_modes() -> None:
    """List the built-in server modes."""
    for mode in MODES:
        typer.echo(f"{mode.id:22} {mode.about}")


def _is_usage_error(error: BaseException) -> bool:
    """typer may bundle its own copy of click: match the class by name, not identity (as loadgen's CLI does)."""
    return any(cls.__name__ == "UsageError" for cls in type(error).__mro__)


def main() -> int:
    """The command; a usage error in one line (exit 2), as every other error."""
    try:
        return int(app(standalone_mode=False) or 0)
    except Exception as error:
        format_message = getattr(error, "format_message", None)
        if not _is_usage_error(error) or format_message is None:
            raise
        typer.echo(f"server-matrix: {format_message()} (see --help)", err=True)
        return EXIT_USAGE
