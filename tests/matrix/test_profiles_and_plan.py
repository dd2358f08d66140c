"""Profiles sized to the machine, the mode table and the plan: no server needed."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest

from server_matrix.measuring.environment import client_environment
from server_matrix.planning import estimate
from server_matrix.planning.endpoints import ENDPOINTS_BY_NAME
from server_matrix.planning.estimate import CELL_S, GROUP_S, RESTART_S, Countdown, group_seconds, plan_seconds
from server_matrix.planning.gil import environment_overrides, interpreter_flags
from server_matrix.planning.interpreters import (
    VENV_READY_MARKER,
    Interpreter,
    InterpreterError,
    pinned_to_this_interpreter,
    prepare,
    probe,
    requirements_for,
    venv_directory,
)
from server_matrix.planning.modes import MODES, ModeError, loop_values, required_modules, select_modes, with_http2
from server_matrix.planning.modesfile import load_modes_file
from server_matrix.planning.modetext import display_title
from server_matrix.planning.optiontext import names
from server_matrix.planning.parameters import KNOBS, NONE, Repetitions
from server_matrix.planning.plan import (
    DATABASE_MODULES,
    GATEWAY_ONCE,
    build_plan,
    database_modules,
    mode_listing,
    schedule,
)
from server_matrix.planning.profiles import PROFILES, Profile, ProfileError, resolve
from server_matrix.servers.serverenv import server_environment

CORES = len(os.sched_getaffinity(0))
# The default profile's plan on 2 cores when every CPU-bound cell stops at its least (2 repetitions): the estimate
# keeps a margin of about 9% over what a run measures (issue 25 asks for 10 minutes measured on a default build)
BUDGET_S = 11 * 60
FREE_THREADED_BUDGET_S = 25 * 60  # the same with one free-threaded interpreter found (issue 25 asks for 20)
# server_matrix/README.md's "What `default` costs": the plan's minutes at the least and at the most, on a default
# build and with one free-threaded interpreter
README_COSTS = re.compile(
    r"\*\*about (?P<least>[\d.]+) minutes planned\*\* \(the tests hold it to 11\), (?P<most>[\d.]+) at\s+most.*?"
    r"servers, (?P<free_least>[\d.]+) minutes planned at the least \(the budget adds no round\), "
    r"(?P<free_most>[\d.]+) at most",
    re.DOTALL,
)


def readme_costs() -> dict[str, str]:
    readme = (Path(__file__).resolve().parents[2] / "server_matrix" / "README.md").read_text()
    found = README_COSTS.search(readme)
    assert found, "server_matrix/README.md no longer says what default costs as this test reads it"
    return found.groupdict()


@pytest.fixture(autouse=True)
def _on_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plans here are made in this process, which reads DATABASE_URL as the run does: CI exports one for the
    demo's PostgreSQL tests, and these interpreters, without psycopg, had their cells skipped."""
    monkeypatch.delenv("DATABASE_URL", raising=False)


def interpreter(free_threaded: bool, modules: tuple[str, ...] = required_modules(MODES)) -> Interpreter:
    return Interpreter(
        requested=f"python{'t' if free_threaded else ''}",
        executable="/usr/bin/python",
        version="3.14.7",
        implementation="CPython",
        free_threaded=free_threaded,
        modules=modules,
    )


def test_default_profile_fixes_the_methodology() -> None:
    parameters = resolve(PROFILES["default"])
    slowest = ENDPOINTS_BY_NAME["gateway_10s"]
    delay = slowest.scaled_delay_s(parameters.gateway_scale)
    assert parameters.gateway_scale == 0.1 and delay == 1.0  # the closed-loop check at a tenth of the delay
    assert parameters.timeout_s > delay and parameters.server_timeout_s > slowest.delay_s
    # every connection gets a response; 2 s would end on the second round, which a run ended a few ms late counted
    assert parameters.window(slowest).duration_s == 2.5 > delay
    assert parameters.window(ENDPOINTS_BY_NAME["gateway_1s"]).duration_s == pytest.approx(1.05)  # 10 rounds of 0.1 s
    assert parameters.window(ENDPOINTS_BY_NAME["gateway_3s"]).duration_s == 1  # 3 rounds of 0.3 s, the 4th at 1.2
    assert parameters.window(ENDPOINTS_BY_NAME["json"]).duration_s == parameters.duration_s
    assert parameters.workers == CORES and 10 <= parameters.connections <= 100
    assert parameters.window(slowest).ceiling_rps == parameters.connections / delay
    # 2.5 s of a 1 s endpoint: the responses at 1 s and 2 s count, half a second away from its end either way
    assert parameters.window(slowest).window_ceiling_rps == pytest.approx(parameters.connections * 2 / 2.5)
    assert parameters.repeat is None and (parameters.precision, parameters.max_repeat) == (0.05, 5)
    assert parameters.repetitions(ENDPOINTS_BY_NAME["json"]) == Repetitions(2, 5)
    assert parameters.repetitions(slowest) == Repetitions(1, 1)
    real = resolve(PROFILES["default"], gateway_scale=1.0)
    assert (parameters.timeout_s, real.timeout_s) == (5, 20)  # twice the slowest endpoint, at least 5 s (README)
    assert real.window(slowest).duration_s == 12 and real.window(slowest).window_ceiling_rps == pytest.approx(
        real.connections / 12
    )


