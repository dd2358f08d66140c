"""report.md: a summary, the environment and how to read it, then the notes' own layout, cell by cell.

The part from ``# Django Workers`` on reproduces the original notes: one ``##`` section per
server (mode and GIL setting), the notes' ``###`` endpoint titles, ``#### Sync`` and
``#### Async``, and loadgen's wrk report in a ``bash`` block. Pure: results in, text out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import loadgen
from loadgen import format_time_us
from server_matrix.endpoints import ENDPOINTS, VARIANTS
from server_matrix.gil import describe, heading_suffix
from server_matrix.results import ERROR, OK, SKIPPED, Cell, MatrixResults

GIL_ORDER = {0: 0, 1: 1, None: 2}
AT_BOUND = 0.9  # a closed loop at >= 90% of connections / delay is "at the bound"
REPORTED_PACKAGES = ("django", "asgiref", "gunicorn", "uvicorn", "uvicorn-worker", "uvloop", "httptools",
                     "granian", "hypercorn", "daphne", "brotli", "brotlicffi")
HOW_TO_GET_FREE_THREADED = (
    "`uv python install 3.14t`, `pyenv install 3.14t`, or CPython built with `./configure --disable-gil "
    "--prefix ~/.cache/free-threaded-python/3.14` (any version >= 3.13)"
)


@dataclass(frozen=True)
class Section:
    """The cells measured against one server: one ``##`` heading."""

    heading: str
    label: str  # short, for the summary table
    cells: tuple[Cell, ...]

    @property
    def shared_outcome(self) -> tuple[str, str | None, str | None] | None:
        """(status, reason, log tail) when no cell ran and all failed or were skipped alike."""
        outcomes = {(cell.status, cell.reason, cell.log_tail) for cell in self.cells}
        if len(outcomes) == 1 and all(cell.status != OK and cell.result is None for cell in self.cells):
            return next(iter(outcomes))
        return None


def sections(results: MatrixResults) -> list[Section]:
    """Cells grouped by server, in report order: mode, interpreter, GIL setting; endpoints as in the notes."""
    mode_order = {mode["id"]: index for index, mode in enumerate(results.modes)}
    python_order = {entry["requested"]: index for index, entry in enumerate(results.interpreters)}
    endpoint_order = {endpoint.name: index for index, endpoint in enumerate(ENDPOINTS)}
    several_pythons = len({cell.python for cell in results.cells.values()}) > 1
    grouped: dict[tuple, list[Cell]] = {}
    for cell in results.cells.values():
        grouped.setdefault((cell.python, cell.mode, cell.gil_requested), []).append(cell)

    def section_order(key: tuple) -> tuple:
        python, mode, gil = key
        return mode_order.get(mode, len(mode_order)), python_order.get(python, len(python_order)), GIL_ORDER[gil]

    found = []
    for key in sorted(grouped, key=section_order):
        cells = sorted(grouped[key], key=lambda c: (endpoint_order.get(c.endpoint, 99), VARIANTS.index(c.variant)))
        first = cells[0]
        build = "t" if first.free_threaded_build else ""
        python = f" [Python {first.python_version}{build}]" if several_pythons else ""
        found.append(Section(f"{first.mode_title} {heading_suffix(first.gil_requested)}{python}",
                             f"{first.mode} {describe(first.gil_requested)}{python}", tuple(cells)))
    return found


# -- numbers ---------------------------------------------------------------------------------------


def latency_text(cell: Cell, percentile: float) -> str:
    result = cell.loadgen_result
    if result is None or result.latency.count == 0:
        return "-"
    return format_time_us(result.latency.percentile(percentile))


def errors_text(cell: Cell) -> str:
    result = cell.loadgen_result
    if result is None:
        return "-"
    errors = result.errors
    parts = [f"{name} {count}" for name, count in (("connect", errors.connect), ("read", errors.read),
                                                    ("write", errors.write), ("timeout", errors.timeout),
                                                    ("status", errors.status)) if count]
    parts += [f"{name} {count}" for name, count in sorted(result.failures.items())]
    return ", ".join(parts) or "0"


