"""What the report says around its numbers: the environment, the modes' command lines, how to read it, and how
the numbers are computed. Pure: results in, lines out."""

from __future__ import annotations

from collections.abc import Iterable

from demo.distributions import SERVER_STACK
from server_matrix.measuring.results import SKIPPED, Cell, MatrixResults
from server_matrix.planning.modetext import counted
from server_matrix.planning.parameters import MIN_REPEAT
from server_matrix.reporting.numbers import share_text
from server_matrix.reporting.summary import cell_escape
from server_matrix.statistics import flags, stopping
from server_matrix.statistics.changes import run_settings
from server_matrix.statistics.uncertainty import CONFIDENCE, NOISE, POOLED_LEAST_CELLS, RESAMPLES
from server_matrix.statistics.verdicts import AT_BOUND

# (endpoint, variant) whose figures in the original notes are another endpoint's: its URL ran the 1 s view.
MISROUTED_IN_THE_NOTES = ("gateway_3s", "async")
HOW_TO_GET_FREE_THREADED = (
    "`uv python install 3.14t`, `pyenv install 3.14t`, or CPython built with `./configure --disable-gil "
    "--prefix ~/.cache/free-threaded-python/3.14` (any version >= 3.13)"
)


def _caller_text(results: MatrixResults) -> str:
    """``; from the caller's environment: DEMO_BROTLI_QUALITY=0``: the demo's variables the servers inherited."""
    inherited = [f"{name}={value}" for name, value in run_settings(results).items() if name != "database" and value]
    return f"; from the caller's environment: {', '.join(inherited)}" if inherited else ""


def environment_lines(results: MatrixResults) -> list[str]:
    environment, parameters = results.environment, results.parameters
    lines = [
        f"- CPUs: {environment.get('cpu_count')} (available to the runner: {environment.get('cpus_available')}); "
        f"{_pinning_text('server', environment.get('server_cpus'), environment.get('cpus_available'))}, "
        f"{_pinning_text('client', environment.get('client_cpus'), environment.get('cpus_available'))}",
        f"- Platform: {environment.get('platform')}; runner: {environment.get('runner_python')}; "
        f"loadgen {environment.get('loadgen_version')}",
        f"- Database: {environment.get('database')}{_database_version_text(results.cells.values())}",
        f"- Client: loadgen, {counted(parameters.get('client_threads'), 'thread')}, "
        f"{counted(parameters.get('connections'), 'connection')}, "
        f"timeout {parameters.get('timeout_s'):g} s, {_durations_text(results)}",
        f"- Servers: {counted(parameters.get('workers'), 'worker')}, {counted(parameters.get('threads'), 'thread')} "
        "where a mode uses them, "
        f"gunicorn --timeout {parameters.get('server_timeout_s'):g}, "
        f"DEMO_GATEWAY_SCALE={parameters.get('gateway_scale'):g}, "
        f"DEMO_ROWS={parameters.get('rows')} (the rows json_query and template_query serve){_caller_text(results)}",
        "",
        "| Interpreter | Executable | Free-threaded build | " + " | ".join(SERVER_STACK) + " |",
        "|---|---|---|" + "---|" * len(SERVER_STACK),
    ]
    for interpreter in results.interpreters:
        versions = _server_versions(results.cells.values(), interpreter["requested"])
        packages = " | ".join(versions.get(name) or "-" for name in SERVER_STACK)
        venv = f" (venv {interpreter['venv']})" if interpreter.get("venv") else ""
        problem = f" **{interpreter['problem']}**" if interpreter.get("problem") else ""
        lines.append(
            f"| {interpreter['label']} | `{interpreter['executable']}`{venv}{problem} "
            f"| {'yes' if interpreter['free_threaded'] else 'no'} | {packages} |"
        )
    return [*lines, "", *discovery_lines(results)]