def test_adaptive_options_replace_a_profiles_fixed_count() -> None:
    assert resolve(PROFILES["quick"]).repetitions(ENDPOINTS_BY_NAME["json"]) == Repetitions(1, 1)
    adaptive = resolve(PROFILES["quick"], max_repeat=3)
    assert adaptive.repeat is None and adaptive.repetitions(ENDPOINTS_BY_NAME["json"]) == Repetitions(2, 3)
    assert resolve(PROFILES["quick"], precision=0.1).repetitions(ENDPOINTS_BY_NAME["json"]) == Repetitions(2, 5)
    assert resolve(PROFILES["default"], repeat=3).repetitions(ENDPOINTS_BY_NAME["json"]) == Repetitions(3, 3)
    with pytest.raises(ProfileError, match="--max-repeat must be at least 2"):
        resolve(PROFILES["default"], max_repeat=1)
    with pytest.raises(ProfileError, match="--precision must be more than 0"):
        resolve(PROFILES["default"], precision=0.0)
    with pytest.raises(ProfileError, match="--precision cannot be used with --repeat"):
        resolve(PROFILES["default"], precision=0.1, repeat=3)


def test_original_profile_keeps_the_notes_parameters() -> None:
    parameters = resolve(PROFILES["original"])
    assert (parameters.client_threads, parameters.connections) == (20, 2000)
    assert (parameters.duration_s, parameters.timeout_s) == (10, 2)
    assert parameters.workers == 20 and parameters.modes == ("asgi-uvicorn-single", "asgi-uvicorn-workers")
    assert parameters.repeat == 1  # each cell once: the notes' layout, one figure per cell
    assert parameters.window(ENDPOINTS_BY_NAME["gateway_10s"]).duration_s == 10  # as the original, artefacts included
    titles = [
        display_title(mode, original=True, **parameters.server_values(0))
        for mode in select_modes(MODES, list(parameters.modes))
    ]
    assert titles == ["ASGI Gunicorn Uvicorn, with threads", "ASGI Gunicorn Uvicorn, with workers"]


def test_a_count_of_one_is_said_in_the_singular_in_the_titles(tmp_path: Path) -> None:
    """--workers 1 --threads 1 titled groups "WSGI gunicorn gthread, 1 workers x 1 threads"; a modes file's
    title is said so too, and a count of two as before."""
    extra = tmp_path / "modes.json"
    extra.write_text(json.dumps([{"id": "own", "title": "own, {workers} workers", "args": ["-m", "own"]}]))
    modes = [*select_modes(MODES, ["wsgi-gthread", "granian-wsgi", "uvicorn-workers"]), *load_modes_file(extra)]
    titles = {
        workers: [
            display_title(
                mode, original=False, **resolve(PROFILES["default"], workers=workers, threads=1).server_values(0)
            )
            for mode in modes
        ]
        for workers in (1, 2)
    }
    assert titles[1] == [
        "WSGI gunicorn gthread, 1 worker x 1 thread",
        "WSGI granian, 1 worker x 1 blocking thread",
        "ASGI uvicorn --workers 1",
        "own, 1 worker",
    ]
    assert titles[2][:2] == [
        "WSGI gunicorn gthread, 2 workers x 1 thread",
        "WSGI granian, 2 workers x 1 blocking thread",
    ]


