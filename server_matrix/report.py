"""report.md: the findings, a summary per endpoint, the environment and how to read it, then the notes' layout.

The part from ``# Django Workers`` on reproduces the original notes: one ``##`` section per
server (mode and GIL setting), the notes' ``###`` endpoint titles, ``#### Sync`` and
``#### Async``, and loadgen's wrk report in a ``bash`` block (the median repetition's).
Pure: results in, text out.
"""

from __future__ import annotations

from collections.abc import Iterable

import loadgen
from demo.distributions import SERVER_STACK
from server_matrix import flags
from server_matrix.endpoints import ENDPOINTS, VARIANTS
from server_matrix.figures import rate_interval_text, rate_text, ratio_text, share_text
from server_matrix.findings import findings_lines
from server_matrix.results import ERROR, OK, SKIPPED, Cell, MatrixResults
from server_matrix.sections import Section, sections
from server_matrix.uncertainty import CONFIDENCE, NOISE, RESAMPLES, Ratio
from server_matrix.verdicts import AT_BOUND, GilRatio, Race, Verdicts, share_of_bound, verdicts

HOW_TO_GET_FREE_THREADED = (
    "`uv python install 3.14t`, `pyenv install 3.14t`, or CPython built with `./configure --disable-gil "
    "--prefix ~/.cache/free-threaded-python/3.14` (any version >= 3.13)"
)


# -- numbers ---------------------------------------------------------------------------------------


def latency_text(cell: Cell, percentile: float) -> str:
    """The median over the repetitions."""
    latency = cell.latency(percentile)
    return "-" if latency is None else loadgen.format_time_us(round(latency.median))


def errors_text(cell: Cell) -> str:
    """Errors of every repetition added up, by kind."""
    results = [sample.result for sample in cell.samples if sample.result is not None]
    if not results:
        return "-"
    kinds = ("connect", "read", "write", "timeout", "status")
    counts = {kind: sum(getattr(result.errors, kind) for result in results) for kind in kinds}
    for result in results:
        for name, count in result.failures.items():
            counts[name] = counts.get(name, 0) + count
    return ", ".join(f"{name} {count}" for name, count in counts.items() if count) or "0"


def gil_text(cell: Cell) -> str:
    """``0 → off``: the GIL setting asked for, and the state the server reported (``?`` if it did not)."""
    asked = "default" if cell.gil_requested is None else str(cell.gil_requested)
    reported = "?" if cell.gil_reported is None else "on" if cell.gil_reported else "off"
    return f"{asked} → {reported}"


def ceiling_text(cell: Cell) -> str:
    """``3.2 (2.13 in 30 s; 100%, at the bound)``: the bound, the bound within the run, the share reached."""
    if cell.ceiling_rps is None:
        return ""
    window = cell.window_ceiling_rps or cell.ceiling_rps
    text = f"{rate_text(cell.ceiling_rps)} ({rate_text(window)} in {cell.duration_s:g} s"
    rate = cell.rate()
    share = None if rate is None else share_of_bound(cell, rate)
    if share is not None:
        text += f"; {share_text(share)}{', at the bound' if share >= AT_BOUND else ''}"
    return text + ")"


def events_text(cell: Cell) -> str:
    server = cell.server
    counts = (
        (server.worker_timeouts, "worker timeout"),
        (server.worker_restarts, "worker restart"),
        (server.tracebacks, "traceback"),
        (server.gil_reenabled_warnings, "GIL re-enabled warning"),
    )
    parts = [f"{count} {name}{'s' if count > 1 else ''}" for count, name in counts if count]
    if server.restarted:
        parts.append("server restarted after the run")
    return ", ".join(parts)


def rate_cell_text(cell: Cell) -> str:
    """``1234 [1200, 1260]``, or what happened instead."""
    rate = cell.rate()
    if cell.status == OK and rate is not None:
        return rate_interval_text(rate)
    if cell.status == SKIPPED:
        return "skipped"
    return "**error**" + (f" ({rate_interval_text(rate)})" if rate is not None else "")