def gil_text(cell: Cell) -> str:
    """``0 → off``: the GIL setting asked for, and the state the server reported (``?`` if it did not)."""
    asked = "default" if cell.gil_requested is None else str(cell.gil_requested)
    reported = "?" if cell.gil_reported is None else "on" if cell.gil_reported else "off"
    return f"{asked} → {reported}"


def _rate(value: float) -> str:
    """Three significant digits without exponents: 3.2, 21.3, 1,333."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def ceiling_text(cell: Cell) -> str:
    """``3.2 (2.13 in 30 s; 100%, at the bound)``: the bound, the bound within the run, the share reached."""
    if cell.ceiling_rps is None:
        return ""
    window = cell.window_ceiling_rps or cell.ceiling_rps
    text = f"{_rate(cell.ceiling_rps)} ({_rate(window)} in {cell.duration_s:g} s"
    result = cell.loadgen_result
    if result is not None:
        share = result.requests_per_sec / window
        text += f"; {share:.0%}{', at the bound' if share >= AT_BOUND else ''}"
    return text + ")"


def events_text(cell: Cell) -> str:
    server = cell.server
    counts = ((server.worker_timeouts, "worker timeout"), (server.worker_restarts, "worker restart"),
              (server.tracebacks, "traceback"), (server.gil_reenabled_warnings, "GIL re-enabled warning"))
    parts = [f"{count} {name}{'s' if count > 1 else ''}" for count, name in counts if count]
    if server.restarted:
        parts.append("server restarted after the run")
    return ", ".join(parts)


def status_text(cell: Cell) -> str:
    if cell.status == OK:
        return f"{cell.loadgen_result.requests_per_sec:.2f}"
    return "skipped" if cell.status == SKIPPED else "**error**"


# -- the parts of the report -----------------------------------------------------------------------


def summary_table(all_sections: list[Section]) -> list[str]:
    lines = [
        "| Server | Endpoint | Variant | Requests/sec | p50 | p99 | Errors | GIL asked → reported "
        "| Closed-loop ceiling, req/s (within the run; share) | Server log |",
        "|---|---|---|---:|---:|---:|---|---|---|---|",
    ]
    for section in all_sections:
        if section.shared_outcome is not None:
            status, reason, _ = section.shared_outcome
            lines.append(f"| {section.label} | all | | {status} | | | | | | {_cell_escape(reason or '')} |")
            continue
        for cell in section.cells:
            rps = status_text(cell)
            if cell.status == ERROR and cell.loadgen_result is not None:
                rps = f"**error** ({cell.loadgen_result.requests_per_sec:.2f})"
            lines.append(f"| {section.label} | {cell.endpoint} | {cell.variant} | {rps} | {latency_text(cell, 50)} "
                         f"| {latency_text(cell, 99)} | {errors_text(cell)} "
                         f"| {gil_text(cell)}{' ⚠' if cell.gil_mismatch else ''} "
                         f"| {ceiling_text(cell)} "
                         f"| {_cell_escape(events_text(cell))} |")
    return lines


def _cell_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def environment_lines(results: MatrixResults) -> list[str]:
    environment, parameters = results.environment, results.parameters
    lines = [
        f"- CPUs: {environment.get('cpu_count')} (available to the runner: {environment.get('cpus_available')}); "
        f"server pinned to {environment.get('server_cpus') or 'no CPU (shares all)'}, "
        f"client pinned to {environment.get('client_cpus') or 'no CPU (shares all)'}",
        f"- Platform: {environment.get('platform')}; runner: {environment.get('runner_python')}; "
        f"loadgen {environment.get('loadgen_version')}",
        f"- Database: {environment.get('database')}",
        f"- Client: loadgen, {parameters.get('client_threads')} threads, {parameters.get('connections')} connections, "
        f"timeout {parameters.get('timeout_s'):g} s, {_durations_text(results)}",
        f"- Servers: {parameters.get('workers')} workers, {parameters.get('threads')} threads where a mode uses them, "
        f"gunicorn --timeout {parameters.get('server_timeout_s'):g}, "
        f"DEMO_GATEWAY_SCALE={parameters.get('gateway_scale'):g}",
        "",
        "| Interpreter | Executable | Free-threaded build | " + " | ".join(REPORTED_PACKAGES) + " |",
        "|---|---|---|" + "---|" * len(REPORTED_PACKAGES),
    ]
    for interpreter in results.interpreters:
        versions = _server_versions(results.cells.values(), interpreter["requested"])
        packages = " | ".join(versions.get(name) or "-" for name in REPORTED_PACKAGES)
        venv = f" (venv {interpreter['venv']})" if interpreter.get("venv") else ""
        problem = f" **{interpreter['problem']}**" if interpreter.get("problem") else ""
        lines.append(f"| {interpreter['label']} | `{interpreter['executable']}`{venv}{problem} "
                     f"| {'yes' if interpreter['free_threaded'] else 'no'} | {packages} |")
    return [*lines, "", *discovery_lines(results)]


def discovery_lines(results: MatrixResults) -> list[str]:
    """Where free-threaded interpreters were looked for, and what was found there."""
    discovery = results.environment.get("discovery")
    if not discovery:
        return []
    if not discovery["searched"]:
        return [f"- Free-threaded interpreters were not looked for ({discovery['reason']})."]
    found = "; ".join(f"`{item}`" for item in discovery["found"]) or "none"
    return [f"- Free-threaded interpreters looked for in: {', '.join(discovery['places'])}. Found: {found}."]


def free_threaded_hint(results: MatrixResults) -> list[str]:
    """The report's first words when no interpreter could answer the GIL question."""
    if any(interpreter.get("free_threaded") for interpreter in results.interpreters):
        return []
    return [f"> **No free-threaded interpreter, so no GIL comparison.** The gil=0 and gil=1 sections need a "
            f"free-threaded CPython: install one with {HOW_TO_GET_FREE_THREADED}, and run again: it is found "
            "without any option (or pass `--python PATH`).", ""]