def test_the_original_profile_serves_the_originals_empty_table() -> None:
    """The notes' json_query answered ``[]`` and template_query an empty table (253 and 575 bytes per response): the
    original profile's servers start with 0 rows, the others with the demo's 100, and each cell records its count
    (a kept cell of another count is measured again)."""
    for profile, rows in (("original", 0), ("default", 100), ("quick", 100)):
        parameters = resolve(PROFILES[profile])
        group = build_plan([interpreter(False)], select_modes(MODES, [parameters.modes[0]]), parameters)[-1]
        assert group.measurement(parameters)["rows"] == rows
        assert server_environment(group.gil, parameters.demo_environment())["DEMO_ROWS"] == str(rows)
    assert resolve(PROFILES["original"], rows=100).rows == 100
    with pytest.raises(ProfileError, match="--rows must be at least 0"):
        resolve(PROFILES["original"], rows=-1)
    # the demo's own bounds: beyond them every server refused to boot, every cell an error
    with pytest.raises(ProfileError, match=r"--rows must be at most 1000000 \(got 1000001\)"):
        resolve(PROFILES["original"], rows=1_000_001)
    with pytest.raises(ProfileError, match=r"--gateway-scale must be at most 1000 \(got 1001\)"):
        resolve(PROFILES["default"], gateway_scale=1001.0)
    bounds = resolve(PROFILES["default"], rows=1_000_000, gateway_scale=1000.0)  # at most: the bound itself is allowed
    assert (bounds.rows, bounds.gateway_scale) == (1_000_000, 1000.0)


@pytest.mark.parametrize("knob", ["duration_s", "timeout_s", "server_timeout_s", "startup_timeout_s"])
def test_a_time_longer_than_a_year_is_refused(knob: str) -> None:
    """Beyond it, --timeout 1e300 was a traceback (a socket's timeout overflowed) and --duration 1e11 an error
    in every cell (loadgen refuses a -d over a year)."""
    with pytest.raises(ProfileError, match=r"must be at most 31536000 \(got 1e\+300\)"):
        resolve(PROFILES["quick"], **{knob: 1e300})
    assert getattr(resolve(PROFILES["quick"], **{knob: 31_536_000.0}), knob) == 31_536_000.0  # a year is allowed


def test_a_duration_factor_that_runs_a_gateway_endpoint_over_a_year_is_refused() -> None:
    """--duration-factor 1e300 was an error in every gateway cell (loadgen refuses a -d over a year)."""
    with pytest.raises(
        ProfileError,
        match=r"^--duration-factor 1e\+300 runs the slowest gateway endpoint \(10 s\) over a year: "
        r"it must be at most 3\.1536e\+06$",
    ):
        resolve(PROFILES["original"], duration_factor=1e300)
    assert resolve(PROFILES["original"], duration_factor=3_153_600).duration_factor == 3_153_600


def test_quick_profile_shrinks_the_gateway_delays() -> None:
    parameters = resolve(PROFILES["quick"])
    assert parameters.gateway_scale == 0.01
    # the README's Profiles table: 1 s, 1 thread, 8 connections, 2 workers, 2 threads, each cell once
    assert (parameters.duration_s, parameters.client_threads, parameters.connections) == (1, 1, 8)
    assert (parameters.workers, parameters.threads, parameters.repeat) == (2, 2, 1)
    assert parameters.window(ENDPOINTS_BY_NAME["gateway_10s"]).duration_s == pytest.approx(1.05)  # not on a round


def test_the_variants_help_offers_only_what_the_option_takes() -> None:
    """``run --help`` once offered ``both``, which --variants refuses (``unknown both``)."""
    offered = re.split(r", | or ", KNOBS["variants"].help.split(" (")[0].rstrip("."))
    assert len(offered) == 3
    for value in offered:
        assert resolve(PROFILES["quick"], variants=names(value)).variants == names(value)


