"""The HTML report: one self-contained page for a person, from one or several results.

The settings, wrk's summary, what the command said on stderr after the run, the latency
percentile spectrum, the run second by second, the latency phases, status codes and errors,
and for runs with several targets a row per target and result, side by side. Charts are inline
SVG (:mod:`.charts`), styles are inline: the file opens offline and fetches nothing. Several
results share each chart's axes. The page fits a 1400 px window whatever it holds (long URLs and
details wrap, a table too wide scrolls inside its own box), and error reasons are grouped, so a
server that sends a different malformed response every time makes a page of bounded size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from html import escape
from string import Template

from .._stats.stats import Distribution
from ..measurement import ErrorReason
from ..result import Result
from ..settings import Settings
from ..thresholds import Verdict
from . import totals_text
from .charts import Named, short_names, spectrum_svg, timeline_svg
from .diagnosis import diagnose
from .figures import carried_text, rate_text, short_time
from .targets import ERROR_KINDS, error_text, status_text
from .verdicts import threshold_line

__all__ = ["html_report"]

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>loadgen report: $title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
.table { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { padding: 0.2em 0.8em; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
td.n { text-align: right; }
h3, .wrap { overflow-wrap: anywhere; }
pre { background: #f6f6f6; padding: 0.8em; white-space: pre-wrap; overflow-wrap: anywhere; }
.summaries { display: flex; flex-wrap: wrap; gap: 0 2em; }
.summaries > div { min-width: 0; max-width: 100%; }
figure { margin: 0; } figure svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>loadgen report</h1>
$sections
</body>
</html>
""")
PHASE_PERCENTILES = (50.0, 90.0, 99.0, 99.9)
DETAILS_SHOWN = 5  # per cause: the most frequent details, then one row counting the others
DETAIL_CHARACTERS = 200
LONG_WORD = 24  # characters: a word longer than this may be broken anywhere


def _cell(value: object, figures_right: bool = True, tag: str = "td") -> str:
    """A cell; figures (they start with a digit) align right, text left, and a long word (a URL,
    a malformed response's detail, a column named by its URL) may break anywhere rather than
    widen the page."""
    text = str(value)
    if figures_right and text[:1].isdigit():
        return f'<{tag} class="n">{escape(text)}</{tag}>'
    if any(len(word) > LONG_WORD for word in text.split()):
        return f'<{tag} class="wrap">{escape(text)}</{tag}>'
    return f"<{tag}>{escape(text)}</{tag}>"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], *, figures_right: bool = True) -> str:
    head = "".join(_cell(cell, figures_right=False, tag="th") for cell in header)
    body = "".join("<tr>" + "".join(_cell(cell, figures_right) for cell in row) + "</tr>" for row in rows)
    return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{escape(title)}</h2>\n{''.join(parts)}\n</section>"


def _mode(result: Result) -> str:
    run = result.runs[0]
    if run.stages:
        return "rate stages, " + ", ".join(
            f"{seconds:g}s to {rate_text(target)} req/s" for seconds, target in run.stages
        )
    if run.stages_connections:
        return "closed loop, connection stages, " + ", ".join(f"{s:g}s to {t:g}" for s, t in run.stages_connections)
    return f"constant rate, {rate_text(result.rate or 0)} req/s" if result.paced else "closed loop"


def _protocol(result: Result) -> str:
    """What the connections spoke, and over HTTP/2 the requests they carried at once: ``-c`` alone
    reads as a quarter of the ``-c 4 x --streams 4 = 16`` in flight."""
    streams = result.runs[0].streams
    if streams == 1:
        return result.protocol
    return f"{result.protocol}, {carried_text(result.connections, streams, result.streams_capped)}"


def _each_run(result: Result, value: Callable[[Settings], Iterable[str]]) -> str:
    """What the runs added into the result say, each once: the first run's alone would stand for
    the others, which ``merge --force`` lets differ."""
    return ", ".join(dict.fromkeys(said for run in result.runs for said in value(run)))


def _methods(run: Settings) -> list[str]:
    """The method, or with ``--targets`` the targets' (``-m``'s GET, which they replace, read as
    every request's in a run of POSTs too)."""
    return [target.method for target in run.targets] if run.targets else [run.method]


