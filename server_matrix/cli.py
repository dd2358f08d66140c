"""``server-matrix``: run the matrix (``run``), re-render a report from results.json (``report``), list modes."""

from __future__ import annotations

import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

from server_matrix import results as results_file
from server_matrix.chart import draw_chart
from server_matrix.environment import client_environment
from server_matrix.interpreters import Interpreter, InterpreterError, prepare
from server_matrix.modes import MODES, ModeError, ServerMode, load_modes_file, select_modes
from server_matrix.plan import build_plan
from server_matrix.profiles import PROFILES, Parameters, Profile, ProfileError, resolve
from server_matrix.progress import progress_display
from server_matrix.report import render_report
from server_matrix.results import ERROR, MatrixResults
from server_matrix.runner import MatrixRun

EXIT_CELLS_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Benchmark the Django demo under every server mode and GIL setting, with loadgen.")

ProfileName = Enum("ProfileName", {name: name for name in PROFILES}, type=str)


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    typer.echo(f"server-matrix: {message}", err=True)
    raise typer.Exit(code)


def _names(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(item.strip() for item in text.split(",") if item.strip())


def _cpus(text: str | None) -> list[int] | None:
    """``0``, ``0,1`` or ``0-3``, as taskset takes them."""
    if text is None:
        return None
    cpus: set[int] = set()
    try:
        for part in text.split(","):
            first, _, last = part.partition("-")
            cpus.update(range(int(first), int(last or first) + 1))
    except ValueError:
        _fail(f"bad CPU list {text!r} (use 0, 0,1 or 0-3)")
    return sorted(cpus)


def _raise_keyboard_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def mode_listing(modes: list[ServerMode], parameters: Parameters) -> list[dict[str, object]]:
    values = parameters.server_values(port="$PORT")
    return [{"id": mode.id, "title": mode.display_title(original=parameters.original_titles, **values),
             "args": mode.command_args(**values), "about": mode.about,
             "meaningful_on": sorted(mode.meaningful_on)} for mode in modes]


def write_outputs(results: MatrixResults, out_dir: Path) -> list[Path]:
    """report.md and the chart files from the results."""
    report = out_dir / "report.md"
    report.write_text(render_report(results))
    return [report, *draw_chart(results, out_dir)]


@app.command()
def run(
    profile: Annotated[ProfileName, typer.Option(help="Parameter set: original, default or quick.")] = "default",
    out: Annotated[Optional[Path], typer.Option(help="Results directory (default: matrix-results/PROFILE).")] = None,
    python: Annotated[Optional[list[str]], typer.Option(
        help="Interpreter to run the servers with (repeatable) (default: this one).")] = None,
    modes: Annotated[Optional[str], typer.Option(help="Comma-separated mode ids (default: the profile's).")] = None,
    modes_file: Annotated[Optional[Path], typer.Option(help="JSON list of extra modes (see README).")] = None,
    endpoints: Annotated[Optional[str], typer.Option(help="Comma-separated endpoints (default: all).")] = None,
    variants: Annotated[Optional[str], typer.Option(help="sync, async or both.")] = None,
    gil: Annotated[Optional[str], typer.Option(help="GIL settings on free-threaded builds: 0, 1 or 0,1.")] = None,
    duration: Annotated[Optional[float], typer.Option(help="Seconds per endpoint (at least).")] = None,
    duration_factor: Annotated[Optional[float], typer.Option(
        help="Each endpoint runs at least this many times its delay (0: fixed duration).")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Client timeout, seconds.")] = None,
    client_threads: Annotated[Optional[int], typer.Option(help="loadgen threads (worker processes).")] = None,
    connections: Annotated[Optional[int], typer.Option(help="loadgen connections.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Server worker processes.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="Server threads (gthread, asgi-threads).")] = None,
    server_timeout: Annotated[Optional[float], typer.Option(help="gunicorn --timeout, seconds.")] = None,
    gateway_scale: Annotated[Optional[float], typer.Option(help="DEMO_GATEWAY_SCALE for the servers.")] = None,
    startup_timeout: Annotated[Optional[float], typer.Option(help="Seconds a server has to become ready.")] = None,
    repeat: Annotated[Optional[int], typer.Option(
        help="Repetitions of each CPU-bound cell, in rounds (default: the profile's; gateway endpoints run once).")] = None,
    server_cpus: Annotated[Optional[str], typer.Option(help="Pin the servers to these CPUs (0,1 or 0-3).")] = None,
    client_cpus: Annotated[Optional[str], typer.Option(help="Pin loadgen to these CPUs.")] = None,
    force: Annotated[bool, typer.Option(help="Run every cell again, even those already in results.json.")] = False,
) -> None:
    """Run the matrix and write results.json, report.md and the chart into the results directory."""
    overrides = dict(duration_s=duration, duration_factor=duration_factor, timeout_s=timeout,
                     client_threads=client_threads, connections=connections, workers=workers, threads=threads,
                     server_timeout_s=server_timeout, gateway_scale=gateway_scale, startup_timeout_s=startup_timeout,
                     repeat=repeat, endpoints=_names(endpoints), variants=_names(variants))
    try:
        parameters, selected = _choose(PROFILES[profile.value], _names(modes), modes_file, _names(gil),
                                       _cpus(server_cpus), _cpus(client_cpus), overrides)
    except (ModeError, ProfileError, ValueError) as error:
        _fail(str(error))
    out_dir = out or Path("matrix-results") / parameters.profile
    try:
        results = results_file.load(out_dir / "results.json") if (out_dir / "results.json").exists() else MatrixResults()
    except ValueError as error:
        _fail(f"{out_dir / 'results.json'}: {error}")
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # a terminated runner still stops its servers
    interpreters = _prepare_interpreters(python or [sys.executable])
    results.parameters = parameters.to_json()
    results.environment = client_environment(parameters)
    results.merge_listing("interpreters", [interpreter.to_json() for interpreter in interpreters], "requested")
    results.merge_listing("modes", mode_listing(selected, parameters), "id")
    _execute(MatrixRun(build_plan(interpreters, selected, parameters), parameters, out_dir, results,
                       progress_display(), force=force))


def _choose(profile: Profile, mode_ids: tuple[str, ...] | None, modes_file: Path | None, gil: tuple[str, ...] | None,
            server_cpus: list[int] | None, client_cpus: list[int] | None,
            overrides: dict[str, object]) -> tuple[Parameters, list[ServerMode]]:
    """The profile with the command line's overrides, and the modes to run (extra modes run after the profile's)."""
    extra_modes = load_modes_file(modes_file) if modes_file else ()
    parameters = resolve(profile, modes=mode_ids or profile.modes + tuple(mode.id for mode in extra_modes),
                         gil=tuple(int(value) for value in gil) if gil else None,
                         server_cpus=server_cpus, client_cpus=client_cpus, **overrides)
    return parameters, select_modes(MODES + extra_modes, list(parameters.modes))


def _prepare_interpreters(requested: list[str]) -> list[Interpreter]:
    interpreters = []
    try:
        for path in requested:
            typer.echo(f"server-matrix: preparing {path} (the first time, a venv with the demo's dependencies)",
                       err=True)
            interpreters.append(prepare(path))
    except InterpreterError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    return interpreters


def _execute(matrix: MatrixRun) -> None:
    """Run, then write the outputs; after Ctrl-C, write those of the finished cells."""
    try:
        matrix.run()
    except KeyboardInterrupt:
        matrix.listener.close()
        paths = write_outputs(matrix.results, matrix.out_dir)
        _fail(f"interrupted: {len(matrix.results.cells)} finished cells kept in {matrix.results_path}; "
              f"report of those in {paths[0]}", EXIT_INTERRUPTED)
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
    out: Annotated[Optional[Path], typer.Option(help="Where to write report.md and the chart (default: beside it).")] = None,
) -> None:
    """Render report.md and the chart again from results.json."""
    try:
        results = results_file.load(results_json)
    except (OSError, ValueError) as error:
        _fail(f"{results_json}: {error}")
    out_dir = out or results_json.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in write_outputs(results, out_dir):
        typer.echo(str(path))


@app.command("modes")
def list_modes() -> None:
    """List the built-in server modes."""
    for mode in MODES:
        typer.echo(f"{mode.id:22} {mode.about}")


def main() -> None:
    app()
