"""The matrix to run: one server group per (interpreter, mode, GIL setting), one cell per endpoint and variant,
and the rounds that repeat them.

Groups that cannot run are planned too, with the reason, so that the report shows them as skipped
(gil=0 or gil=1 on a default build, a server the interpreter lacks, a GIL setting the server
refuses) or failed (an interpreter whose venv could not be built).
Repetitions run in rounds: each round visits every group that still has a cell to repeat, with a
server started afresh, so that drift and neighbours hit every mode alike. How many rounds an adaptive
run takes is known only as it goes: each cell has its least and most repetitions here.
With ``gateway_once`` (the ``default`` profile) a gateway endpoint runs on each mode's first server only:
its closed-loop rate is set by its delay and the server's concurrency, which neither the interpreter
nor the GIL changes, and its windows (with the waits and restarts after them) would otherwise be two
fifths of a run's plan with a free-threaded interpreter. The GIL comparison is made on the CPU-bound endpoints.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from server_matrix.planning.endpoints import Endpoint
from server_matrix.planning.gil import GilSetting, describe
from server_matrix.planning.interpreters import Interpreter
from server_matrix.planning.modes import ServerMode, loop_values
from server_matrix.planning.modetext import display_title
from server_matrix.planning.parameters import NONE, Parameters, Repetitions
from server_matrix.planning.window import Window

DEFAULT_BUILD_SKIPS = {
    0: "not a free-threaded build: -X gil=0 would abort this interpreter (its one run is the default-build section)",
    1: "not a free-threaded build: it always has the GIL, and its one run is the default-build section",
}
GATEWAY_ONCE = (
    "a gateway endpoint's rate is set by its delay and the server's concurrency, not by the interpreter or the GIL: "
    "measured on each mode's first server only (--gateway-everywhere measures it on every one)"
)


@dataclass(frozen=True)
class CellKey:
    """What identifies a cell across runs into the same results directory."""

    python: str
    mode: str
    gil: GilSetting
    endpoint: str
    variant: str

    @property
    def label(self) -> str:
        return f"{self.mode} {describe(self.gil)} {self.endpoint} {self.variant}"


@dataclass(frozen=True)
class PlannedCell:
    key: CellKey
    endpoint: Endpoint
    variant: str
    window: Window
    repetitions: Repetitions = Repetitions(1, 1)  # NONE for a cell not measured in a group that runs (``skipped``)
    skipped: str | None = None

    @property
    def path(self) -> str:
        return self.endpoint.path(self.variant)


@dataclass(frozen=True)
class ServerGroup:
    """Everything measured against one started server."""

    interpreter: Interpreter
    mode: ServerMode
    gil: GilSetting
    title: str
    cells: tuple[PlannedCell, ...]
    skipped: str | None = None  # the whole group is skipped, with this reason
    error: str | None = None  # the whole group cannot run, with this reason

    @property
    def informational(self) -> str | None:
        return self.mode.informational_under(self.gil)

    def measurement(self, parameters: Parameters) -> dict[str, object]:
        """The settings a cell's numbers depend on: a finished cell is reused only if they are unchanged."""
        return {
            "python_executable": self.interpreter.executable,
            "mode_args": list(self.mode.args),
            **measured_settings(parameters),
        }


def measured_settings(parameters: Parameters) -> dict[str, object]:
    """The run's settings every cell's numbers depend on: the measured parameters, the database the servers use (a
    run into a directory measured on SQLite kept its cells beside PostgreSQL's, under "Database: PostgreSQL") and
    the demo's variables they take from the caller."""
    return {**parameters.measured(), "database": database_identity(), **caller_demo_variables()}


# The demo's variables a server takes from the caller's environment (the run sets DEMO_GATEWAY_SCALE and DEMO_ROWS
# itself) that change a cell's numbers: brotli at DEMO_BROTLI_QUALITY=0 ran 2536 req/s where quality 11, the
# demo's default, runs about 60, and nothing said so; a pool of DEMO_DB_POOL_MAX=1 serialises each process's queries.
CALLER_DEMO_VARIABLES = ("DEMO_BROTLI_QUALITY", "DEMO_DB_POOL_MIN", "DEMO_DB_POOL_MAX", "DEMO_DB_POOL_TIMEOUT")