def version_difference_lines(results: MatrixResults) -> list[str]:
    """The packages whose versions differ between the interpreters' servers, one installed on one side only too
    (brotli beside a free-threaded venv's brotlicffi: the brotli endpoint compressed with another library): a
    ratio across interpreters measures them too (a venv is built at the runner's versions, but pip may have had
    to take others). An interpreter whose servers reported no versions (none ran) is left out."""
    by_interpreter = {
        interpreter["label"]: versions
        for interpreter in results.interpreters
        if (versions := _server_versions(results.cells.values(), interpreter["requested"]))
    }
    differing = []
    for name in SERVER_STACK:
        seen = {label: versions.get(name) for label, versions in by_interpreter.items()}
        if any(seen.values()) and len(set(seen.values())) > 1:
            said = (f"{version or 'absent'} on {label}" for label, version in seen.items())
            differing.append(f"{name} " + ", ".join(said))
    if not differing:
        return []
    return [
        f"- ⚠ **Versions differ between interpreters** (see *Environment*): {'; '.join(differing)}. A comparison "
        "of modes across interpreters measures these differences too; gil=0 / gil=1 compares one interpreter's "
        "servers and does not."
    ]


def _pinning_text(side: str, cpus: list[int] | None, available: list[int] | None) -> str:
    """``server pinned to [0]``; or ``server not pinned (every CPU the runner may use, [0, 1])``, also when its CPUs
    are all the runner may use: with only ``--client-cpus 1`` the servers are given all of them (the runner's own
    affinity is the client's), and the line said "server pinned to [0, 1]"."""
    if not cpus or cpus == available:
        return f"{side} not pinned (every CPU the runner may use{f', {cpus}' if cpus else ''})"
    return f"{side} pinned to {cpus}"


def discovery_lines(results: MatrixResults) -> list[str]:
    """Where free-threaded interpreters were looked for, and what was found there."""
    discovery = results.environment.get("discovery")
    if not discovery:
        return []
    if not discovery["searched"]:
        return [f"- Free-threaded interpreters were not looked for ({discovery['reason']})."]
    found = "; ".join(f"`{item}`" for item in discovery["found"]) or "none"
    return [f"- Free-threaded interpreters looked for in: {', '.join(discovery['places'])}. Found: {found}."]


def no_gil_comparison(results: MatrixResults) -> str:
    """Why no mode ran under both gil=0 and gil=1. "That needs a free-threaded interpreter" was said also of a run
    that had one, whose cells were skipped (no psycopg in its venv, on PostgreSQL) or failed."""
    if any(interpreter.get("free_threaded") for interpreter in results.interpreters):
        return (
            "a free-threaded interpreter ran, but none of its modes was measured under both: the Summary says which "
            "cells were skipped or failed, and why"
        )
    return "that needs a free-threaded interpreter"


def free_threaded_hint(results: MatrixResults) -> list[str]:
    """The report's first words when no interpreter could answer the GIL question."""
    if any(interpreter.get("free_threaded") for interpreter in results.interpreters):
        return []
    reason = (results.environment.get("discovery") or {}).get("reason")
    if reason == "--no-discover":  # one may be installed: it was not looked for
        advice = "None was looked for (`--no-discover`): run again without it to find one already installed, or "
        advice += f"pass `--python PATH`. To install one: {HOW_TO_GET_FREE_THREADED}."
    elif reason == "--python given":
        advice = "Only the `--python` interpreters ran: pass a free-threaded one too. "
        advice += f"To install one: {HOW_TO_GET_FREE_THREADED}."
    else:
        advice = (
            f"None was found where it was looked for (under Environment): install one with {HOW_TO_GET_FREE_THREADED}, "
            "and run again: it is found without any option (or pass `--python PATH`)."
        )
    return [
        "> **No free-threaded interpreter, so no GIL comparison.** The gil=0 and gil=1 sections need a free-threaded "
        f"CPython. {advice}",
        "",
    ]


def _durations_text(results: MatrixResults) -> str:
    durations: dict[str, float] = {}
    for cell in results.cells.values():
        if cell.status != SKIPPED:
            durations.setdefault(cell.endpoint, cell.window.duration_s)
    if not durations:
        return "no measured cell"
    if len(set(durations.values())) == 1:
        return f"{next(iter(durations.values())):g} s per endpoint"
    return "durations " + ", ".join(f"{name} {seconds:g} s" for name, seconds in durations.items())


def _server_versions(cells: Iterable[Cell], python: str) -> dict[str, str | None]:
    """Package versions as a server of this interpreter reported them (the runtime endpoint)."""
    for cell in cells:
        reports = cell.server.runtime or cell.server.runtime_at_start
        if cell.python == python and reports:
            versions: dict[str, str | None] = reports[0].get("versions", {})
            return versions
    return {}