SETTINGS: tuple[tuple[str, Callable[[Result], object]], ...] = (
    ("URL", lambda r: _each_run(r, lambda run: [run.title])),
    ("mode", _mode),
    ("threads", lambda r: r.threads),
    ("connections", lambda r: r.connections),
    ("protocol", _protocol),
    ("runtime", lambda r: f"{r.runtime_s:.2f}s" + (", interrupted" if r.interrupted else "")),
    ("timeout", lambda r: _each_run(r, lambda run: [f"{run.timeout:g}s"])),
    ("method", lambda r: _each_run(r, _methods)),
    ("requests", lambda r: f"{r.requests:,}"),
    ("requests/sec", lambda r: rate_text(r.requests_per_sec)),
    ("event loop", lambda r: r.loop),
)


def _settings(results: Named) -> str:
    """One row per setting, one column per result: as many results as the errors table holds
    fit the page, and a long URL wraps in its column."""
    rows = [(setting, *(value(result) for _, result in results)) for setting, value in SETTINGS]
    return _table(("", *(name for name, _ in results)), rows, figures_right=False)


def _summaries(results: Named) -> str:
    """The report with its latency distribution, as ``--latency`` prints it (wrk2's, with its
    percentile spectrum, for a constant-rate run); a run of targets' table is the page's own
    section, which has each target's errors by kind and its results side by side."""
    return (
        '<div class="summaries">'
        + "".join(
            f"<div><h3>{escape(name)}</h3><pre>{escape(totals_text(result, latency=True))}</pre></div>"
            for name, result in results
        )
        + "</div>"
    )


def _noticed(results: Named, verdicts: Sequence[Sequence[Verdict]]) -> str:
    """What the command writes to stderr after each run (a shortfall and its cause, a saturated
    worker, errors explained, the verdict of each ``--fail-on``): the page is read where stderr
    was never seen."""
    items = []
    for (name, result), judged in zip(results, verdicts, strict=True):
        lines = [line.removeprefix("loadgen: ") for line in diagnose(result).lines]
        lines += [threshold_line(verdict) for verdict in judged]
        said = "".join(f"<li>{escape(line)}</li>" for line in lines) or "<li>nothing worth a word</li>"
        items.append(f"<div><h3>{escape(name)}</h3><ul>{said}</ul></div>")
    return "".join(items)


def _phase_row(name: str, phase: str, dist: Distribution) -> list[object]:
    return [
        name,
        phase,
        f"{dist.count:,}",
        *(short_time(dist.percentile(p)) for p in PHASE_PERCENTILES),
        short_time(dist.max),
    ]


def _phases(results: Named) -> str:
    rows = []
    for name, result in results:
        phases = [
            ("connect (TCP)", result.connect),
            ("TLS handshake", result.tls_handshake),
            ("first byte", result.first_byte),
            ("latency, uncorrected", result.latency_uncorrected),
        ]
        rows += [_phase_row(name, phase, dist) for phase, dist in phases if dist.count]
    note = (
        "<p>Connect and TLS handshake: per connection. First byte: from the write of a request to the "
        "first byte of its response. Latency: to the last byte, measured from the actual write.</p>"
    )
    header = ("result", "phase", "count", *(f"p{p:g}" for p in PHASE_PERCENTILES), "max")
    return note + _table(header, rows)


def _errors(results: Named) -> str:
    statuses = sorted({status for _, result in results for status in result.status_counts})
    parts = [
        _table(
            ("result", *statuses),
            [(name, *(f"{result.status_counts.get(s, 0):,}" for s in statuses)) for name, result in results],
        )
    ]
    parts.append(
        _table(
            ("result", *ERROR_KINDS[:-1], "status > 399"),
            [(name, *(f"{getattr(result.errors, kind):,}" for kind in ERROR_KINDS)) for name, result in results],
        )
    )
    reasons = [row for name, result in results for row in _reason_rows(name, result)]
    if reasons:
        parts.append(_table(("result", "counted as", "stage", "cause", "detail", "count"), reasons))
    return "".join(parts)


