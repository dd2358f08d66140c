"""How one cell is written in the report's tables and sections: its rate and interval, latency, errors, GIL,
closed-loop ceiling, server events and flags. Pure: a cell in, short text out."""

from __future__ import annotations

import loadgen
from server_matrix.measuring.results import OK, SKIPPED, Cell
from server_matrix.reporting.numbers import plain_rate, rate_interval_text, share_text
from server_matrix.statistics import estimates, flags
from server_matrix.statistics.verdicts import AT_BOUND, share_of_bound


def latency_text(cell: Cell, percentile: float) -> str:
    """The median over the repetitions."""
    latency = estimates.latency(cell, percentile)
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


def _delay_text(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def own_bound_text(slots: int, bound: float) -> str:
    """``4 at once / 20 ms = 200 req/s``: a server's own closed-loop bound, from how many requests it runs at once."""
    return f"{slots} at once / {_delay_text(slots / bound)} = {plain_rate(bound)} req/s"


def ceiling_text(cell: Cell) -> str:
    """``3.2 (2.13 in 30 s; 100%, at the bound)``: the bound, the bound within the run, the share reached; where the
    server's own bound is the lower, that one: ``own: 4 at once / 20 ms = 200 req/s (198 in 2 s; 96%, ...)``."""
    window = cell.window
    if window.ceiling_rps is None:
        return ""
    own = window.own_bound
    bound = f"own: {own_bound_text(*own)}" if own else plain_rate(window.ceiling_rps)
    text = f"{bound} ({plain_rate(window.reachable_rps or window.ceiling_rps)} in {window.duration_s:g} s"
    rate = estimates.rate(cell)
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
    if server.client_disconnects:  # the client's doing, not the server's: said, not flagged
        parts.append(
            f"{server.client_disconnects} traceback{'s' if server.client_disconnects > 1 else ''} of the "
            "client gone first (connection reset or broken pipe: not flagged)"
        )
    if server.restarted:
        parts.append("server restarted after the run")
    return ", ".join(parts)


def rate_cell_text(cell: Cell) -> str:
    """``1234 [1200, 1260]``, or what happened instead."""
    rate = estimates.rate(cell)
    if cell.status == OK and rate is not None:
        return rate_interval_text(rate)
    if cell.status == SKIPPED:
        return "skipped"
    return "**error**" + (f" ({rate_interval_text(rate)})" if rate is not None else "")


def flags_text(cell: Cell) -> str:
    """``interference (1/3), unstable``: each flag, with the repetitions that raised it when there are several;
    ``starved`` with its numbers (the representative repetition's, or the first that raised it)."""
    runs = len(cell.samples)
    texts = []
    for flag, count in estimates.flag_counts(cell).items():
        text = flag if runs == 1 or flag in (flags.UNSTABLE,) else f"{flag} ({count}/{runs})"
        if flag == flags.STARVED:
            starved = [sample.starvation for sample in (cell.representative, *cell.samples) if sample.starvation]
            text += f": {starved[0]}"
        texts.append(text)
    return ", ".join(texts)