def caller_demo_variables() -> dict[str, str | None]:
    """Each of CALLER_DEMO_VARIABLES as the servers get it; None where it is unset (the demo's default)."""
    return {name: os.environ.get(name, "").strip() or None for name in CALLER_DEMO_VARIABLES}


def _group(
    interpreter: Interpreter,
    mode: ServerMode,
    gil: GilSetting,
    parameters: Parameters,
    gateway_skipped: str | None,
    **status: str | None,
) -> ServerGroup:
    runs = not any(status.values())
    values = parameters.server_values(port=0)
    at_once = mode.at_once(**values)

    def cell(endpoint: Endpoint, variant: str) -> PlannedCell:
        skipped = gateway_skipped if runs and endpoint.delay_s > 0 else None
        return PlannedCell(
            CellKey(interpreter.requested, mode.id, gil, endpoint.name, variant),
            endpoint,
            variant,
            parameters.window(endpoint, at_once),
            NONE if skipped else parameters.repetitions(endpoint) if runs else Repetitions(1, 1),
            skipped,
        )

    cells = tuple(
        cell(endpoint, variant) for endpoint in parameters.selected_endpoints() for variant in parameters.variants
    )
    title = display_title(mode, original=parameters.original_titles, **values)
    return ServerGroup(interpreter, mode, gil, title, cells, **status)


def _skip_reason(interpreter: Interpreter, mode: ServerMode, gil: GilSetting, build_skip: str | None) -> str | None:
    """Why the group will not run: the build cannot (``build_skip``), the server refuses this GIL setting, or the
    interpreter lacks the server. An interpreter without a venv is an error instead (its group's ``error``)."""
    if build_skip or interpreter.problem:
        return build_skip
    return mode.refusal(gil) or interpreter.missing(mode.requires) or _no_database_driver(interpreter)


# What the demo imports when DATABASE_URL (passed on to every server) asks for PostgreSQL: the `postgres` extra,
# which a free-threaded venv built from the `demo` extra lacks (psycopg[binary] has no free-threaded wheel).
DATABASE_MODULES = ("psycopg", "psycopg_pool")
SQLITE = "sqlite"  # the database of a run without DATABASE_URL: the demo's embedded one


def database_url() -> str:
    """DATABASE_URL as the demo reads it (``demo/settings.py``): stripped, and blank means the embedded SQLite. A
    blank one (``DATABASE_URL=" "``) had the run say "Database: PostgreSQL" and skip every interpreter without
    psycopg while each server used SQLite."""
    return os.environ.get("DATABASE_URL", "").strip()


def database_identity() -> str:
    """Which database the servers use: ``sqlite``, or DATABASE_URL without its password and options
    (``postgresql://demo@127.0.0.1:5432/bench``), which may be written in a report."""
    url = database_url()
    if not url:
        return SQLITE
    parts = urlsplit(url)
    user, at, address = parts.netloc.rpartition("@")
    netloc = f"{user.partition(':')[0]}{at}{address}"
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme  # two names of one database
    return urlunsplit((scheme, netloc, parts.path, "", ""))


def database_modules() -> tuple[str, ...]:
    """The modules every server needs for the database the demo will use: PostgreSQL's driver when DATABASE_URL is
    set (what to ask each interpreter about, beside the servers), nothing for the embedded SQLite."""
    return DATABASE_MODULES if database_url() else ()


def _no_database_driver(interpreter: Interpreter) -> str | None:
    """Why no server can run here with DATABASE_URL set (every one failed to boot on the demo's "psycopg is not
    installed", an error per cell where a server not installed is a skip with the reason), with the command that
    installs the driver into what runs the servers (the venv's python, or the interpreter itself)."""
    absent = [
        name.replace("_", "-")  # what pip installs: psycopg_pool is psycopg-pool's module
        for name in database_modules()
        if interpreter.modules is not None and name not in interpreter.modules
    ]
    if not absent:
        return None
    driver, why = (
        (
            "psycopg",
            " (plain psycopg, on the system's libpq, libpq5 on Debian and Ubuntu: no psycopg[binary] wheel "
            "is built for a free-threaded Python)",
        )
        if interpreter.free_threaded
        else ("'psycopg[binary]'", "")
    )
    return (
        f"DATABASE_URL asks for PostgreSQL, and {', '.join(absent)} {'is' if len(absent) == 1 else 'are'} not "
        f"installed for {interpreter.label}; install {'it' if len(absent) == 1 else 'them'} with "
        f"{interpreter.executable} -m pip install {driver} psycopg-pool{why}"
    )