def test_overrides_and_their_checks() -> None:
    parameters = resolve(PROFILES["quick"], connections=5, endpoints=("json",), variants=("async",), gil=(0,))
    assert (parameters.connections, parameters.endpoints) == (5, ("json",))
    assert (parameters.variants, parameters.gil) == (("async",), (0,))
    with pytest.raises(ProfileError, match="--endpoints: unknown nope"):
        resolve(PROFILES["quick"], endpoints=("nope",))
    with pytest.raises(ProfileError, match="--gil"):
        resolve(PROFILES["quick"], gil=(2,))
    with pytest.raises(ProfileError, match="connections"):
        resolve(PROFILES["quick"], connections=1, client_threads=2)
    assert resolve(PROFILES["quick"], connections=2, client_threads=2).connections == 2  # "at least", so equal is fine
    assert resolve(PROFILES["quick"], modes=("wsgi-sync", "wsgi-sync")).modes == ("wsgi-sync",)  # not run twice
    with pytest.raises(ProfileError, match="--connections must be at least 1"):
        resolve(PROFILES["default"], connections=0)  # never silently the machine's default
    with pytest.raises(ProfileError, match="--duration must be a finite number of seconds more than 0"):
        resolve(PROFILES["quick"], duration_s=float("nan"))
    with pytest.raises(ModeError, match="unknown mode"):
        select_modes(MODES, ["nope"])


def test_a_pinned_client_does_not_pin_the_servers() -> None:
    parameters = resolve(PROFILES["quick"], client_cpus=[0])
    assert parameters.client_cpus == (0,) and parameters.server_cpus == tuple(sorted(os.sched_getaffinity(0)))


def test_default_build_runs_once_and_skips_the_gil_settings() -> None:
    parameters = resolve(PROFILES["quick"])
    groups = build_plan([interpreter(False)], select_modes(MODES, ["wsgi-sync"]), parameters)
    assert [(group.gil, bool(group.skipped)) for group in groups] == [(0, True), (1, True), (None, False)]
    assert "-X gil=0 would abort" in groups[0].skipped
    assert groups[2].cells[0].key.label == "wsgi-sync default build json sync"  # progress lines and compare name it so
    assert interpreter_flags(None) == [] and environment_overrides(None) == {"PYTHON_GIL": None}


def test_free_threaded_build_runs_both_gil_settings() -> None:
    parameters = resolve(PROFILES["quick"])
    groups = build_plan([interpreter(True)], select_modes(MODES, ["asgi-threads"]), parameters)
    assert [(group.gil, group.skipped, group.informational is None) for group in groups] == [
        (0, None, True),
        (1, None, False),
    ]
    assert interpreter_flags(0) == ["-X", "gil=0"] and environment_overrides(1) == {"PYTHON_GIL": "1"}
    assert len(groups[0].cells) == 7 * 2
    labels = [cell.key.label for cell in groups[0].cells[:2]]
    assert labels == ["asgi-threads gil=0 json sync", "asgi-threads gil=0 json async"]


def test_a_modes_files_meaningful_on_without_a_note_marks_the_other_settings_informational(tmp_path: Path) -> None:
    """Its cells elsewhere were marked nothing in the report (an empty note), while the chart hatched them."""
    entry = {"id": "uvh11", "title": "t", "args": ["-m", "uvicorn"], "meaningful_on": ["gil0"]}
    modes_file = tmp_path / "modes.json"
    modes_file.write_text(json.dumps([entry]))
    parameters = resolve(PROFILES["quick"])
    groups = build_plan([interpreter(False), interpreter(True)], list(load_modes_file(modes_file)), parameters)
    running = {group.gil: group.informational for group in groups if not group.skipped}
    assert running[0] is None
    assert running[None] == running[1] == "meaningful only on gil0 (its meaningful_on)"


def test_free_threaded_venvs_avoid_the_c_brotli_module() -> None:
    free_threaded = requirements_for(True)
    assert "brotlicffi>=1.1" in free_threaded and not any(r.startswith("brotli>") for r in free_threaded)
    assert "brotli>=1.1" in requirements_for(False)


def test_an_interpreter_that_fails_to_start_is_said_with_the_end_of_what_it_printed(tmp_path: Path) -> None:
    """Its last lines of stderr (the reason: a missing library, a bad option), not "its probe printed no JSON"."""
    failing = tmp_path / "python"
    failing.write_text(
        "#!/bin/sh\necho one >&2\necho 'error while loading shared libraries: libpython' >&2\nexit 127\n"
    )
    failing.chmod(0o755)
    with pytest.raises(InterpreterError) as refused:
        probe(str(failing))
    assert str(refused.value) == f"{failing} failed to start: one | error while loading shared libraries: libpython"