def flags_text(cell: Cell) -> str:
    """``interference (1/3), unstable``: each flag, with the repetitions that raised it when there are several."""
    runs = len(cell.samples)
    return ", ".join(
        flag if runs == 1 or flag in (flags.UNSTABLE,) else f"{flag} ({count}/{runs})"
        for flag, count in cell.flag_counts().items()
    )


# -- the summary -----------------------------------------------------------------------------------


def _versus_fastest(cell: Cell, race: Race | None) -> str:
    if race is None or cell.informational:
        return ""
    if cell is race.fastest.cell:
        return "fastest"
    change: Ratio | None = next((change for other, change in race.others if other.cell is cell), None)
    if change is None:
        return ""
    return ("≈ " if not change.significant else "") + ratio_text(change, mark=False)


def _rows(all_sections: list[Section], endpoint: str) -> list[tuple[Section, Cell]]:
    """The endpoint's cells, sync then async, each fastest first; failed cells last."""

    def order(pair: tuple[Section, Cell]) -> tuple[int, int, float]:
        cell = pair[1]
        rate = cell.rate()
        return VARIANTS.index(cell.variant), cell.status != OK, -(rate.median if rate else 0.0)

    rows = [
        (section, cell)
        for section in all_sections
        if section.shared_outcome is None
        for cell in section.cells
        if cell.endpoint == endpoint and cell.status != SKIPPED
    ]
    return sorted(rows, key=order)


def endpoint_table(all_sections: list[Section], endpoint: str, races: dict[tuple[str, str], Race]) -> list[str]:
    gateway = any(cell.ceiling_rps is not None for _, cell in _rows(all_sections, endpoint))
    comparison = "Closed-loop ceiling, req/s (within the run; share)" if gateway else "vs fastest [95% CI]"
    lines = [
        f"| Server | Variant | Requests/sec [95% CI] | n | CV | {comparison} | p50 | p99 | Errors "
        "| GIL asked → reported | Flags |",
        "|---|---|---:|---:|---:|---|---:|---:|---|---|---|",
    ]
    for section, cell in _rows(all_sections, endpoint):
        rate = cell.rate()
        cv = "-" if rate is None or rate.cv is None else f"{rate.cv:.0%}"
        versus = ceiling_text(cell) if gateway else _versus_fastest(cell, races.get((endpoint, cell.variant)))
        label = section.label + (" *(informational)*" if cell.informational else "")
        lines.append(
            f"| {label} | {cell.variant} | {rate_cell_text(cell)} | {len(cell.measured_results())} | {cv} "
            f"| {versus} | {latency_text(cell, 50)} | {latency_text(cell, 99)} | {errors_text(cell)} "
            f"| {gil_text(cell)}{' ⚠' if cell.gil_mismatch else ''} | {flags_text(cell)} |"
        )
    return lines


def gil_table(ratios: tuple[GilRatio, ...]) -> list[str]:
    """Every gil=0 / gil=1 ratio of requests/sec, with its interval and the mark when it is significant."""
    if not ratios:
        return []
    lines = [
        "### GIL: gil=0 / gil=1",
        "",
        "| Server | Endpoint | Variant | gil=0 / gil=1 [95% CI] | Significant |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {entry.label} | {entry.endpoint} | {entry.variant} | {ratio_text(entry.ratio)} "
        f"| {'yes' if entry.ratio.significant else 'no'} |"
        for entry in ratios
    ]
    return [*lines, ""]


def summary_lines(all_sections: list[Section], found: Verdicts) -> list[str]:
    """One table per endpoint, the GIL ratios, then one line per reason for the servers that never ran."""
    by_key = {(race.endpoint, race.variant): race for race in found.races}
    lines = []
    for endpoint in ENDPOINTS:
        if any(cell.endpoint == endpoint.name for _, cell in _rows(all_sections, endpoint.name)):
            lines += [
                f"### {endpoint.name}: {endpoint.title}",
                "",
                *endpoint_table(all_sections, endpoint.name, by_key),
                "",
            ]
    return lines + gil_table(found.gil_ratios) + outcome_lines(all_sections)