def build_plan(interpreters: list[Interpreter], modes: list[ServerMode], parameters: Parameters) -> list[ServerGroup]:
    """Groups in report order: by mode, then interpreter, then GIL setting (0, 1, default build)."""
    groups: list[ServerGroup] = []
    for mode in modes:
        gateway_skipped = None  # until the mode's first server that runs
        for interpreter in interpreters:
            if interpreter.free_threaded:
                settings: list[tuple[GilSetting, str | None]] = [(gil, None) for gil in parameters.gil]
            else:
                settings = [(gil, DEFAULT_BUILD_SKIPS[gil]) for gil in parameters.gil] + [(None, None)]
            for gil, build_skip in settings:
                skipped = _skip_reason(interpreter, mode, gil, build_skip)
                group = _group(
                    interpreter, mode, gil, parameters, gateway_skipped, skipped=skipped, error=interpreter.problem
                )
                groups.append(group)
                if parameters.gateway_once and not (group.skipped or group.error):
                    gateway_skipped = GATEWAY_ONCE
    return groups


@dataclass(frozen=True)
class Visit:
    """One group in one round: the cells measured against the server started for it."""

    round: int
    group: ServerGroup
    cells: tuple[PlannedCell, ...]


def round_visits(groups: list[ServerGroup], number: int, wanted: Callable[[PlannedCell], bool]) -> list[Visit]:
    """Round ``number``: every group with a ``wanted`` cell; every second round goes through the groups backwards,
    so that a drift over a round does not always favour the same modes."""
    visits = []
    for group in groups if number % 2 else reversed(groups):
        cells = tuple(cell for cell in group.cells if wanted(cell))
        if cells:
            visits.append(Visit(number, group, cells))
    return visits


def schedule(groups: list[ServerGroup], count: Callable[[Repetitions], int] = lambda rule: rule.least) -> list[Visit]:
    """Every round of the plan with each cell measured ``count(its repetitions)`` times: its least by default (what
    every run measures), its most for the longest a run can take. An adaptive run decides its later rounds as it
    goes (``measuring/runner.py``)."""
    rounds = max((count(cell.repetitions) for group in groups for cell in group.cells), default=0)
    numbers = range(1, rounds + 1)
    return [visit for number in numbers for visit in round_visits(groups, number, _reaching(count, number))]


def _reaching(count: Callable[[Repetitions], int], number: int) -> Callable[[PlannedCell], bool]:
    return lambda cell: count(cell.repetitions) >= number


def mode_listing(
    modes: list[ServerMode], parameters: Parameters, interpreters: list[Interpreter]
) -> list[dict[str, object]]:
    """The modes as results.json lists them: each command line with this run's values (``$PORT`` for the port),
    and the event loop (``{loop}``) of the interpreters that run the mode, as their servers are started with it
    (it read ``uvloop|asyncio`` whatever they had)."""
    return [_listed(mode, parameters, [i.modules for i in interpreters if _runs(i, mode)]) for mode in modes]


def _runs(interpreter: Interpreter, mode: ServerMode) -> bool:
    return not interpreter.problem and interpreter.missing(mode.requires) is None


def _listed(mode: ServerMode, parameters: Parameters, modules: list[tuple[str, ...] | None]) -> dict[str, object]:
    values = parameters.server_values(port="$PORT") | loop_values(*modules)
    return {
        "id": mode.id,
        "title": display_title(mode, original=parameters.original_titles, **values),
        "args": mode.command_args(**values),
        "about": mode.about,
        "meaningful_on": sorted(mode.meaningful_on),
        **({"http2": True} if mode.http2 else {}),
    }