def _durations_text(results: MatrixResults) -> str:
    durations: dict[str, float] = {}
    for cell in results.cells.values():
        if cell.status != SKIPPED:
            durations.setdefault(cell.endpoint, cell.duration_s)
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
            return reports[0].get("versions", {})
    return {}


def modes_lines(results: MatrixResults) -> list[str]:
    lines = ["| Mode | Title | Command (after `python [-X gil=N]`) | Concurrency |", "|---|---|---|---|"]
    for mode in results.modes:
        command = " ".join(mode["args"])
        lines.append(f"| `{mode['id']}` | {mode['title']} | `{command}` | {_cell_escape(mode['about'])} |")
    return lines


def reading_guide(results: MatrixResults) -> list[str]:
    parameters = results.parameters
    lines = [
        "- Each `##` section below is one server, started once for all its endpoints: a mode, an interpreter and "
        "a GIL setting (`-X gil=N` and `PYTHON_GIL=N` on a free-threaded build; nothing on a default build). "
        "It is restarted only if it died, or if it was still busy with abandoned requests long after a run.",
        "- The code blocks are loadgen's output, byte for byte what wrk prints for the same run. As in wrk, "
        f"a response slower than the client timeout ({parameters.get('timeout_s'):g} s here) counts as a "
        "\"timeout\" socket error and is left out of the latency statistics, and \"read\" errors are "
        "connections the server reset or closed.",
        "- **Closed-loop ceiling.** Each connection waits for its response before sending the next request, so "
        "an endpoint that takes *d* seconds cannot exceed connections / *d* requests per second. Within a run "
        "of *D* seconds only the responses that arrive before its end count (at *d*, 2*d*, ...), which lowers "
        "the bound further: a 30 s run of the 10 s endpoint completes 2 rounds, not 3. For the gateway "
        "endpoints the summary shows both bounds and the share of the second that was reached: 100% is "
        "\"at the bound\", whatever the absolute number. A server that runs fewer requests at once (sync "
        "workers: workers; gthread: workers x threads) has a lower bound of its own.",
        "- **GIL asked → reported.** The GIL state is read from the demo's `runtime` endpoint inside the server, "
        "after warm-up and after each run, not inferred from the flags: a C extension without free-threading "
        "support turns the GIL back on when imported. ⚠ marks a server that reported another state than asked.",
        "- **Server log** counts gunicorn `WORKER TIMEOUT` lines, worker restarts (`Booting worker` beyond the "
        "initial ones) and tracebacks during each run; the full logs are in `logs/`.",
        "- The original notes' \"with threads\" runs were one process: the Uvicorn worker ignores `--threads` and "
        "`-w` defaulted to 1. `asgi-uvicorn-single` is that command; `asgi-threads` is a real one-process, "
        "many-threads server, meaningful only on a free-threaded build with the GIL off.",
    ]
    if parameters.get("gateway_scale") != 1.0:
        lines.append(f"- **Gateway delays are scaled** by DEMO_GATEWAY_SCALE={parameters.get('gateway_scale'):g}: "
                     "`gateway_10s` sleeps "
                     f"{10 * parameters.get('gateway_scale'):g} s here, so its numbers are not the 10 s endpoint's.")
    if parameters.get("duration_factor"):
        lines.append(f"- Each endpoint runs for at least {parameters.get('duration_factor'):g} times its latency "
                     f"and at least {parameters.get('duration_s'):g} s.")
    return lines


