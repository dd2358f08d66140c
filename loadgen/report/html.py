"""The HTML report: one self-contained page for a person, from one or several results.

The settings, wrk's summary, the latency percentile spectrum, the run second by second, the
latency phases, status codes and errors. Charts are inline SVG (:mod:`.charts`), styles are
inline: the file opens offline and fetches nothing. Several results share each chart's axes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from string import Template

from .._stats.stats import Distribution
from ..result import Result
from . import wrk_report
from .charts import Named, spectrum_svg, timeline_svg
from .figures import rate_text, short_time

__all__ = ["html_report"]

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>loadgen report: $title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { padding: 0.2em 0.8em; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
td.n { text-align: right; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
.summaries { display: flex; flex-wrap: wrap; gap: 0 2em; }
td { overflow-wrap: break-word; }
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


def _cell(value: object) -> str:
    """A cell; figures (they start with a digit) align right, text left."""
    text = str(value)
    return f'<td class="n">{escape(text)}</td>' if text[:1].isdigit() else f"<td>{escape(text)}</td>"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(_cell(cell) for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(title: str, *parts: str) -> str:
    return f'<section><h2>{escape(title)}</h2>\n{"".join(parts)}\n</section>'


def _mode(result: Result) -> str:
    return f"constant rate, {rate_text(result.rate or 0)} req/s" if result.paced else "closed loop"


def _settings(results: Named) -> str:
    rows = [(name, result.url, _mode(result), result.threads, result.connections,
             f"{result.runtime_s:.2f}s", f"{result.runs[0].timeout:g}s", result.runs[0].method,
             f"{result.requests:,}", rate_text(result.requests_per_sec), result.loop)
            for name, result in results]
    return _table(("result", "URL", "mode", "threads", "connections", "runtime", "timeout", "method",
                   "requests", "requests/sec", "event loop"), rows)


def _summaries(results: Named) -> str:
    """wrk's report with its latency distribution; wrk2's (constant rate) without, since its
    spectrum is the chart below."""
    return '<div class="summaries">' + "".join(
        f"<div><h3>{escape(name)}</h3><pre>{escape(wrk_report(result, latency=not result.paced))}</pre></div>"
        for name, result in results) + "</div>"


def _phase_row(name: str, phase: str, dist: Distribution) -> list[object]:
    return [name, phase, f"{dist.count:,}", *(short_time(dist.percentile(p)) for p in PHASE_PERCENTILES),
            short_time(dist.max)]


def _phases(results: Named) -> str:
    rows = []
    for name, result in results:
        phases = [("connect (TCP)", result.connect), ("TLS handshake", result.tls_handshake),
                  ("first byte", result.first_byte), ("latency, uncorrected", result.latency_uncorrected)]
        rows += [_phase_row(name, phase, dist) for phase, dist in phases if dist.count]
    note = ("<p>Connect and TLS handshake: per connection. First byte: from the write of a request to the "
            "first byte of its response. Latency: to the last byte, measured from the actual write.</p>")
    header = ("result", "phase", "count", *(f"p{p:g}" for p in PHASE_PERCENTILES), "max")
    return note + _table(header, rows)


def _errors(results: Named) -> str:
    statuses = sorted({status for _, result in results for status in result.status_counts})
    parts = [_table(("result", *statuses), [(name, *(f"{result.status_counts.get(s, 0):,}" for s in statuses))
                                            for name, result in results])]
    parts.append(_table(("result", "connect", "read", "write", "timeout", "status > 399"),
                        [(name, result.errors.connect, result.errors.read, result.errors.write,
                          result.errors.timeout, result.errors.status) for name, result in results]))
    reasons = [(name, reason.kind.value, reason.stage.value, reason.cause, reason.detail, count)
               for name, result in results for reason, count in result.reasons(lambda _: True)]
    if reasons:
        parts.append(_table(("result", "counted as", "stage", "cause", "detail", "count"), reasons))
    return "".join(parts)


def html_report(results: Named) -> str:
    """The page for ``results``: (name, Result) pairs, drawn together."""
    sections = [
        _section("Settings", _settings(results)),
        _section("Summary (wrk's report)", _summaries(results)),
        _section("Latency by percentile", f"<figure>{spectrum_svg(results)}</figure>"),
    ]
    if any(result.timeline for _, result in results):
        sections.append(_section("Second by second", f"<figure>{timeline_svg(results)}</figure>"))
    sections += [_section("Latency phases", _phases(results)), _section("Status codes and errors", _errors(results))]
    return PAGE.substitute(title=escape(", ".join(name for name, _ in results)), sections="\n".join(sections))
