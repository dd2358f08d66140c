"""After a run: one line on stderr for each kind of trouble, and the exit code it deserves.

The wrk report stays byte for byte what wrk prints; what wrk leaves for the user to guess (why
there were socket errors, whether the server broke, whether the client itself was the limit)
is said here instead, and so is how many of the connections asked for really took part.

The code (see :class:`loadgen.errors.ExitCode`) is OK, WORKER when a worker process failed,
SERVER when the server failed, or USAGE when the run could not tell (not one request sent: a
script's ``delay()`` longer than the run; or a run under 0.1 s without a response); the
command adds THRESHOLD for a failed ``--fail-on`` when nothing here failed (a broken run keeps
its own code).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from ..errors import ExitCode
from ..measurement import (
    GOAWAY_CAUSE,
    MALFORMED,
    STREAM_RESET,
    TRUNCATED,
    ErrorKind,
    ErrorReason,
    Stage,
    WorkerCpu,
)
from ..result import Result, Second, TargetStats, queued, rate_held
from ..stages import Ramp, bounds, total_s
from ..target import NOT_TLS, NOT_TLS_REASON, parse_url
from ..tlsrefusals import SERVER_REFUSED
from ..units import counted
from .figures import carried_text, concurrency_text

__all__ = ["Diagnosis", "Unqueued", "carried", "diagnose", "shortfall_cause"]

# a run this short without a response says nothing of the server: the window closed first
SHORT_RUN_S = 0.1
# stopped in its warm-up, a worker's window opens as it stops: a run this short with a warm-up was stopped in it
STOPPED_IN_WARMUP_S = 0.01

# why a connect() failed at once, where the errno's name says little
GIVEN_UP_WHY = {
    "EADDRNOTAVAIL": "EADDRNOTAVAIL: no local port was free to connect from (the ephemeral range, "
    "net.ipv4.ip_local_port_range, held by other connections, many in TIME-WAIT after the connections that "
    "closed): widen it, or keep the connections alive",
    "EMFILE": "EMFILE: the open-file limit was reached (ulimit -n)",
    "ENFILE": "ENFILE: the system's open-file limit was reached (fs.file-max)",
}
# a run that ended this much past -d (and 5% of it) was held: its end came late
HELD_PAST_END_S = 0.1
# connections opened per one asked beyond which responses per connection say how long each lived (the
# server closed them), not how it shared its time: no starved line then
REPLACED_TWICE = 2
PING_FLOOD = 1000  # PINGs from a server, and more than its responses: a flood (nginx sends none)
HOOKS_HELD = 0.25  # of a worker's window: its script's hooks held its loop this long, worth a word

# a connect() that took this long (µs) had its SYN sent again: Linux's first retransmission is after 1 s
SYN_RESENT_US = 1_000_000

# the server's latency grew when a later second's 90th percentile is this many times the run's first
# second's median, and 1 ms more (below a millisecond, twice is the machine's jitter)
LATENCY_GREW = 2.0


@dataclass(frozen=True)
class Diagnosis:
    exit_code: ExitCode
    lines: tuple[str, ...]


def _top(
    result: Result,
    predicate: Callable[[ErrorReason], bool],
    seconds: Sequence[Second] | None = None,
    *,
    detail: bool = False,
) -> str:
    """The three commonest reasons, with their counts: the run's, or over ``seconds`` (a stage's, not the run's: a
    stage refused 36,397 times was said '(ECONNREFUSED 76,397)', the whole run's count, beside it); ``detail``: named
    by their detail, not their cause."""
    return _counted(result.reasons(predicate, seconds)[:3], detail=detail)


def _errors(counted: Result | TargetStats, predicate: Callable[[ErrorReason], bool]) -> int:
    """The run's (or one target's) errors whose reason ``predicate`` accepts."""
    return sum(count for reason, count in counted.measured.error_reasons.items() if predicate(reason))


def _to_targets(result: Result, predicate: Callable[[ErrorReason], bool], limit: int = 3) -> str:
    """In a run of several targets, those whose responses the errors broke, most first: `` to GET /truncated``, or
    with several `` to GET /a 40, GET /b 27``; the line named none (and the request each cost went to whichever
    target came next, whose figures do not hold it)."""
    counts = [(target.label, _errors(target, predicate)) for target in result.targets]
    named = sorted(((label, count) for label, count in counts if count), key=lambda pair: -pair[1])
    if not named:
        return ""
    if len(named) == 1:
        return f" to {named[0][0]}"
    rest = len(named) - limit
    listed = ", ".join(f"{label} {count:,}" for label, count in named[:limit])
    return f" to {listed}" + (f" and {counted(rest, 'more target')}" if rest > 0 else "")


def _counted(reasons: Sequence[tuple[ErrorReason, int]], *, detail: bool = False) -> str:
    return ", ".join(f"{reason.detail if detail else _named(reason)} {count:,}" for reason, count in reasons)


def _named(reason: ErrorReason) -> str:
    """A cause, and for an HTTP/2 GOAWAY its error code and debug text (``GOAWAY (INTERNAL_ERROR: going away)``),
    for a refused certificate why (``CERTIFICATE_VERIFY_FAILED (unable to get local issuer certificate)``)."""
    named = reason.cause == GOAWAY_CAUSE or reason.stage is Stage.TLS
    return f"{reason.cause} ({reason.detail})" if named and reason.detail else reason.cause


def _why(malformed: Sequence[tuple[ErrorReason, int]]) -> str:
    """The malformed responses' details (`` (detail)``), with their counts when there are several, the
    two commonest: the commonest alone was said of them all (a -R run behind its schedule that sent its
    next request before a response to none came: '196 ... (...: no request was lost)', 73 of which had)."""
    if len(malformed) == 1:
        return f" ({malformed[0][0].detail})"
    shown = malformed[:2]
    rest = sum(count for _, count in malformed[len(shown) :])
    return ": " + ", ".join(
        [f"{count:,} ({reason.detail})" for reason, count in shown] + ([f"{rest:,} of other kinds"] if rest else [])
    )


def _refused_during_run(reason: ErrorReason) -> bool:
    return reason.kind is ErrorKind.WRITE and reason.stage is Stage.CONNECT


def _stopped_listening(result: Result, refused: int) -> bool:
    """New connections refused as many times as there are connections: the server stopped listening.
    A refused connection is opened again at once, so a server gone refuses thousands a second."""
    return refused >= result.connections


def _not_tls(reason: ErrorReason) -> bool:
    """A TLS handshake answered with bytes that are not TLS (OpenSSL's reason), as a plain HTTP server does."""
    return reason.stage is Stage.TLS and reason.cause == NOT_TLS_REASON


def _tls_refused(reason: ErrorReason) -> bool:
    """The server refused the TLS session: in the handshake (a connect error), or by an alert on
    the first read after it, where TLS 1.3 tells a client the certificate it wants is missing (a
    read error, as wrk counts it: the client's handshake had completed)."""
    return reason.cause in SERVER_REFUSED and (reason.stage is Stage.TLS or "_ALERT_" in reason.cause)


def _tls_lines(refusal: tuple[ErrorReason, int] | None) -> list[str]:
    if refusal is None:
        return []
    reason, count = refusal
    return [
        f"loadgen: the server refused the TLS session on {counted(count, 'connection')}: {SERVER_REFUSED[reason.cause]}"
    ]


def _server_lines(result: Result) -> tuple[list[str], bool]:
    """Socket errors and broken responses: what the server did, and whether it failed. A refusal
    of the TLS session is said first, since it is why the connections failed; the read errors of
    a TLS 1.3 refusal are not said again as the server closing connections."""
    refused_tls = result.reasons(_tls_refused)
    refusal = refused_tls[0] if refused_tls else None
    lines = []
    malformed = result.reasons(lambda r: r.cause == MALFORMED)
    if malformed:
        sent = sum(c for _, c in malformed)
        after = _to_targets(result, lambda r: r.cause == MALFORMED)
        lines.append(f"loadgen: the server sent {sent:,} malformed responses{after}{_why(malformed)}")
    truncated = result.errors_with(TRUNCATED)
    if truncated:
        resets = _top(result, lambda r: r.cause == TRUNCATED and bool(r.detail), detail=True)
        lines.append(
            f"loadgen: the server closed {counted(truncated, 'connection')} in the middle of a response"
            + _to_targets(result, lambda r: r.cause == TRUNCATED)
            + (f" (reset: {resets})" if resets else "")
        )
    refused = _errors(result, _refused_during_run)
    if refused:
        lines.append(
            f"loadgen: {counted(refused, 'connection')} could not be made during the run "
            f"({_top(result, _refused_during_run)}); did the server stop?"
        )
    failed = bool(lines)
    lines += _connect_lines(result)
    if result.streams_reset:
        lines.append(
            f"loadgen: the server reset {result.streams_reset:,} HTTP/2 streams ({_reset_codes(result)}): "
            "each a read error, its request lost; the connections went on"
        )
    refused_reads = refusal[1] if refusal is not None and refusal[0].kind is ErrorKind.READ else 0
    if result.errors.read > result.streams_reset + refused_reads and not (malformed or truncated):
        closed = result.reasons(lambda r: _closed(r) and (refusal is None or r != refusal[0]))
        idle = all(reason.lost_nothing for reason, _ in closed)
        lines.append(
            f"loadgen: read errors: {_counted(closed[:3])} "
            + (
                "(the server closed connections between requests: none was lost; wrk counts each as a read error)"
                if idle
                else "(the server closed or reset connections; requests in flight were lost)"
            )
        )
    return _tls_lines(refusal) + lines, failed


def _abandoned(reason: ErrorReason) -> bool:
    """A connect() that failed at once (no address or descriptor left): wrk gives that connection up."""
    return reason.kind is ErrorKind.CONNECT and reason.stage is Stage.CONNECT


def _handshake_failed(reason: ErrorReason) -> bool:
    """A connect error in the TLS handshake: wrk, and loadgen, open that connection again."""
    return reason.kind is ErrorKind.CONNECT and reason.stage is Stage.TLS


def _given_up(result: Result, abandoned: int) -> str:
    """What connections given up at their connect() cost the run, and why, where an errno's name alone
    says little: ports run out (--no-keepalive to one address, 500 ports: 498 requests, then EADDRNOTAVAIL
    on all 10 connections and the run's last 4.9 s without one, its rate counting them)."""
    said = (
        f"loadgen: {counted(abandoned, 'connection')} could not be opened ({_top(result, _abandoned)}) "
        f"and {_were(abandoned)} given up, as wrk does"
    )
    if abandoned >= result.connections:
        said += ": the run went on without a connection, and its rate counts that time"
    causes = {reason.cause for reason, _ in result.reasons(_abandoned)}
    return said + "".join(f"; {why}" for cause, why in GIVEN_UP_WHY.items() if cause in causes)


def _connect_lines(result: Result) -> list[str]:
    """The connect errors, by what became of the connection: a connection given up is one fewer
    for the rest of the run, a failed handshake is retried (with -c1, thousands of times)."""
    lines = []
    abandoned = _errors(result, _abandoned)
    if abandoned:
        lines.append(_given_up(result, abandoned))
    handshakes = _errors(result, _handshake_failed)
    if handshakes:
        lines.append(
            f"loadgen: {handshakes:,} TLS handshakes failed ({_top(result, _handshake_failed)}); "
            "each time the connection was opened again, as wrk does"
        )
    if result.reasons(_not_tls):
        lines.append(f"loadgen: {NOT_TLS}")
    return lines


def _closed(reason: ErrorReason) -> bool:
    """A read error that is not an HTTP/2 stream reset: the server closed or reset the connection."""
    return reason.kind is ErrorKind.READ and not _reset(reason)


def _reset(reason: ErrorReason) -> bool:
    """HTTP/2: a stream the server reset (the cause's detail: the error code)."""
    return reason.cause == STREAM_RESET


def _reset_codes(result: Result) -> str:
    return ", ".join(f"{reason.detail} {count:,}" for reason, count in result.reasons(_reset)[:3])


def _opened_all_along(result: Result, asked: int) -> bool:
    """Connections were opened again all through the run: each closed after its requests
    (--no-keepalive, --requests-per-connection), or as many as were asked for were opened again,
    after socket errors closed or refused them (a server that resets or closes every connection: 4
    of 15 runs of -c4 ended with all 4 on their way) or after the server closed them (nginx's
    keepalive_requests 3: 19 of 50 on their way at the end). Some on their way at the end is then
    the run's ordinary state, not connections the server kept waiting."""
    if any(run.closes_after is not None for run in result.runs):
        return True
    errors, m = result.errors, result.measured
    reopened = errors.connect + errors.read + errors.write - result.streams_reset - _errors(result, _abandoned)
    started_again = m.connections_opened + m.opening_at_end - asked  # those opened beyond the first -c
    return max(reopened, started_again) >= asked


def _replaced_at_quota(result: Result, asked: int) -> bool:
    """-n's quota was reached as the server closed connections after their last responses, and those on
    their way replaced them: all -c had been open at once, and the server had closed (with no error) at
    least as many as were on their way. nginx's keepalive_requests 100 at -c10 -n1000 (its default 1000
    at -c100 -n100000) closes every connection with the quota's last responses: 2 to 5 of the 10 were
    being opened again, said to be "still being opened when the run ended (...): the server's accept
    queue was full (...); give a larger -n or fewer -c", where none was needed."""
    m, errors = result.measured, result.errors
    if not _quota_reached(result) or m.peak_open < asked:
        return False
    closed_by_server = m.connections_opened + m.opening_at_end - asked - (errors.connect + errors.read + errors.write)
    return m.opening_at_end <= closed_by_server


def _still_opening_lines(result: Result) -> list[str]:
    """A run that ended with connections still being opened (a server that let their SYNs drop, a
    machine too busy to finish them): the figures describe fewer connections than ``-c``, which only
    the JSON showed (``connections.opening_at_end``). Not in a run too short to say anything of the
    server (:func:`_short_run`) that got no response: its window closed first, as its line says."""
    opening = result.measured.opening_at_end
    asked = sum(run.connections_per_worker * run.threads for run in result.runs)
    if not opening or result.interrupted or _opened_all_along(result, asked) or _replaced_at_quota(result, asked):
        return []
    if not result.requests and _short_run(result):
        return []
    connect = result.connect
    if result.client_cpu.saturated:
        cause = "the client's CPU was the limit (below)"
    elif connect.max >= SYN_RESENT_US:
        cause = (
            f"connects that completed took up to {connect.max / 1e6:.2f}s, their SYNs sent again: the server's "
            "accept queue was full"
        )
    else:
        cause = _opening_cause(result)
    longer = "give a larger -n" if _quota_reached(result) else _lengthen(result)
    staged = any(run.stages_connections for run in result.runs)  # the count asked for changed over the run
    return [
        f"loadgen: {_opening(opening, asked, staged)} {_were(opening)} still being opened when the run ended"
        f"{_described(result, opening, asked, staged)}: "
        f"{cause}; {longer} or {'fewer connections' if staged else 'fewer -c'}"
    ]


def _opening(opening: int, asked: int, staged: bool) -> str:
    """The connections on their way: of those -c asked for, all of them or how many (with the stages, which
    changed the count asked for, how many). "1 of the 1 connections were" was said of the one -c1 asked for."""
    if staged:
        return counted(opening, "connection")
    return f"the {counted(asked, 'connection')}" if opening == asked else f"{opening:,} of the {asked:,} connections"


def _were(count: int) -> str:
    """The verb of ``count`` things."""
    return "was" if count == 1 else "were"


def _described(result: Result, opening: int, asked: int, staged: bool) -> str:
    """The connections the figures describe: those that opened, as many as -c asked for less those
    still on their way; or, where connections closed and were opened again (a socket error, a GOAWAY)
    or the stages changed their count, the most that were open at once."""
    peak = result.measured.peak_open
    if not peak:
        return ""
    if not staged and peak + opening <= asked:
        return f" (the figures describe the {peak:,} that opened)"
    return f" (the figures describe the connections that opened, {peak:,} at most at once)"


def _opening_cause(result: Result) -> str:
    """What a connection on its way waited for: its TCP connect, and its TLS handshake (https) or
    the server's HTTP/2 SETTINGS (a connection is ready for requests after them)."""
    steps = ["connect"]
    steps += ["TLS handshake"] if any(parse_url(run.url).scheme == "https" for run in result.runs) else []
    steps += ["HTTP/2 SETTINGS"] if result.measured.protocol == "h2" else []
    if len(steps) == 1:
        return "the server's accept queue was full (the kernel drops the SYNs beyond it) or the client was too busy"
    return (
        f"the server did not complete their {', '.join(steps[:-1])} or {steps[-1]} (a full accept queue, or a busy "
        "server), or the client was too busy"
    )


def _stalled_line(result: Result, stalled: int, answered: int) -> str:
    """Answered connections left with a request waiting past --timeout at the end. Over HTTP/2 a
    connection carries other streams, which the server may have gone on answering: one stream
    left unanswered on each of 2 connections read as a server that stopped answering both. A target
    the server never answered is named, as the silent end's line names it: a run that outlasted
    --timeout by 10 ms (a loaded machine, -d2s at the default 2s) said the server stopped answering
    them, the target unnamed, where a run on time said they waited for it."""
    timeout_ms = max(run.timeout for run in result.runs) * 1000
    late = "no figure counts it: a timeout is a response that came late"
    if not _stalled_means_stopped(result):
        return (
            f"loadgen: {stalled:,} of the {answered:,} answered connections had a request waiting longer than "
            f"--timeout {timeout_ms:g}ms when the run ended ({late}): the server answered {result.errors.timeout:,} "
            f"requests later than that ({result.timeouts_mean_us / 1000:,.1f}ms on average), so theirs may only "
            "have been as slow"
        )
    waited = f": {waited}" if (waited := _waited_for_targets(result)) else ""
    if result.measured.protocol == "h2":
        return (
            f"loadgen: the server left {stalled:,} of the {answered:,} answered connections with a stream waiting "
            f"longer than --timeout {timeout_ms:g}ms when the run ended (their other streams may have been "
            f"answered; {late}){waited}"
        )
    return (
        f"loadgen: the server stopped answering {stalled:,} of the {answered:,} answered connections: each had "
        f"a request waiting longer than --timeout {timeout_ms:g}ms when the run ended ({late}){waited}"
    )


def _stalled_means_stopped(result: Result) -> bool:
    """Connections left waiting past --timeout at the end say the server stopped answering them, unless
    it answered other requests as late (timeouts) and was still answering in the run's last second:
    then it was slow (10-100 ms responses at --timeout 50ms were said to have 'stopped answering 8 of
    the 20'). A server frozen to the end is silent there, whatever timeouts a held client counted."""
    return not result.errors.timeout or _quiet_from(result) < len(result.timeline)


def _connection_lines(result: Result) -> list[str]:
    """Connections the server never answered, or a few it answered far more often than the rest:
    then the figures describe fewer connections than ``-c`` asked for."""
    account = result.per_connection
    lines = _still_opening_lines(result)
    if account.never_answered_worth_a_word:
        lines.append(
            f"loadgen: {account.never_answered:,} of {account.opened:,} connections got no response: "
            f"{_never_answered_why(result)}; the figures describe {counted(account.answered, 'connection')} "
            f"({counted(round(account.mean_in_flight), 'request')} in flight on average, by Little's law)"
        )
    if account.stalled_worth_a_word:
        lines.append(_stalled_line(result, account.stalled, account.answered))
    elif silent := _silent_end(result):
        lines.append(_silent_end_line(result, silent))
    if account.starved and account.opened <= REPLACED_TWICE * result.connections:
        busiest, share = account.busiest
        responses = account.responses
        lines.append(
            f"loadgen: {busiest:,} of the {account.answered:,} answered connections got {share:.0%} of the "
            "responses: the server served a few connections and kept the others waiting (responses per "
            f"connection: min {responses.min:,}, median {responses.percentile(50):,}, max {responses.max:,}); "
            "the figures are mostly theirs"
        )
    return lines


def _never_answered_why(result: Result) -> str:
    """Why connections got no response: a server that did not take their requests, or (as many
    responses begun at the end as there are such connections, or more) one that began their
    responses and finished none, trickling them or stopped in the middle; or the script's hooks,
    which held the loop that would have read them (blamed on the server's accept queue, beside the
    line that said the hooks held the loop 1.2 s of 1.6); or a server slower than --timeout, which
    answered every request it answered after it (the demo's 3 s gateway at --timeout 2s and -R 5: its
    connections waiting 2 s were blamed on its accept queue)."""
    if _hooks_held(result):
        return "the script's hooks held the worker's loop (below), so their responses may have come and waited unread"
    begun = result.measured.begun_at_end
    if begun < result.per_connection.never_answered:
        not_taken = "did not accept or did not read them (its accept queue or its concurrency limit)"
        if waited := _waited_for_targets(result):
            return f"{waited}; else the server {not_taken}"
        if _all_timed_out(result):
            return (
                "every response the server sent took longer than --timeout (below), so theirs may only have "
                f"been as slow, or it {not_taken}"
            )
        return f"the server {not_taken}"
    return (
        f"the server began their responses and finished none ({begun:,} of the {result.measured.in_flight_at_end:,} "
        "requests in flight at the end had the head of theirs), or did not read them"
    )


def _waited_for_targets(result: Result) -> str:
    """In a run of several targets the server answered, those it answered not once, neither a response
    nor an error: ``they may have waited for GET /hang, which got none`` (``the targets GET /a, GET
    /b``), of requests in flight or connections never answered. They were said to be the server's
    accept queue, as if it had answered none of theirs, and, at the end, a server that stopped
    answering, which it did not: every connection came to wait on the target. "" when there are none."""
    if not result.requests:
        return ""
    labels = [
        target.label
        for target in result.targets
        if not (target.requests or target.measured.timeouts or target.measured.error_reasons)
    ]
    if not labels:
        return ""
    named = labels[0] if len(labels) == 1 else "the targets " + ", ".join(labels[:3])
    more = f" and {len(labels) - 3:,} more" if len(labels) > 3 else ""
    return f"they may have waited for {named}{more}, which got none"


def _all_timed_out(result: Result) -> bool:
    """Every response came later than --timeout: none is in the latency figures."""
    return bool(result.requests) and result.errors.timeout >= result.requests


def _silent_end(result: Result) -> tuple[Second, ...]:
    """The whole seconds at the run's end in which no response (nor error) came, when requests were
    in flight at the end and the silence outlasted every response the server had sent: it stopped answering
    (hung, trickling its responses, or holding its flow-control window shut) less than --timeout
    before the end, where no timeout counts it (nor any figure: wrk's latency is of responses).
    Empty when it answered to the end, or never (said as no response at all)."""
    silent = result.timeline[_quiet_from(result) :]
    silent_us = _silent_us(result, silent)
    if not (result.requests and result.measured.in_flight_at_end) or silent_us < 1_000_000:
        return ()
    return silent if silent_us > _longest_response_us(result) else ()


def _silent_us(result: Result, silent: Sequence[Second]) -> int:
    """How long the run's last ``silent`` seconds lasted, from the whole second the first was due to begin: a worker
    held across that second's end closes the one before late, and this one as much shorter (2.03 s, then 0.97 s:
    a server frozen 1.05 s into a 3 s run, silent to its end, read as 'the server's latency held ...')."""
    elapsed_us = sum(second.interval.duration_us for second in result.timeline)
    return elapsed_us - silent[0].index * 1_000_000 if silent else 0


def _longest_response_us(result: Result) -> int:
    """The longest a response took from its write, as far as the figures show: the latency's max,
    or in a closed loop whose responses came later than --timeout (left out of every latency
    figure) their mean, if longer: a server that took 3 s for each, at --timeout 2s, was not said
    to have stopped answering when a 5 s run's last second had no response ("longer than any
    response had taken (0.0ms at most)"). Under -R their latency is from the intended send time."""
    longest = result.latency_uncorrected.max
    return longest if result.paced else max(longest, int(result.timeouts_mean_us))


def _quiet_from(result: Result) -> int:
    """Where the timeline's last seconds without a response or an error (a reset, a malformed
    response: the server still answered) begin: the server stopped answering during the second before."""
    timeline = result.timeline
    quiet = len(timeline)
    while quiet and not (timeline[quiet - 1].requests or timeline[quiet - 1].interval.errors):
        quiet -= 1
    return quiet


def _silent_end_line(result: Result, silent: Sequence[Second]) -> str:
    why = _no_response_why(result)  # ": what the requests in flight waited for", or nothing
    if not why and (waited := _waited_for_targets(result)):
        why = f": {waited}"
    in_flight = result.measured.in_flight_at_end
    return (
        f"loadgen: no response came in the run's last {_silent_us(result, silent) / 1e6:.1f}s, longer "
        f"than any response had taken ({result.latency_uncorrected.max / 1000:,.1f}ms at most): the server stopped "
        f"answering, with {in_flight:,} request{'s' if in_flight > 1 else ''} in flight at the end, which no figure "
        f"counts{why}"
    )


def _stopped_answering(result: Result, seconds: Sequence[Second]) -> bool:
    """The server stopped answering during these seconds, or before them (a stage's): past --timeout,
    or silent at the run's end."""
    if result.worker_failures or not seconds or seconds[-1].index < _quiet_from(result) - 1:
        return False  # a worker's failure leaves the connections' lines out: no line above
    stalled = result.per_connection.stalled_worth_a_word and _stalled_means_stopped(result)
    return stalled or bool(_silent_end(result))


def _saturated_lines(result: Result) -> list[str]:
    """A worker busy (running, or waiting for a CPU) most of its window: loadgen may be the limit. Not
    once the server stopped listening: the worker was busy opening connections again as each was
    refused, whatever its CPU could do (said '98% busy: the client may be the bottleneck' beside
    the refusals' own line)."""
    cpu = result.client_cpu
    if not cpu.saturated or cpu.busiest is None:
        return []
    if _stopped_listening(result, _errors(result, _refused_during_run)):
        return []
    worker = cpu.workers[cpu.busiest]
    shared = (
        f" ({worker.utilization:.0%} on a CPU, {worker.waiting_s / worker.wall_s:.0%} waiting for one)"
        if worker.waiting_s > 0.1 * worker.wall_s
        else ""
    )
    # a run held past its end by a busy loop, said here unless the script's hooks' line says it
    stretched = _past_end(result) if result.runs[0].script is None else ""
    return [
        f"loadgen: worker {result.worker_at(cpu.busiest)} was {worker.busy:.0%} busy{shared}: the client may be the "
        "bottleneck; add -t or move loadgen to its own cores"
        + (f" ({stretched}: its end waited for the worker)" if stretched else "")
    ]


def _client_lines(result: Result) -> list[str]:
    """Whether loadgen itself limited the run: a saturated worker, a rate it could not hold."""
    lines = _saturated_lines(result)
    rate = result.rate
    if rate and result.runtime_us and not result.interrupted and not _quota_reached(result):
        rate *= result.reported_share
        achieved = result.requests_per_sec
        judged = _answered(result, result.timeline) / result.runtime_s
        if not rate_held(judged, rate):
            lines.append(
                f"loadgen: achieved {achieved:,.0f} of the {rate:,.0f} requests/sec asked{_of_the_reported(result)} "
                f"({_short(achieved, judged, rate)}): {shortfall_cause(result, rate, result.timeline)}"
            )
    if result.runs[0].stages and not result.interrupted:
        lines.extend(_stage_shortfalls(result))
    lines.extend(_hooks_held(result))
    return lines


def _of_the_reported(result: Result) -> str:
    """Of whom a rate was asked when a worker died with its measurement: the others, their share
    of it (the dead one's line says what was lost); "" else."""
    if not result.lost_workers:
        return ""
    return f" of the {result.reported_workers:,} of {result.threads:,} workers whose figures came"


def _past_end(result: Result) -> str:
    """How far a run of one -d ended past it, when by much (a worker's loop held across its end); "" else."""
    duration = result.runs[0].duration or 0.0
    late = result.runtime_s - duration
    if not duration or late <= max(HELD_PAST_END_S, 0.05 * duration) or result.interrupted or len(result.runs) > 1:
        return ""
    return f"the run took {result.runtime_s:.2f}s, {late:.2f}s past -d {duration:g}s"


def _hooks_held(result: Result) -> list[str]:
    """The script's hooks held a worker's loop, so every connection's next read waited, and the
    figures with it: measured (a quarter of a window or more beyond the worker's CPU time and its
    wait for a CPU: they slept or waited on I/O, which no CPU figure shows; hooks that compute make
    the worker busy, said as such), or seen in a run that ended well past -d."""
    settings = result.runs[0]
    if settings.script is None or result.worker_failures:  # a stuck hook has its own line
        return []
    # the hooks' time beyond all the worker's CPU time and wait for a CPU: they slept or waited on I/O
    idle = [
        ((cpu.hooks_s - cpu.cpu_s - cpu.waiting_s) / cpu.wall_s, index, cpu)
        for index, cpu in enumerate(result.client_cpu.workers)
        if cpu.wall_s > 0
    ]
    idle_share, index, cpu = max(idle, key=lambda entry: entry[0], default=(0.0, 0, WorkerCpu(0.0, 0.0)))
    measured = idle_share >= HOOKS_HELD
    stretched = _past_end(result)
    if measured:
        what = f"the script's hooks held worker {index}'s loop {cpu.hooks_s:.2f}s of its {cpu.wall_s:.2f}s window"
        what += f"; {stretched}" if stretched else ""
    elif stretched:
        what = f"{stretched}: the script's hooks held the worker's loop"
    else:
        return []
    return [
        f"loadgen: {what} (they run in it: a slow response() or request() delays every connection's "
        "next read, and the latency figures include it)"
    ]


def _stage_seconds(stages: tuple[tuple[float, float], ...], timeline: Sequence[Second]) -> list[list[Second]]:
    """The timeline's whole seconds (nominally: the last may have run late) that judge each stage:
    each second is the stage's that holds most of it (the earlier on a tie), so that a second
    across two stages is judged too; a stage that holds most of none (shorter than a second, a
    burst) is judged over the seconds it overlaps, rather than never."""
    spans = bounds(stages)
    whole = [second for second in timeline if second.index + 1 <= spans[-1][1] + 1e-6]
    ends = [end for _, end in spans]

    def within(second: Second, start: float, end: float) -> float:
        return max(0.0, min(second.index + 1, end) - max(second.index, start))

    def overlapping(start_s: float, end_s: float) -> range:
        """The stages that may overlap this span: from the first that ends after its start (each stage
        against each second made a run of 600 stages take seconds to diagnose)."""
        first = last = bisect.bisect_right(ends, start_s)
        while last < len(spans) and spans[last][0] < end_s:
            last += 1
        return range(first, last)

    held: list[list[Second]] = [[] for _ in stages]
    for second in whole:
        shares = {index: within(second, *spans[index]) for index in overlapping(second.index, second.index + 1)}
        held[max(shares, key=shares.__getitem__, default=0)].append(second)  # the earlier on a tie
    return [
        own or [s for s in whole[math.floor(start) : math.ceil(end)] if within(s, start, end) > 1e-9]
        for own, (start, end) in zip(held, spans, strict=True)
    ]


def _stage_shortfalls(result: Result) -> list[str]:
    """--stages: each stage's rate held or not, over the timeline's seconds that judge it: the
    requests due in their whole seconds against the responses they counted (see :func:`_due`),
    with the requests in flight on schedule across their ends (see :func:`_answered`)."""
    lines, stages = [], result.runs[0].stages
    for number, ((duration, target), seconds) in enumerate(
        zip(stages, _stage_seconds(stages, result.timeline), strict=True), 1
    ):
        span = len(seconds)
        asked = sum(_due(result, second) for second in seconds) / span if span else 0
        achieved = _responses(seconds) / span if span else 0
        judged = _answered(result, seconds) / span if span else 0
        if asked and not rate_held(judged, asked):
            lines.append(
                f"loadgen: stage {number} ({duration:g}s to {target:,.0f}/s): achieved {achieved:,.0f} of the "
                f"{asked:,.0f} requests/sec asked{_of_the_reported(result)} ({_short(achieved, judged, asked)}): "
                f"{shortfall_cause(result, asked, seconds)}"
            )
    return lines


def _answered(result: Result, seconds: Sequence[Second]) -> float:
    """The responses these seconds counted, with the requests in flight on schedule at their end
    (whose responses come after them) and less those in flight at their start (sent before them):
    what a rate held would have answered in them is the requests that had had the server's time to
    come back (see :meth:`Result.in_flight_on_schedule`; measured at the window's end). At 40/s
    and 300 ms a request, a 2 s run answers 68: the 12 sent in its last 300 ms were on their way."""
    if not seconds:
        return 0.0
    window_end = seconds[-1].index == result.timeline[-1].index
    end_s = min(seconds[-1].index + 1, result.runtime_s)
    return (
        _responses(seconds)
        + result.in_flight_on_schedule(end_s, window_end=window_end)
        - result.in_flight_on_schedule(seconds[0].index)
    )


def _short(achieved: float, judged: float, asked: float) -> str:
    """``15% short``; and the shortfall the rate was judged by when the requests in flight on
    schedule make it another (``15% short; 5% with the requests in flight on schedule``)."""
    short, counted = f"{1 - achieved / asked:.0%}", f"{1 - judged / asked:.0%}"
    return f"{short} short" if counted == short else f"{short} short; {counted} with the requests in flight on schedule"


def _due(result: Result, second: Second) -> float:
    """The requests due in a whole second of the timeline, from ``index`` to ``index + 1``: those
    whose responses it counts, even when it closed late. A worker held off its CPU across a second's
    end closes that second as it wakes, with the responses read then, and sends the requests that
    fell due meanwhile, whose responses the next second counts: the rate asked over the late
    second's length (1.04 s) against its responses read as a shortfall (983 of 1,019 req/s, 4%).
    Of the workers whose figures came only (:attr:`Result.reported_share`)."""
    return result.reported_share * sum(run.asked_per_sec(second.index, second.index + 1) or 0.0 for run in result.runs)


def _stopped_in_stage(result: Result) -> str | None:
    """Where a run of stages was stopped: its header gives the stages' whole length, and which
    ramp ran is not in the report; None when it stopped after them (or has none)."""
    run = result.runs[0]
    stages, unit = (run.stages, "/s") if run.stages else (run.stages_connections, " connections")
    ran = result.runtime_s
    for number, ((start, end), (duration, target)) in enumerate(zip(bounds(stages), stages, strict=True), 1):
        if ran < end:
            return (
                f"loadgen: stopped {ran:.2f}s into the {total_s(stages):g}s of "
                f"stages, {ran - start:.2f}s into stage {number} ({duration:g}s to {target:,.0f}{unit}): "
                "the figures are of what ran"
            )
    return None


def _quota_reached(result: Result) -> bool:
    asked = sum(run.requests for run in result.runs if run.requests is not None)
    return bool(asked) and result.requests >= asked


@dataclass(frozen=True)
class Unqueued:
    """How long a request the server did not queue took from its write, and where that was seen
    (``at 400 req/s``, a step that passed): a run's own first second may have queued already."""

    latency_s: float
    where: str


def shortfall_cause(result: Result, rate: float, seconds: Sequence[Second], unqueued: Unqueued | None = None) -> str:
    """The likeliest reason a rate was not held over these seconds of the timeline; that the
    server stopped listening when new connections were refused as many times as there are
    connections (one refused is opened again at once: a server gone refuses thousands a second,
    which keeps the worker busy too); that it failed requests when those it lost in flight are
    half the ones missing or more (:attr:`ErrorReason.lost_request`: not a timeout, a response
    that came late, in the rate; nor a connection refused, which sent none and was opened again,
    each time an error: 76,397 of them in a run that asked for 800; the requests in flight on
    schedule are not missing, see :func:`_answered`); that it fell behind only when their latency
    says so: it grew over them, or it was many times ``unqueued`` (by default the run's quickest
    response: a server saturated from the start answered its first requests before its queue
    filled)."""
    refused = _errors_where(result, seconds, _refused_during_run)
    if _stopped_listening(result, refused):
        reasons = _top(result, _refused_during_run, seconds)
        return (
            f"connections were refused {counted(refused, 'time')} ({reasons}): the server stopped listening, and the "
            "requests due waited for a connection"
        )
    cpu = result.client_cpu
    if cpu.saturated and cpu.busiest is not None:
        busiest = cpu.workers[cpu.busiest]
        return f"worker {result.worker_at(cpu.busiest)} was saturated ({busiest.busy:.0%} busy); add -t"
    if _hooks_held(result):
        return "the script's hooks held the worker's loop (below)"
    if held := result.measured.zero_streams_at_end:
        return f"the server allowed no streams on {held:,} of the connections (above)"
    if _stopped_answering(result, seconds):
        return "the server stopped answering (above)"
    lost_request = attrgetter("lost_request")
    failed = _errors_where(result, seconds, lost_request)
    if failed and failed >= (rate * sum(second.duration_s for second in seconds) - _answered(result, seconds)) / 2:
        return f"the server failed {failed:,} of the requests asked ({_top(result, lost_request, seconds)})"
    uncorrected = result.latency_uncorrected
    latency_s = uncorrected.mean / 1_000_000 if uncorrected.count else result.quickest_s
    unqueued = unqueued or Unqueued(result.quickest_s, "for its quickest response")
    server_queued = queued(latency_s, unqueued.latency_s)
    # the connections are judged at the latency of a server that did not queue: -c1 at 1,000/s of a 20 ms server
    # slowed to 140 ms (beside four test runs) read as the server's latency that grew, not as -c
    carrying_s = unqueued.latency_s if server_queued else latency_s
    needed = concurrency_text(rate, carrying_s)
    if result.in_flight_most < rate * carrying_s:
        if result.runs[0].streams == 1:
            connections = result.connections
            return f"too few connections: one request at a time each needs -c >= {needed}, and -c is {connections:,}"
        return f"too few streams: it needs -c x --streams >= {needed}, and {carried(result)}"
    grew, latency = _latency_trend(result, seconds)
    if grew:
        return f"the server did not keep up (its latency grew: {latency})"
    if server_queued:
        return (
            f"the server did not keep up (it queued them: {latency_s * 1000:.1f}ms a request from its write, against "
            f"{unqueued.latency_s * 1000:.1f}ms {unqueued.where}; more connections would wait in its queue too)"
        )
    most = f"-c ({result.connections:,}" if result.runs[0].streams == 1 else f"the streams ({carried(result)}"
    return (
        f"not loadgen's CPU, nor {most} for {needed}), and the server's latency held ({latency}): "
        "loadgen cannot tell why"
    )


def carried(result: Result) -> str:
    """The requests in flight at most, as asked (``-c 2 x --streams 8 = 16``; see :func:`carried_text`)."""
    return carried_text(result.connections, result.runs[0].streams, result.streams_capped)


def _errors_where(result: Result, seconds: Sequence[Second], predicate: Callable[[ErrorReason], bool]) -> int:
    """The socket errors over these seconds whose reason ``predicate`` accepts, each second's as
    :meth:`Result.errors_by_second` counts them, in one pass over these seconds: not over the whole
    timeline at each call, twice for each stage of a run of stages."""
    shares = result.shares_of(predicate)
    return round(sum(second.errors_where(predicate, shares) for second in seconds))


def _responses(seconds: Sequence[Second]) -> int:
    return sum(second.requests for second in seconds)


def _latency_trend(result: Result, seconds: Sequence[Second]) -> tuple[bool, str]:
    """Whether the server's latency grew by these seconds, from the run's first, and the figures
    that say so: with connections to spare, the one sign that it fell behind. The first second is
    the mark, not judged against itself: its own spread is no growth (a loaded machine's, a median
    of 58 ms and a 90th percentile of 123 ms against a server of 50 ms, read as "its latency grew")."""
    first = _latency_ms(result.timeline[0], 50) if result.timeline else 0.0
    later = [_latency_ms(second, 90) for second in seconds if second.index > 0 and second.requests]
    figures = f"a median of {first:.1f}ms in the first second"
    if not later:
        return False, figures
    slowest = max(later)
    figures += f", a 90th percentile of {slowest:.1f}ms at most"
    return slowest >= max(LATENCY_GREW * first, first + 1), figures


def _latency_ms(second: Second, percentile: float) -> float:
    """A second's latency at a percentile (from the intended send time when paced); 0 without a response."""
    return second.latency.percentile(percentile) / 1000


def _stream_lines(result: Result) -> list[str]:
    """HTTP/2: servers that allowed fewer concurrent streams than ``-m`` asked for."""
    return [
        f"loadgen: the server allows {limit} concurrent streams per connection: --streams was capped to {limit} "
        f"on {_capped_on(result, count)}"
        for limit, count in sorted(result.measured.stream_limits.items())
    ]


def _capped_on(result: Result, count: int) -> str:
    """The connections capped, said apart from -c when more were opened than -c keeps (a server's GOAWAYs:
    "capped to 5 on 971 connections" beside -c4 read as -c)."""
    said = counted(count, "connection")
    return f"{said} opened over the run (-c{result.connections:,})" if count > result.connections else said


def _zero_streams_lines(result: Result) -> list[str]:
    """HTTP/2: a server that lowered its stream limit to 0 during the run and never raised it: those
    connections could send nothing since, which no figure shows (the run went idle on them). The
    server's failure, as a limit of 0 from the start is (exit 3), with responses before or not."""
    held = result.measured.zero_streams_at_end
    if not held:
        return []
    return [
        f"loadgen: the server held {held:,} connection{'s' if held > 1 else ''} at SETTINGS_MAX_CONCURRENT_STREAMS 0 "
        "to the end of the run (it lowered the limit during the run and never raised it): no request could be "
        "sent on them since"
    ]


def _ping_lines(result: Result) -> list[str]:
    """HTTP/2: a server that sent more PINGs than responses (and many): a flood, each answered."""
    pings = result.measured.pings
    if pings < PING_FLOOD or pings <= result.requests:
        return []
    return [
        f"loadgen: the server sent {pings:,} HTTP/2 PINGs, more than its {result.requests:,} responses: a PING "
        "flood; each was answered, which took the client's time from the requests"
    ]


def _no_response_why(result: Result) -> str:
    """What the requests in flight waited for, when no response came: the rest of responses that
    had begun (a server that trickles its content), or (HTTP/2) the server's flow-control window."""
    begun, blocked = result.measured.begun_at_end, result.measured.window_blocked_at_end
    if begun:
        return (
            f": {begun:,} of the {result.measured.in_flight_at_end:,} requests in flight had the head of their "
            "response, whose content was still coming"
        )
    if blocked:
        return (
            f": the content of {blocked:,} of the {result.measured.in_flight_at_end:,} requests in flight was waiting "
            "for the server's flow-control window (the server sent no WINDOW_UPDATE)"
        )
    return _goaways_before_any(result.measured.goaways)


def _goaways_before_any(goaways: int) -> str:
    """HTTP/2 connections the server sent away (GOAWAY without an error) before it answered: their
    requests, never processed, went again on new connections, so no error says what it did."""
    if not goaways:
        return ""
    return (
        f": it sent {counted(goaways, 'GOAWAY')} instead, each before it answered a request, "
        "which was sent again on a new connection"
    )


def _lengthen(result: Result) -> str:
    """What makes the run longer: -d, or the stages, whose total -d is (-d is refused beside them)."""
    run = result.runs[0]
    if run.stages or run.stages_connections:
        return f"give longer {'--stages' if run.stages else '--stages-connections'}"
    return "give a longer -d"


def _no_response(result: Result) -> str:
    """Why not one request succeeded: socket errors, a server that sent nothing, or one that began
    responses and finished none (HTTP/1.1, whose bytes read are its responses' alone)."""
    if result.errors.socket:
        return "not one request succeeded"
    if result.bytes and not result.runs[0].http2:
        return (
            f"not one whole response from the server in {result.runtime_s:.2f}s: it sent {result.bytes:,} bytes "
            "and finished no response (it stopped in the middle, or sends too slowly for the run)"
        )
    return f"no response from the server in {result.runtime_s:.2f}s{_no_response_why(result)}"


def _none_sent(result: Result) -> bool:
    """Connections were made, and not one of them sent a request in time to be answered (none, or
    only in the run's last half, too late to blame the server), held back by what the run asked
    (a script's delay(), the stages): nothing was asked of the server. A closed loop or a constant
    rate sends as soon as a connection is made: there a request sent late waited for its connection
    (a slow handshake) or for a CPU (a busy machine), not for the schedule."""
    account = result.per_connection
    return _held_back(result) and not result.errors.socket and account.opened > 0 and account.never_answered == 0


def _held_back(result: Result) -> bool:
    """The run's settings kept its requests back: a script (its delay()), connections that ramp up,
    or stages whose first request was due too late to wait longer than the patience."""
    settings = result.runs[0]
    if settings.script is not None or settings.stages_connections:
        return True
    if not settings.stages:
        return False
    first_s = Ramp(settings.stages).due_s(0)
    return first_s is None or first_s * 1_000_000 >= result.runtime_us - result.per_connection.patience_us


def _why_none_sent(result: Result) -> str:
    """What held the requests back. A worker busy its whole window (its hooks, or other processes keeping it off its
    CPU: 4% on one, 95% waiting) had no time to send them: a script without delay() was said to have held them back
    with its delay() (h199, a loaded machine)."""
    settings = result.runs[0]
    if settings.script is not None and result.client_cpu.saturated:
        return (
            "loadgen's worker had no time to send them (how busy it was is said below): the script's hooks, or "
            f"other processes on its CPU, took the run ({settings.script})"
        )
    if settings.script is not None:
        return (
            "the script held them back (its delay() returns milliseconds to wait before each request; "
            f"{settings.script})"
        )
    return f"{'--stages' if settings.stages else '--stages-connections'} asked for none within the run"


def _short_run(result: Result) -> bool:
    """A run asked to be shorter than SHORT_RUN_S (-d, or the stages' total; the measured window
    with -n alone): too short for its lack of a response to say anything of the server. What was
    asked, not what ran: a busy machine that ends the run late does not make it the server's."""
    asked = result.duration
    return (asked if asked is not None else result.runtime_s) < SHORT_RUN_S


def _stopped_lines(result: Result) -> list[str]:
    """What a run whose figures hold less than it asked says of why: every response past --timeout,
    or a stop (^C, a signal) in its warm-up or within its stages."""
    lines = []
    if _all_timed_out(result):
        timeout_s = max(run.timeout for run in result.runs)
        lines.append(
            f"loadgen: every response took longer than --timeout {timeout_s * 1000:g}ms: all counted as timeouts, "
            "none in the latency figures"
        )
    if result.interrupted and result.requests == 0 and result.runtime_s < STOPPED_IN_WARMUP_S and result.runs[0].warmup:
        lines.append(
            f"loadgen: stopped in the {result.runs[0].warmup:g}s warm-up: nothing was measured "
            "(the warm-up is left out of every figure)"
        )
    if result.interrupted and (stopped := _stopped_in_stage(result)) is not None:
        lines.append(stopped)
    return lines


def _none_answered_line(result: Result) -> tuple[str, ExitCode]:
    """Why a run that ran its course counted not one response, and whose doing that is: the
    server's, or the command's (a run too short, or requests held back)."""
    if result.measured.stream_limits.get(0) and not result.errors.socket:
        return (
            "loadgen: not one request could be sent: the server allows no streams (SETTINGS_MAX_CONCURRENT_STREAMS 0)",
            ExitCode.SERVER,
        )
    if _none_sent(result):
        return (
            f"loadgen: not one request was sent in time to be answered in {result.runtime_s:.2f}s: "
            f"{_why_none_sent(result)}",
            ExitCode.USAGE,
        )
    if not result.errors.socket and _short_run(result):
        return (
            f"loadgen: no response within the run's {result.runtime_s * 1000:.2f}ms: shorter than the server's "
            f"first response; {_lengthen(result)}",
            ExitCode.USAGE,
        )
    return f"loadgen: {_no_response(result)}", ExitCode.SERVER


def diagnose(result: Result) -> Diagnosis:
    lines = [f"loadgen: {failure}" for failure in result.worker_failures]
    code = ExitCode.WORKER if result.worker_failures else ExitCode.OK
    server, failed = _server_lines(result)
    lines += server
    if failed:
        code = max(code, ExitCode.SERVER)
    if not result.worker_failures:  # a worker stuck in a hook did not read its connections: not the server's doing
        lines += _connection_lines(result)
    zero_streams = _zero_streams_lines(result)
    if zero_streams:
        code = max(code, ExitCode.SERVER)
    lines += _stream_lines(result) + zero_streams + _ping_lines(result) + _stopped_lines(result)
    if result.requests == 0 and not result.interrupted and not result.worker_failures:
        line, cause = _none_answered_line(result)
        lines.append(line)
        code = max(code, cause)
    if result.requests or result.errors.socket:
        lines += _client_lines(result)
    else:  # no figure to reason from, but a worker busy all its window may be why none came
        lines += _saturated_lines(result)
    return Diagnosis(code, tuple(lines))