def _reason_rows(name: str, result: Result) -> list[tuple[object, ...]]:
    """The error reasons grouped by counter, stage and cause, most frequent first: in each group
    the :data:`DETAILS_SHOWN` most frequent details, then one row for the others."""
    groups: defaultdict[tuple[str, str, str], list[tuple[ErrorReason, int]]] = defaultdict(list)
    for reason, count in result.reasons(lambda _: True):
        groups[(reason.kind.value, reason.stage.value, reason.cause)].append((reason, count))
    rows: list[tuple[object, ...]] = []
    for (kind, stage, cause), members in sorted(groups.items(), key=lambda item: -sum(c for _, c in item[1])):
        for reason, count in members[:DETAILS_SHOWN]:
            detail = reason.detail[:DETAIL_CHARACTERS] + ("..." if len(reason.detail) > DETAIL_CHARACTERS else "")
            rows.append((name, kind, stage, cause, detail, f"{count:,}"))
        others = members[DETAILS_SHOWN:]
        if others:
            rows.append(
                (name, kind, stage, cause, f"and {len(others):,} other details", f"{sum(c for _, c in others):,}")
            )
    return rows


def _targets(results: Named) -> str:
    """A row per target and result: a target's results next to each other, in the order the
    targets first appear."""
    labels = dict.fromkeys(target.label for _, result in results for target in result.targets)
    rows = []
    for label in labels:
        for name, result in results:
            target = result.target(label)
            if target is None:
                continue
            latency = target.latency
            times = [short_time(latency.percentile(p)) for p in (50, 90, 99)] if latency.count else ["-"] * 3
            rows.append(
                [
                    label,
                    name,
                    f"{target.requests:,}",
                    rate_text(target.requests_per_sec),
                    *times,
                    short_time(latency.max) if latency.count else "-",
                    error_text(target.errors),
                    status_text(target),
                ]
            )
    header = ("target", "result", "requests", "req/s", "p50", "p90", "p99", "max", "errors", "statuses")
    note = (
        "<p>Latency as each target's responses measured it (from the write; with -R from the intended send "
        "time): wrk's correction is the run's; errors by kind; the responses by status.</p>"
    )
    return note + _table(header, rows)


def _hosts(results: Named) -> str:
    """A row per worker of a run across a Dask cluster: the machine that ran it, its share of the counts, how busy
    it was and how late its window began (the JSON's ``hosts``, which the page left out)."""
    rows = [
        [
            name,
            host.worker,
            host.host,
            host.address,
            f"{host.requests:,}",
            f"{host.errors:,}",
            f"{host.client_cpu.busy:.0%}",
            f"{host.start_offset_s * 1000:.1f} ms",
        ]
        for name, result in results
        for host in result.hosts
    ]
    header = ("result", "worker", "host", "Dask worker", "requests", "errors", "busy", "start skew")
    note = (
        "<p>Each worker's machine, its requests and errors, the share of its window it wanted a CPU (near 100%: the "
        "client was the limit there), and how long after the earliest worker's its window began.</p>"
    )
    return note + _table(header, rows)


def html_report(named: Named, verdicts: Sequence[Sequence[Verdict]]) -> str:
    """The page for ``named``: (name, Result) pairs, drawn together, with each one's ``--fail-on``
    verdicts, in their order. Every heading, table row and legend calls a result by its short name
    (:func:`.charts.short_names`): a run's name is what its report's first line tests (its URL, or
    ``http://127.0.0.1:8080 (3 targets)``), which the settings' URL row holds whole,
    once (and the page's title, for the browser's tab)."""
    results = list(zip(short_names([name for name, _ in named]), (result for _, result in named), strict=True))
    sections = [
        _section("Settings", _settings(results)),
        _section("Summary (wrk's report)", _summaries(results)),
        _section("What loadgen noticed", _noticed(results, verdicts)),
        _section("Latency by percentile", f"<figure>{spectrum_svg(results)}</figure>"),
    ]
    if any(result.timeline for _, result in results):
        sections.append(_section("Second by second", f"<figure>{timeline_svg(results)}</figure>"))
    if any(result.targets for _, result in results):
        sections.append(_section("Targets", _targets(results)))
    if any(result.hosts for _, result in results):
        sections.append(_section("Hosts (Dask)", _hosts(results)))
    sections += [_section("Latency phases", _phases(results)), _section("Status codes and errors", _errors(results))]
    return PAGE.substitute(title=escape(", ".join(name for name, _ in named)), sections="\n".join(sections))
