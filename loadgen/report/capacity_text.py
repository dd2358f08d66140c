"""A capacity search as text (a line per step, then the ``capacity:`` line) and as JSON."""

from __future__ import annotations

from typing import Any

from ..capacity_search import Bracket, Outcome, Step
from ..result import rate_held
from ..thresholds import Verdict
from .diagnosis import Unqueued, carried, shortfall_cause
from .figures import concurrency_text, rate_text, value_text
from .jsondoc import to_document

__all__ = ["capacity_document", "step_line", "summary_line"]

SCHEMA = "loadgen-capacity"
VERSION = 1


def _measured(verdict: Verdict) -> str:
    """``p99 87.2ms``, ``p99[/api] 87.2ms``: the SLO's target named, as two SLOs may judge two."""
    metric = verdict.threshold.subject
    return f"{metric} n/a" if verdict.value is None else f"{metric} {value_text(verdict.value, verdict.threshold.unit)}"


def _why_failed(step: Step) -> str:
    """``p99 412ms``, ``achieved 5,210 of 6,100 req/s``: what a failed step missed."""
    missed = [_measured(verdict) for verdict in step.verdicts if not verdict.passed]
    if not step.held:
        missed.append(f"achieved {rate_text(step.achieved)} of {rate_text(step.rate)} req/s")
    return ", ".join(missed)


def _shortfall(step: Step, quickest: Step | None) -> str | None:
    """Why a step did not hold its rate, as the run's own diagnosis says it, its latency weighed
    against the quickest passed step before it (the search's own measure of a request the server
    did not queue: a step saturated from its first second has none of its own); None when it held
    the rate, or was interrupted (as the diagnosis says nothing of an interrupted run's rate)."""
    if step.held or step.result.interrupted:
        return None
    unqueued = None if quickest is None else Unqueued(quickest.latency_s, f"at {rate_text(quickest.rate)} req/s")
    return shortfall_cause(step.result, step.rate, step.result.timeline, unqueued)


# a step held by its one response of leeway (Step.held: which second a response falls in is the count's own jitter):
# "4.0 req/s: passed (achieved 3.0 req/s, ...)" alone read as a contradiction (h196)
_ONE_SHORT = ", within one response of the rate"


def step_line(number: int, step: Step, quickest: Step | None) -> str:
    """``step 3: 400 req/s: passed (p99 10.4ms, achieved 400 req/s, client 12% busy)``, or
    ``step 4: 800 req/s: failed (p99 412ms, client 15% busy)`` with only what it missed, and why
    when it missed the rate (``: the server did not keep up ...``, against the ``quickest`` passed
    step before it); a step that was interrupted, whose run failed or whose client was the limit
    says so."""
    busy = f"client {step.client_busy:.0%} busy"
    head = f"step {number}: {rate_text(step.rate)} req/s"
    verdict = step.verdict
    if verdict == "interrupted":
        return f"{head}: interrupted ({busy})"
    if verdict == "client":
        return f"{head}: not judged: the client was the limit ({busy})"
    if step.failure:
        return f"{head}: failed (the run failed, below; {busy})"
    if verdict == "failed":
        why = _shortfall(step, quickest)
        return f"{head}: failed ({_why_failed(step)}, {busy})" + (f": {why}" if why else "")
    leeway = "" if rate_held(step.achieved, step.rate) else _ONE_SHORT
    achieved = f"achieved {rate_text(step.achieved)} req/s{leeway}"
    values = [*(_measured(verdict) for verdict in step.verdicts), achieved, busy]
    return f"{head}: passed ({', '.join(values)})"


def summary_line(outcome: Outcome) -> str:
    """``capacity: 4,350 req/s (p99 87ms at 4,350; 6,100 failed: p99 412ms)``, or why there is
    no such number."""
    passed, failed = outcome.bracket.passed, outcome.bracket.failed
    held = f"every SLO held up to {rate_text(passed.rate)} req/s" if passed is not None else "no rate met every SLO"
    if outcome.stopped == "client":
        step = outcome.steps[-1]
        cpu = step.result.client_cpu
        return (
            f"capacity: not measured: the client, not the server, limited the rate at {rate_text(step.rate)} "
            f"req/s (worker {cpu.busiest} was {step.client_busy:.0%} busy); {held}; "
            "add -t or move loadgen to its own cores"
        )
    if outcome.stopped == "connections":
        assert failed is not None
        needed = concurrency_text(failed.rate, failed.latency_s)
        limited = f"the rate at {rate_text(failed.rate)} req/s (achieved {rate_text(failed.achieved)})"
        result = failed.result
        if result.runs[0].streams == 1:
            return (
                f"capacity: not measured: the connections (-c {result.connections:,}), not the server, limited "
                f"{limited}: one request in flight each needs -c >= {needed}; {held}; add -c"
            )
        more = "-c" if result.streams_capped is not None else "-c or --streams"
        return (
            f"capacity: not measured: the streams ({carried(result)}), not the server, limited {limited}: it needs "
            f"-c x --streams >= {needed}; {held}; add {more}"
        )
    if outcome.stopped == "failure":
        return f"capacity: not measured: the step at {rate_text(outcome.failed_rate)} req/s failed (above); {held}"
    if outcome.stopped == "interrupted":
        steps = len(outcome.steps)
        held = held if passed is not None or failed is not None else "no rate was judged"
        return f"capacity: not measured: interrupted after {steps} step{'' if steps == 1 else 's'}; {held}"
    if passed is None:
        assert failed is not None
        return f"capacity: none: even {rate_text(failed.rate)} req/s failed ({_why_failed(failed)})"
    at = ", ".join(_measured(verdict) for verdict in passed.verdicts)
    if failed is None:
        return f"capacity: at least {rate_text(outcome.ceiling)} req/s, the --max ({at} at {rate_text(passed.rate)})"
    return (
        f"capacity: {rate_text(passed.rate)} req/s ({at} at {rate_text(passed.rate)}; "
        f"{rate_text(failed.rate)} failed: {_why_failed(failed)})"
    )


def _step_entry(number: int, step: Step, quickest: Step | None) -> dict[str, Any]:
    return {
        "step": number,
        "rate": step.rate,
        "achieved": step.achieved,
        "held": step.held,
        "shortfall": _shortfall(step, quickest),
        "client_busy": step.client_busy,
        "passed": step.passed,
        "verdict": step.verdict,
        "result": to_document(step.result, thresholds=step.verdicts),
    }


def capacity_document(outcome: Outcome, slos: list[str]) -> dict[str, Any]:
    """Every step with its whole result (``loadgen-result`` documents), and what they found."""
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "slos": slos,
        "capacity": outcome.capacity,
        "stopped": outcome.stopped,
        "ceiling": outcome.ceiling,
        "summary": summary_line(outcome),
        "steps": _step_entries(outcome.steps),
    }


def _step_entries(steps: tuple[Step, ...]) -> list[dict[str, Any]]:
    """Each step's entry, its shortfall judged as its line was: against the steps before it."""
    entries, bracket = [], Bracket()
    for number, step in enumerate(steps, 1):
        entries.append(_step_entry(number, step, bracket.quickest))
        bracket = bracket.after(step)
    return entries