def outcome_lines(all_sections: list[Section]) -> list[str]:
    """``**Skipped** (reason): a, b``: the servers with no cell run, then the endpoints skipped on servers that ran
    (``**Skipped** gateway_1s, gateway_3s (reason): c, d``), one line per outcome, reason and endpoints."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for section in all_sections:
        if section.shared_outcome is not None:
            status, reason, _ = section.shared_outcome
            grouped.setdefault((status, reason or "", ""), []).append(section.label)
            continue
        skipped: dict[str, list[str]] = {}
        for cell in section.cells:
            if cell.status == SKIPPED:
                endpoints = skipped.setdefault(cell.reason or "", [])
                if cell.endpoint not in endpoints:
                    endpoints.append(cell.endpoint)
        for reason, endpoints in skipped.items():
            grouped.setdefault((SKIPPED, reason, ", ".join(endpoints)), []).append(section.label)
    lines = [
        f"**{'Skipped' if status == SKIPPED else 'Failed'}**{f' {endpoints}' if endpoints else ''} "
        f"({_cell_escape(reason)}): {', '.join(f'`{label}`' for label in labels)}."
        for (status, reason, endpoints), labels in grouped.items()
    ]
    return [line for pair in zip(lines, [""] * len(lines), strict=True) for line in pair]


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
    return [
        f"> **No free-threaded interpreter, so no GIL comparison.** The gil=0 and gil=1 sections need a "
        f"free-threaded CPython: install one with {HOW_TO_GET_FREE_THREADED}, and run again: it is found "
        "without any option (or pass `--python PATH`).",
        "",
    ]


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
            versions: dict[str, str | None] = reports[0].get("versions", {})
            return versions
    return {}


def modes_lines(results: MatrixResults) -> list[str]:
    lines = ["| Mode | Title | Command (after `python [-X gil=N]`) | Concurrency |", "|---|---|---|---|"]
    for mode in results.modes:
        lines.append(
            f"| `{mode['id']}` | {mode['title']} | `{' '.join(mode['args'])}` | {_cell_escape(mode['about'])} |"
        )
    return lines


def reading_guide(results: MatrixResults) -> list[str]:
    parameters = results.parameters
    lines = [
        "- Each `##` section below is one server, started once for all its endpoints: a mode, an interpreter and "
        "a GIL setting (`-X gil=N` and `PYTHON_GIL=N` on a free-threaded build; nothing on a default build). "
        "It is restarted only if it died, or if it was still busy with abandoned requests long after a run.",
        "- The code blocks are loadgen's output, byte for byte what wrk prints for the same run. As in wrk, "
        f"a response slower than the client timeout ({parameters.get('timeout_s'):g} s here) counts as a "
        '"timeout" socket error and is left out of the latency statistics, and "read" errors are '
        "connections the server reset or closed.",
        "- **Closed-loop ceiling.** Each connection waits for its response before sending the next request, so "
        "an endpoint that takes *d* seconds cannot exceed connections / *d* requests per second. Within a run "
        "of *D* seconds only the responses that arrive before its end count (at *d*, 2*d*, ...), which lowers "
        "the bound further: a 30 s run of the 10 s endpoint completes 2 rounds, not 3. For the gateway "
        "endpoints the summary shows both bounds and the share of the second that was reached: 100% is "
        '"at the bound", whatever the absolute number. A server that runs fewer requests at once (sync '
        "workers: workers; gthread: workers x threads) has a lower bound of its own.",
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
    scale = float(parameters.get("gateway_scale", 1.0))
    if scale != 1.0:
        lines.append(
            f"- **Gateway delays are scaled** by DEMO_GATEWAY_SCALE={scale:g}: `gateway_10s` sleeps "
            f"{10 * scale:g} s here, so its numbers are not the 10 s endpoint's."
        )
    if parameters.get("duration_factor"):
        lines.append(
            f"- Each endpoint runs for at least {parameters.get('duration_factor'):g} times its latency "
            f"and at least {parameters.get('duration_s'):g} s."
        )
    return lines


def _fenced(language: str, text: str) -> list[str]:
    return [f"```{language}", text.rstrip("\n"), "```"]


def cell_lines(cell: Cell) -> list[str]:
    """One ``####`` block: the wrk report, then anything that went wrong."""
    lines = [f"#### {cell.variant.capitalize()}", ""]
    result = cell.result
    if result is not None:
        lines += [*_fenced("bash", loadgen.wrk_report(result)), ""]
    if len(cell.samples) > 1:
        lines += [repetitions_text(cell), ""]
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