def test_a_venv_that_lost_the_demo_says_so_before_any_server_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached venv whose django was uninstalled since it was built was used as it was: every server exited at boot
    and each cell said "server exited with status 1 before it was ready". Here both the interpreter and its venv
    run Python without site-packages (-S), so neither imports the demo's dependencies."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bare = tmp_path / "bare-python"
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    bare.chmod(0o755)
    facts = probe(str(bare), ())
    venv = venv_directory(facts, str(facts["executable"]))
    (venv / "bin").mkdir(parents=True)
    (venv / VENV_READY_MARKER).write_text("built by an earlier run\n")
    (venv / "bin" / "python").symlink_to(bare)
    prepared = prepare(str(bare), ("gunicorn",))
    assert prepared.venv == str(venv) and prepared.problem == (
        f"its venv {venv} cannot import django, asgiref, brotli or brotlicffi, the demo's own needs (changed since "
        "it was built): remove that directory and run again to build it afresh"
    )


def test_a_venv_cache_that_cannot_be_written_is_the_interpreters_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file where the cache's directory goes (or a read-only cache) stopped the whole run in one line, exit 1,
    where a full one (``-m venv ... failed: ... No space left on device``) made that interpreter's cells errors."""
    (tmp_path / "cache").write_text("a file in the way\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bare = tmp_path / "bare-python"
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    bare.chmod(0o755)
    prepared = prepare(str(bare), ("gunicorn",))
    assert (
        prepared.problem == f"cannot build its venv: {tmp_path / 'cache' / 'loadgen-matrix' / 'venvs'}: Not a directory"
    )


def test_without_uvicorn_every_uvicorn_mode_is_skipped() -> None:
    """gunicorn's Uvicorn worker imports uvicorn: without it those modes ran, and each server exited at boot."""
    modes = select_modes(MODES, ["asgi-uvicorn-workers", "asgi-uvicorn-single", "uvicorn-workers", "asgi-threads"])
    without_uvicorn = interpreter(True, tuple(name for name in required_modules(MODES) if name != "uvicorn"))
    groups = build_plan([without_uvicorn], modes, resolve(PROFILES["quick"]))
    assert {group.skipped for group in groups} == {
        "uvicorn not installed for CPython 3.14.7 free-threaded (pip install 'loadgen[demo]' to add it)"
    }


def test_a_server_missing_from_a_venv_is_not_always_pips_doing() -> None:
    """A server uninstalled from the venv after pip had installed it (its log: exit status 0) was said to be one "pip
    could not install"."""
    venv = replace(interpreter(True, ("gunicorn",)), venv="/cache/venvs/3.14.7-ft-0299e2213bd3")
    assert venv.missing(("granian",)) == (
        "granian not installed for CPython 3.14.7 free-threaded (not in its venv: pip could not install it, see "
        "/cache/venvs/3.14.7-ft-0299e2213bd3/server-matrix-install.log, or it was removed since: remove the venv to "
        "build it again)"
    )


def test_granian_refuses_gil_1_and_a_missing_server_is_skipped() -> None:
    parameters = resolve(PROFILES["quick"])
    without_granian = interpreter(True, tuple(name for name in required_modules(MODES) if name != "granian"))
    groups = build_plan([interpreter(True), without_granian], select_modes(MODES, ["granian-wsgi"]), parameters)
    assert [(group.interpreter.requested, group.gil, group.skipped is None) for group in groups] == [
        ("pythont", 0, True),
        ("pythont", 1, False),
        ("pythont", 0, False),
        ("pythont", 1, False),
    ]
    assert "refuses to start with the GIL enabled" in groups[1].skipped
    assert groups[2].skipped.startswith("granian not installed for CPython 3.14.7 free-threaded")
    assert not any(group.error for group in groups)


def test_with_database_url_an_interpreter_without_psycopg_is_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DATABASE_URL reaches every server: on the free-threaded venv (the `demo` extra, no psycopg) every server exited
    at boot ("psycopg is not installed") and each of its cells was an error, where a server not installed is a skip."""
    modes = select_modes(MODES, ["wsgi-gthread"])
    parameters = resolve(PROFILES["quick"], modes=("wsgi-gthread",))
    with_driver = interpreter(False, (*required_modules(modes), *DATABASE_MODULES))
    without = interpreter(True, required_modules(modes))
    assert all(group.skipped is None for group in build_plan([without], modes, parameters))  # SQLite: no driver asked
    monkeypatch.setenv("DATABASE_URL", "postgres://demo@127.0.0.1:5432/demo")
    assert database_modules() == DATABASE_MODULES
    first, *free_threaded = build_plan([with_driver, without], modes, parameters)[2:]
    assert first.skipped is None and len(free_threaded) == 2
    # What to install, as a command for what runs the servers: the reason read "psycopg, psycopg_pool not installed
    # (pip install psycopg psycopg-pool into its venv ...)", a module's name and a pip to find
    assert all(
        group.skipped.startswith(
            "DATABASE_URL asks for PostgreSQL, and psycopg, psycopg-pool are not installed for CPython 3.14.7 "
            "free-threaded; install them with /usr/bin/python -m pip install psycopg psycopg-pool (plain psycopg, on "
            "the system's libpq"
        )
        for group in free_threaded
    )
    assert not any(group.error for group in free_threaded)
    no_pool = interpreter(False, (*required_modules(modes), "psycopg"))
    (default_build,) = [group for group in build_plan([no_pool], modes, parameters) if group.gil is None]
    assert default_build.skipped == (
        "DATABASE_URL asks for PostgreSQL, and psycopg-pool is not installed for CPython 3.14.7; install it with "
        "/usr/bin/python -m pip install 'psycopg[binary]' psycopg-pool"
    )


def test_a_blank_database_url_is_the_demos_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo strips DATABASE_URL and serves SQLite when it is blank; the run read " " as PostgreSQL: it skipped
    every interpreter without psycopg, and its report said "Database: PostgreSQL", of servers that used SQLite. A
    PostgreSQL is named, without its password: "PostgreSQL (DATABASE_URL is set)" said not which."""
    modes = select_modes(MODES, ["wsgi-gthread"])
    parameters = resolve(PROFILES["quick"], modes=("wsgi-gthread",))
    monkeypatch.setenv("DATABASE_URL", " \t")
    assert database_modules() == ()
    free_threaded = interpreter(True, required_modules(modes))
    assert all(group.skipped is None for group in build_plan([free_threaded], modes, parameters))
    assert client_environment(parameters)["database"] == "SQLite (embedded)"
    monkeypatch.setenv("DATABASE_URL", "postgres://demo:secret@127.0.0.1:5999/bench?sslmode=disable")
    assert client_environment(parameters)["database"] == "PostgreSQL, postgresql://demo@127.0.0.1:5999/bench"


def test_every_modes_command_line_runs_a_module_with_every_placeholder_filled() -> None:
    """A mode's args follow ``python [-X gil=N]``: ``-m`` and the server's module, each placeholder the run's value
    (the HTTP/2 siblings' command lines too)."""
    values = resolve(PROFILES["quick"]).server_values(port=8123) | loop_values()
    for mode in with_http2(list(MODES)):
        args = mode.command_args(**values)
        assert args[0] == "-m" and "8123" in " ".join(args), (mode.id, args)
        assert not any("{" in arg for arg in args), (mode.id, args)


def test_the_modes_table_shows_the_event_loop_their_interpreters_start_them_with() -> None:
    """The hypercorn row read `--worker-class uvloop|asyncio` whatever the interpreters had; an
    interpreter without hypercorn does not run it, so its loop is not the row's."""
    parameters = resolve(PROFILES["quick"])
    modes = select_modes(MODES, ["hypercorn"])
    with_uvloop = interpreter(False)
    without = interpreter(False, tuple(name for name in required_modules(MODES) if name != "uvloop"))
    nothing = interpreter(True, ("uvloop",))  # no hypercorn: never runs it

    def loop(*interpreters: Interpreter) -> str:
        args = mode_listing(modes, parameters, list(interpreters))[0]["args"]
        return args[args.index("--worker-class") + 1]

    assert loop(with_uvloop) == loop(with_uvloop, nothing) == "uvloop"
    assert loop(without) == loop(without, nothing) == "asyncio"
    assert loop(with_uvloop, without) == loop() == "uvloop|asyncio"  # they differ, or none runs it


def test_every_server_is_in_the_demos_dependencies() -> None:
    """pyproject's `demo` extra is the one list the venvs are built from: it names every mode's server."""
    distributions = {
        re.match(r"[\w.-]+", requirement).group().lower().replace("-", "_") for requirement in requirements_for(False)
    }
    assert set(required_modules(MODES)) <= distributions


def test_the_default_profile_plans_11_minutes_on_2_cores_when_every_cell_stops_at_two() -> None:
    """Every mode on a default build (the README's main command where no free-threaded interpreter is found),
    sized for 2 cores: two rounds of the CPU-bound endpoints (more for the cells whose interval is still wide), one
    run of each gateway endpoint at a tenth of its delay."""
    parameters = resolve(PROFILES["default"], server_cpus=[0, 1], client_cpus=[0, 1])
    assert set(parameters.modes) == {mode.id for mode in MODES} and parameters.repeat is None
    groups = build_plan([interpreter(False)], list(MODES), parameters)
    runnable = [group for group in groups if not group.skipped]
    assert len(runnable) == len(MODES)
    least_s, most_s = plan_seconds(groups, parameters), plan_seconds(groups, parameters, most=True)
    assert least_s <= BUDGET_S < most_s
    said = readme_costs()  # the README's minutes are the plan's (they drifted: 17.7 said, 17.8 planned)
    assert (said["least"], said["most"]) == (f"{least_s / 60:.1f}", f"{most_s / 60:.1f}")
    before = resolve(PROFILES["default"], server_cpus=[0, 1], client_cpus=[0, 1], repeat=3, gateway_scale=1.0)
    assert least_s < 0.6 * plan_seconds(build_plan([interpreter(False)], list(MODES), before), before)


def test_with_a_free_threaded_interpreter_the_default_profile_plans_25_minutes() -> None:
    """The running default build plus one free-threaded interpreter under gil=0 and gil=1, two rounds at least."""
    parameters = resolve(PROFILES["default"], server_cpus=[0, 1], client_cpus=[0, 1])
    groups = build_plan([interpreter(False), interpreter(True)], list(MODES), parameters)
    runnable = [group for group in groups if not group.skipped]
    assert len(runnable) == 3 * len(MODES) - sum(1 for mode in MODES if mode.refusal(1))  # granian refuses gil=1
    assert {group.gil for group in runnable} == {None, 0, 1}
    least_s = plan_seconds(groups, parameters)
    assert least_s <= FREE_THREADED_BUDGET_S
    said = readme_costs()  # as the README says them (19.6 once, 19.7 planned)
    assert (said["free_least"], said["free_most"]) == (
        f"{least_s / 60:.1f}",
        f"{plan_seconds(groups, parameters, most=True) / 60:.0f}",
    )


def test_a_blocking_servers_backlog_is_waited_for_up_to_the_delay_and_the_margin_then_restarted() -> None:
    """After a gateway cell the session waits while the server works through the abandoned requests (connections x
    delay / slots) if it answers within the delay plus 5 s, and restarts it otherwise: the estimate counts the same."""
    modes = select_modes(MODES, ["wsgi-sync"])  # one request at a time per worker: 2 workers, 2 slots

    def costs(connections: int) -> list[float]:
        chosen = {"endpoints": ("json", "gateway_1s"), "variants": ("sync",), "gateway_scale": 1.0}
        parameters = resolve(PROFILES["quick"], connections=connections, **chosen)
        (group,) = build_plan([interpreter(False)], modes, parameters)[2:]
        spent = group_seconds(group, list(group.cells), parameters)
        return [cost - cell.window.duration_s - CELL_S for cost, cell in zip(spent, group.cells, strict=True)]

    assert costs(12) == pytest.approx([GROUP_S, 6.0])  # 12 x 1 s / 2 slots = 6 s: due within 1 + 5 s, waited for
    assert costs(14) == pytest.approx([GROUP_S, RESTART_S])  # 7 s: restarted (a short grace and a new server)
    assert GROUP_S > 1.4 and CELL_S > 0.12  # a margin over the medians measured (a server's start and stop, a cell's)
    assert RESTART_S > GROUP_S  # a restart is a new server's start and stop, after a grace for the busy one


def test_the_time_left_is_the_plans_rest_at_the_pace_measured_so_far(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(estimate, "time", SimpleNamespace(monotonic=lambda: now[0]))
    countdown = Countdown(100.0)
    assert countdown.pace() == 1.0 and countdown.left_s() == 100.0  # nothing done yet: the plan as it stands
    now[0] += 10.0
    countdown.advance(20.0)  # 20 planned seconds done in 10: twice the planned pace
    assert countdown.pace() == 0.5 and countdown.left_s() == 40.0
    countdown.extend(20.0)  # an adaptive round added
    assert countdown.left_s() == 50.0
    countdown.advance(200.0)
    assert countdown.left_s() == 0.0  # more done than planned: nothing left, never a negative time


def test_a_gateway_endpoint_runs_on_each_modes_first_server_only() -> None:
    """Its rate is set by the delay and the server's concurrency: measured on the default build, left out (with the
    reason) on the free-threaded build's gil=0 and gil=1 servers, which still repeat the CPU-bound endpoints."""
    parameters = resolve(PROFILES["default"], endpoints=("json", "gateway_1s"))
    assert parameters.gateway_once
    modes = select_modes(MODES, ["wsgi-gthread"])
    groups = build_plan([interpreter(False), interpreter(True)], modes, parameters)
    runnable = [group for group in groups if not group.skipped]
    assert [group.gil for group in runnable] == [None, 0, 1]

    def planned(group, endpoint: str) -> set[tuple[Repetitions, str | None]]:
        return {(cell.repetitions, cell.skipped) for cell in group.cells if cell.endpoint.name == endpoint}

    first, *others = runnable
    adaptive = Repetitions(2, 5)
    assert planned(first, "gateway_1s") == {(Repetitions(1, 1), None)} and planned(first, "json") == {(adaptive, None)}
    for group in others:
        assert planned(group, "gateway_1s") == {(NONE, GATEWAY_ONCE)} and planned(group, "json") == {(adaptive, None)}
    measured = [
        (visit.group.gil, cell.endpoint.name)
        for visit in schedule(groups)
        if not visit.group.skipped
        for cell in visit.cells
        if cell.endpoint.name == "gateway_1s"
    ]
    assert measured == [(None, "gateway_1s")] * 2  # sync and async, once
    everywhere = resolve(PROFILES["default"], endpoints=("json", "gateway_1s"), gateway_once=False)
    groups = build_plan([interpreter(True)], modes, everywhere)
    assert all(cell.skipped is None and cell.repetitions.least >= 1 for group in groups for cell in group.cells)
    alone = build_plan([interpreter(True)], modes, parameters)  # no default build: gil=0 is the first server
    assert [planned(group, "gateway_1s") for group in alone] == [{(Repetitions(1, 1), None)}, {(NONE, GATEWAY_ONCE)}]
    assert not resolve(PROFILES["quick"]).gateway_once and not resolve(PROFILES["original"]).gateway_once


def test_rounds_visit_every_group_and_repeat_only_the_cpu_bound_endpoints() -> None:
    parameters = resolve(PROFILES["quick"], repeat=3, endpoints=("json", "gateway_1s"))
    groups = build_plan([interpreter(False)], select_modes(MODES, ["wsgi-sync", "uvicorn-workers"]), parameters)
    visits = schedule(groups)
    runnable = [group for group in groups if not group.skipped]
    assert [(visit.round, visit.group.mode.id) for visit in visits if not visit.group.skipped] == [
        (1, "wsgi-sync"),
        (1, "uvicorn-workers"),
        (2, "uvicorn-workers"),
        (2, "wsgi-sync"),
        (3, "wsgi-sync"),
        (3, "uvicorn-workers"),
    ]  # every second round backwards
    first, later = next(visit for visit in visits if not visit.group.skipped), visits[-1]
    assert {cell.endpoint.name for cell in later.cells} == {"json"}  # a gateway endpoint runs once
    assert {cell.endpoint.name for cell in first.cells} == {"json", "gateway_1s"}
    assert all(cell.repetitions == Repetitions(1, 1) for group in groups if group.skipped for cell in group.cells)
    assert len(runnable) == 2
    with pytest.raises(ProfileError, match="--repeat must be at least 1"):
        resolve(PROFILES["quick"], repeat=0)
    with pytest.raises(ValueError, match="profile fast: no such parameter repeats"):  # a typo, at import, not at a run
        Profile("fast", {"repeats": 1})


def test_venvs_are_built_at_this_interpreters_versions() -> None:
    """A venv built from the bare list got the newest versions for its Python (Django 6.1.3 on 3.14t beside this
    interpreter's 5.2.20): each requirement this interpreter has installed is pinned to its version; the ones it
    lacks (brotlicffi, for a free-threaded venv) stay as the list says."""
    pinned = {re.match(r"[\w-]+", line).group(): line for line in pinned_to_this_interpreter(requirements_for(True))}
    assert pinned["django"] == f"django=={metadata.version('django')}"
    assert pinned["uvicorn-worker"] == f"uvicorn-worker=={metadata.version('uvicorn-worker')}"
    assert pinned["brotlicffi"] == "brotlicffi>=1.1"
