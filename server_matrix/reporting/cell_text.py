"""How one cell is written in the report's tables and sections: its rate and interval, latency, errors, GIL,
closed-loop ceiling, server events and flags. Pure: a cell in, short text out."""

from __future__ import annotations

from collections import Counter

import loadgen
from server_matrix.measuring.results import OK, SKIPPED, Cell, ServerEvents
from server_matrix.planning.modetext import counted, plural
from server_matrix.reporting.numbers import plain_rate, rate_interval_text, share_text, time_text
from server_matrix.statistics import estimates, flags
from server_matrix.statistics.verdicts import AT_BOUND, share_of_bound


def latency_text(cell: Cell, percentile: float) -> str:
    """The median over the repetitions; ``≥ 241.12ms`` when a repetition had timeouts (``estimates.latency_bounded``:
    a bound under the percentile)."""
    latency = estimates.latency(cell, percentile)
    if latency is None:
        return "-"
    return time_text(latency.median, estimates.latency_bounded(cell))


def errors_text(cell: Cell) -> str:
    """Errors of every repetition added up, by kind; the server's faults (truncated, malformed responses), which
    are read errors, inside the read count's brackets: ``read 5 (truncated 3), timeout 2`` (written beside it,
    ``read 3, timeout 2000, truncated 3`` read as 6 errors)."""
    results = [sample.result for sample in cell.samples if sample.result is not None]
    if not results:
        return "-"
    counts = {kind.value: sum(getattr(result.errors, kind.value) for result in results) for kind in loadgen.ErrorKind}
    texts = {name: f"{name} {count}" for name, count in counts.items() if count}
    if faults := _faults_text(results):
        texts["read"] += f" ({faults})"
    return ", ".join(texts.values()) or "0"


def _faults_text(results: list[loadgen.Result]) -> str:
    """``truncated 3, malformed 1``: the server's faults of every repetition."""
    faults: Counter[str] = Counter()
    for result in results:
        faults.update(result.failures)
    return ", ".join(f"{name} {count}" for name, count in faults.items() if count)


def gil_text(cell: Cell) -> str:
    """``0 → off``: the GIL setting asked for, and the state the server reported (``?`` if it did not)."""
    asked = "default" if cell.gil_requested is None else str(cell.gil_requested)
    reported = "?" if cell.gil_reported is None else "on" if cell.gil_reported else "off"
    return f"{asked} → {reported}"


def informational_mark(informational: str | None) -> str:
    """`` *(informational)*`` after the figure or server of a combination meaningless under its GIL setting (the
    cell's ``informational``, which its section explains): the summary and the answer mark it alike."""
    return " *(informational)*" if informational else ""


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


# The server's log events of a repetition (``ServerEvents``) that the report counts, each with its name.
_EVENTS = (
    ("worker_timeouts", "worker timeout"),
    ("worker_restarts", "worker restart"),
    ("tracebacks", "traceback"),
    ("gil_reenabled_warnings", "GIL re-enabled warning"),
)


def _repetitions(happened: list[bool]) -> str:
    """``repetition 2 of 3``, ``repetitions 1, 3 of 3``: where an event happened; nothing for a cell run once."""
    numbers = [str(number) for number, yes in enumerate(happened, start=1) if yes]
    if len(happened) == 1 or not numbers:
        return ""
    return f"{plural(len(numbers), 'repetition')} {', '.join(numbers)} of {len(happened)}"


def _counted(total: int, name: str, *details: str, after: str = "") -> str:
    """``2 tracebacks (repetitions 1, 3 of 3)``: ``name`` in the plural when ``total`` is, then ``after``."""
    shown = "; ".join(detail for detail in details if detail)
    return f"{counted(total, name)}{after}" + (f" ({shown})" if shown else "")


def events_text(cell: Cell) -> str:
    """The server's log over all the cell's repetitions, not only the one shown: each event's count added up, and
    the repetitions it happened in when there are several (``1 traceback (repetition 3 of 3)``), as its flag
    counts them."""
    servers = [sample.server for sample in cell.samples]
    parts = []
    for attribute, name in _EVENTS:
        counts = [getattr(server, attribute) for server in servers]
        if sum(counts):
            parts.append(_counted(sum(counts), name, _repetitions([count > 0 for count in counts])))
    disconnects = [server.client_disconnects for server in servers]
    if sum(disconnects):  # the client's doing, not the server's: said, not flagged
        where = _repetitions([count > 0 for count in disconnects])
        why = "connection reset or broken pipe: not flagged"
        parts.append(_counted(sum(disconnects), "traceback", where, why, after=" of the client gone first"))
    restarted = [bool(server.restarted) for server in servers]
    if any(restarted):
        parts.append(f"server restarted after {_repetitions(restarted) or 'the run'} ({_restart_reasons(servers)})")
    return ", ".join(parts)


def _restart_reasons(servers: list[ServerEvents]) -> str:
    """Why the server was restarted, each reason once: seen still busy after the run, or foreseen busy longer than
    the runner waits (``busy with about 16s of requests the client abandoned``), which the flag's word alone did
    not tell apart."""
    reasons = dict.fromkeys(str(server.restarted).removesuffix(": restarted") for server in servers if server.restarted)
    return "; ".join(reasons)


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