def repetitions_text(cell: Cell) -> str:
    """Which repetition the block shows, and every repetition's requests/sec."""
    shown = cell.representative
    rates = ", ".join(
        rate_text(sample.requests_per_sec) if sample.requests_per_sec is not None else sample.status
        for sample in cell.samples
    )
    which = "the first that failed" if shown.status == ERROR else "the median by requests/sec"
    number = cell.samples.index(shown) + 1
    return f"Repetition {number} of {len(cell.samples)} ({which}); requests/sec of each: {rates}."


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


def method_lines(results: MatrixResults) -> list[str]:
    """How the intervals, verdicts and flags are computed: the method in one paragraph, then each flag."""
    repeat = results.parameters.get("repeat", 1)
    gateway_once = (
        "Each gateway endpoint is measured on each mode's first server only: neither the interpreter nor the GIL "
        "changes its closed-loop rate, so the GIL comparison is made on the CPU-bound endpoints. "
        if results.parameters.get("gateway_once")
        else ""
    )
    return [
        f"Each cell's requests/sec is the median of its repetitions ({repeat} here for the CPU-bound endpoints; "
        "a gateway endpoint runs once, since its closed-loop rate is known in advance and the run only checks "
        f"that the server reaches it). {gateway_once}"
        "Repetitions run in rounds, each round visiting every server with a server started afresh, every second "
        "round in reverse order, so that drift and neighbours hit every mode alike. "
        f"The {CONFIDENCE:.0%} interval is a seeded two-level bootstrap ({RESAMPLES} draws): draw the repetitions "
        "with replacement, move each drawn one by its own within-run variation (its per-100 ms request rates "
        "drawn again; for a latency percentile, its rank drawn again), take the median. With one repetition "
        "the interval is within-run only: it says nothing of run-to-run variation. With three, it can reach no "
        "further than the three values: it is close to their range, and two cells are told apart only when "
        "their ranges do not overlap, which happens by chance to two identical servers about once in ten. "
        "Ratios (a server to the fastest, gil=0 / gil=1, `server-matrix compare`) come from the same draws of "
        f"both cells; a ratio is significant when its interval leaves out 1 and it is more than {NOISE:.0%} away "
        "from 1. The coefficient of variation (CV) is across repetitions.",
        "",
        *[f"- `{name}`: {meaning}." for name, meaning in flags.MEANINGS.items()],
    ]


def render_report(results: MatrixResults) -> str:
    parameters = results.parameters
    all_sections = sections(results)
    found = verdicts(results)
    cells = results.cells.values()
    state = (
        "complete"
        if results.complete
        else "interrupted: only the finished cells are shown"
        if results.interrupted
        else "incomplete"
    )
    wall = f", {results.wall_time_s / 60:.1f} min" if results.wall_time_s is not None else ""
    lines = [
        f"# Server matrix: `{parameters.get('profile')}` profile",
        "",
        *free_threaded_hint(results),
        f"{results.started_at} → {results.updated_at}{wall}; {state}. "
        f"{sum(c.status == OK for c in cells)} cells ran, {sum(c.status == ERROR for c in cells)} failed, "
        f"{sum(c.status == SKIPPED for c in cells)} skipped.",
        "",
        "## Findings",
        "",
        *findings_lines(results, found),
        "",
        "## Summary",
        "",
        *summary_lines(all_sections, found),
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
        "### How the numbers are computed",
        "",
        *method_lines(results),
        "",
        "# Django Workers",
    ]
    for section in all_sections:
        lines += section_lines(section)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"