def _fenced(language: str, text: str) -> list[str]:
    return [f"```{language}", text.rstrip("\n"), "```"]


def cell_lines(cell: Cell) -> list[str]:
    """One ``####`` block: the wrk report, then anything that went wrong."""
    lines = [f"#### {cell.variant.capitalize()}", ""]
    result = cell.loadgen_result
    if result is not None:
        lines += [*_fenced("bash", loadgen.wrk_report(result)), ""]
    if cell.status == SKIPPED:
        lines += [f"*Skipped: {cell.reason}*", ""]
    elif cell.status == ERROR:
        lines += [f"**Error:** {cell.reason}", ""]
        if cell.log_tail:
            lines += ["Server log (last lines):", "", *_fenced("text", cell.log_tail), ""]
    events = events_text(cell)
    if events:
        lines += [f"Server log: {events}.", ""]
    if cell.gil_mismatch:
        lines += [f"⚠ GIL asked → reported: {gil_text(cell)}, not what was asked for.", ""]
    return lines


def section_lines(section: Section) -> list[str]:
    lines = [f"## {section.heading}", ""]
    shared = section.shared_outcome
    if shared is not None:
        status, reason, log_tail = shared
        lines += [f"*Skipped: {reason}*" if status == SKIPPED else f"**Error:** {reason}", ""]
        if log_tail:
            lines += ["Server log (last lines):", "", *_fenced("text", log_tail), ""]
        return lines
    informational = section.cells[0].informational
    if informational:
        lines += [f"*Informational: {informational}.*", ""]
    endpoint_title = None
    for cell in section.cells:
        if cell.endpoint_title != endpoint_title:
            endpoint_title = cell.endpoint_title
            lines.append(f"### {endpoint_title}")
        lines += cell_lines(cell)
    return lines


def render_report(results: MatrixResults) -> str:
    parameters = results.parameters
    all_sections = sections(results)
    state = ("complete" if results.complete else
             "interrupted: only the finished cells are shown" if results.interrupted else "incomplete")
    wall = f", {results.wall_time_s / 60:.1f} min" if results.wall_time_s is not None else ""
    lines = [
        f"# Server matrix: `{parameters.get('profile')}` profile",
        "",
        *free_threaded_hint(results),
        f"{results.started_at} → {results.updated_at}{wall}; {state}. "
        f"{sum(c.status == OK for c in results.cells.values())} cells ran, "
        f"{sum(c.status == ERROR for c in results.cells.values())} failed, "
        f"{sum(c.status == SKIPPED for c in results.cells.values())} skipped.",
        "",
        "## Summary",
        "",
        *summary_table(all_sections),
        "",
        *[f"**Warning:** {warning}" for warning in results.warnings],
        *([""] if results.warnings else []),
        "## Environment",
        "",
        *environment_lines(results),
        "",
        "## Modes",
        "",
        *modes_lines(results),
        "",
        "## How to read this report",
        "",
        *reading_guide(results),
        "",
        "# Django Workers",
    ]
    for section in all_sections:
        lines += section_lines(section)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"