def _database_version_text(cells: Iterable[Cell]) -> str:
    """``; version 15.18``: the database's, as the servers' runtime endpoint reported it (none before it did)."""
    for cell in cells:
        for report in cell.server.runtime or cell.server.runtime_at_start:
            if version := report.get("database_version"):
                return f"; version {version}"
    return ""


def modes_lines(results: MatrixResults) -> list[str]:
    lines = ["| Mode | Title | Command (after `python [-X gil=N]`) | Concurrency |", "|---|---|---|---|"]
    for mode in results.modes:
        lines.append(
            f"| `{mode['id']}` | {mode['title']} | `{' '.join(mode['args'])}` | {cell_escape(mode['about'])} |"
        )
    return lines


def reading_guide(results: MatrixResults) -> list[str]:
    parameters = results.parameters
    lines = [
        "- Each `##` section below is one server, started once for all its endpoints: a mode, an interpreter and "
        "a GIL setting (`-X gil=N` and `PYTHON_GIL=N` on a free-threaded build; nothing on a default build). "
        "It is restarted only if it died, or if it was still busy with abandoned requests long after a run (or "
        "would have been: its *Server log* line says which).",
        "- The code blocks are loadgen's output, byte for byte what wrk prints for the same run. As in wrk, "
        f"a response slower than the client timeout ({parameters.get('timeout_s'):g} s here) counts as a "
        '"timeout" socket error and is left out of the latency statistics (so the summary writes the p50 and '
        'p99 of a cell with timeouts as "≥", a bound under them), and "read" errors are connections the server '
        "reset or closed.",
        "- **Closed-loop ceiling.** Each connection waits for its response before sending the next request, so "
        "an endpoint that takes *d* seconds cannot exceed connections / *d* requests per second. Within a run "
        "of *D* seconds only the responses that arrive before its end count (at *d*, 2*d*, ...), which lowers "
        "the bound further: a 30 s run of the 10 s endpoint completes 2 rounds, not 3. For the gateway "
        "endpoints the summary shows both bounds and the share of the second that was reached: from "
        f'{share_text(AT_BOUND)} of it on, the server is "at the bound" (it "reached" it, in the findings), '
        "whatever the absolute number. A server that runs fewer requests at once than there are "
        "connections (sync workers: workers; gthread and granian-wsgi: workers x threads) has a lower bound of "
        "its own, that many / *d*, counted within the run the same way: its row shows that one (`own: 4 at once "
        '/ 20 ms = 200 req/s`), and its share is of it, as in the findings ("reached its own bound").',
        "- **GIL asked → reported.** The GIL state is read from the demo's `runtime` endpoint inside the server, "
        "after warm-up and after each run, not inferred from the flags: a C extension without free-threading "
        "support turns the GIL back on when imported. ⚠ marks a server that reported another state than asked.",
        "- **Summary.** One table per endpoint, sync rows then async rows, each fastest first: requests/sec as "
        "`median [low, high]` over the repetitions (*n* of them) with its 95% interval, the coefficient of "
        "variation (CV) across them, and each server's ratio to the fastest (≈: cannot be told apart from it). "
        "Servers that never ran are listed once under the tables, one line per reason.",
        "- **Flags** say that a number may not be the server's (listed under *How the numbers are computed*); "
        "`(1/3)` means one repetition of three raised it. The server's log counts (gunicorn `WORKER TIMEOUT` "
        "lines, worker restarts, tracebacks) are under each run below; the full logs are in `logs/`.",
        '- The original notes\' "with threads" runs were one process: the Uvicorn worker ignores `--threads` and '
        "`-w` defaulted to 1. `asgi-uvicorn-single` is that command; `asgi-threads` is a real one-process, "
        "many-threads server, meaningful only on a free-threaded build with the GIL off.",
    ]
    if any(
        (cell.endpoint, cell.variant) == MISROUTED_IN_THE_NOTES and cell.status != SKIPPED
        for cell in results.cells.values()
    ):
        lines.append(
            "- The original notes' async `gateway_3s` figures are a 1 s endpoint's: the original's URL for it ran "
            'its `gateway_1s` view. Under "with workers" its responses took 1.35 s and 1.48 s on average, inside '
            "the 2 s timeout that every sync `gateway_3s` response exceeded. The demo's async `gateway_3s` sleeps as "
            "long as its sync one (3 s at DEMO_GATEWAY_SCALE=1), so its figures here cannot match those."
        )
    scale = float(parameters.get("gateway_scale", 1.0))
    if scale != 1.0:
        lines.append(
            f"- **Gateway delays are scaled** by DEMO_GATEWAY_SCALE={scale:g}: `gateway_10s` sleeps "
            f"{10 * scale:g} s here, so its numbers are not the 10 s endpoint's."
        )
    if parameters.get("duration_factor"):  # a gateway window is not held to --duration (the default's 1.05 s, 1 s)
        lines.append(
            f"- Each CPU-bound endpoint runs {parameters.get('duration_s'):g} s; a gateway endpoint runs "
            f"{parameters.get('duration_factor'):g} times its delay, in whole seconds, and half a delay more when a "
            "round of responses would be due at the run's end (each endpoint's duration is under *Environment*)."
        )
    return lines


def method_lines(results: MatrixResults) -> list[str]:
    """How the intervals, verdicts and flags are computed: the method in one paragraph, then each flag."""
    parameters = results.parameters
    repeat = parameters.get("repeat")
    gateway_once = (
        "Each gateway endpoint is measured on each mode's first server only: neither the interpreter nor the GIL "
        "changes its closed-loop rate, so the GIL comparison is made on the CPU-bound endpoints. "
        if parameters.get("gateway_once")
        else ""
    )
    scale = parameters.get("gateway_scale", 1.0)
    scaled = (
        f"Its delay is scaled by {scale:g} (`DEMO_GATEWAY_SCALE`): what it must show, whether the server holds "
        "every connection's request at once (Little's law: connections / delay), depends on the server's "
        "concurrency, not on how long each request sleeps, and the shorter delay shows it in the least time "
        "(one full round of responses and a little more). "
        if scale != 1.0
        else ""
    )
    if repeat is None:
        counts = (
            f"adaptive here: each CPU-bound cell runs {MIN_REPEAT} times, then again, one more repetition per round, "
            f"until its {CONFIDENCE:.0%} interval's half-width is within {parameters.get('precision', 0):.0%} of its "
            f"median or it has run {parameters.get('max_repeat')} times; the rounds end when no cell needs more"
            + (
                f", or when another round would take the run past {budget:g} s (`--time-budget`)"
                if (budget := parameters.get("time_budget_s"))
                else ""
            )
        )
    else:
        counts = f"{repeat} here for the CPU-bound endpoints"
    return [
        f"Each cell's requests/sec is the median of its repetitions ({counts}; "
        "a gateway endpoint runs once, since its closed-loop rate is known in advance and the run only checks "
        f"that the server reaches it: a single measurement, with no interval and no verdict). {scaled}{gateway_once}"
        "Repetitions run in rounds, each round visiting every server with a server started afresh, every second "
        "round in reverse order, so that drift and neighbours hit every mode alike. "
        f"The {CONFIDENCE:.0%} interval is a seeded two-level bootstrap ({RESAMPLES} draws): draw the repetitions "
        "with replacement, move each drawn one by its own within-run variation (its per-100 ms request rates "
        "drawn again; for a latency percentile, its rank drawn again), take the median. One repetition gets "
        "no interval at all: its run's own spread says nothing of the next run's. With few, the interval can "
        "reach little further than their values, so a CPU-bound cell's interval is also at least as wide as "
        "the run's spread gives: its median of as many repetitions drawn again from the pooled deviations "
        f"(in log) of every repeated CPU-bound cell of the run from its mean (with at least {POOLED_LEAST_CELLS} "
        "such cells), around its own median; the interval holds both that and the cell's own bootstrap (the two "
        "joined rank by rank, the farther of them at each). "
        "Ratios (a server to the fastest, gil=0 / gil=1, `server-matrix compare`) come from the same draws of "
        f"both cells; a ratio is significant when its interval leaves out 1 and it is more than {NOISE:.0%} away "
        "from 1; a ratio with a single measurement on either side has no interval and is shown, not judged "
        "(`0.98 (once)`), and one of a cell that got no response (0 req/s) to another is `-`. The coefficient of "
        "variation (CV) is across repetitions. Why a cell stopped is beside its number of repetitions (n):",
        "",
        *[f"- `{name}`: {meaning}." for name, meaning in stopping.MEANINGS.items()],
        "",
        "Flags:",
        "",
        *[f"- `{name}`: {meaning}." for name, meaning in flags.MEANINGS.items()],
    ]
