"""When each connection sends its next request: wrk's closed loop, or a constant rate (``-R``).

A schedule decides what a free connection does. In the static closed loop (wrk's default) it
decides nothing per response: the connection writes the next request itself, and the schedule
only starts it. Otherwise the connection calls :meth:`Schedule.batch_done` once per request or
batch: the closed loop sends at once (after the script's ``delay()``, with its ``request()``,
within the ``-n`` quota); a :class:`Pacing` schedule sends each request at its intended time,
oldest due first: :class:`Paced`'s at a constant rate, :class:`Staged`'s as ``--stages`` ramp it.
:class:`PacedStatic` is Paced's decisions on fewer steps for the common constant-rate run (no
script, no ``-n``), since it runs once per response at the highest rates.

With several targets (``--targets``) every request comes from the schedule: each send takes the
next target of the cycle, and points the connection at that target's tally, so that its response
is recorded there (and in the totals). :class:`ClosedTargets` is the closed loop's common case
(no ``-n``) in one step.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate, chain, cycle, islice, repeat
from time import perf_counter_ns
from typing import Any

from ..measurement import Tally
from ..script import WorkerScript
from ..stages import Ramp
from .closing import Closing
from .pacer import Pacer
from .protocols import Connection, Exchange
from .sampling import HELD_NS
from .spec import TargetsSpec

__all__ = [
    "ClosedLoop",
    "ClosedTargets",
    "Paced",
    "PacedStatic",
    "Pacing",
    "Schedule",
    "Staged",
    "new_schedule",
    "target_cycle",
]

# a due time that never comes, nor any after it (the -n quota is all sent, the window is over, or the run stopped)
NEVER = 2**63
# The interval between batches, in ns, as a fraction p/q with q at most this: exact for a whole
# rate (-R 95000: 200000/19 ns), otherwise within 1e-4 ns per batch (a microsecond in 10,000,000 batches)
INTERVAL_DENOMINATOR = 10_000


def interval_ns(rate: float, depth: int) -> Fraction:
    """The time between batches of ``depth`` requests at ``rate`` requests per second, in ns."""
    return (Fraction(10**9 * depth) / Fraction(rate)).limit_denominator(INTERVAL_DENOMINATOR)


def offsets(interval: Fraction, batches: int | None = None, first: int = 1, start_ns: int = 0) -> Iterator[int]:
    """``start_ns + batch * interval // 1`` for batch ``first``, ``first + 1``, ...: the due times
    (with ``start_ns`` 0, their distances from the start), made by adding whole numbers (one
    period of their q differences, repeated), since the constant rate takes one per response and
    a multiplication, a division and a conversion cost more than the rest of its step. With
    ``batches`` (those due within the window, see :func:`batches_within`), the rest are NEVER (any
    due time from NEVER on never comes): no batch is due when the run ends (a response just
    before the stop took one, now and then)."""
    p, q = interval.numerator, interval.denominator
    step, extra = p // q, p // q + 1  # each difference is one of the two: one object each
    differences = [extra if (k + 1) * p // q - k * p // q > step else step for k in range(q)]
    turn = first % q  # the difference from batch ``first`` to the next
    made = accumulate(cycle(differences[turn:] + differences[:turn]), initial=start_ns + first * p // q)
    if batches is None:
        return made
    return chain(islice(made, max(batches - first, 0)), repeat(NEVER))


def batches_within(interval: Fraction, window_ns: Fraction) -> int:
    """How many batches are due before ``window_ns`` (batch 0 at 0): ``batch * interval < window_ns``."""
    return max(0, math.ceil(window_ns / interval))


def target_cycle(
    targets: TargetsSpec | None, tally: Tally, encode: Callable[[Any], Any]
) -> tuple[tuple[Tally, Any], ...]:
    """One cycle of the order of the run's targets (none: one request), each as its tally and
    its request in the protocol's form, encoded once."""
    if targets is None:
        return ()
    encoded = [encode(request) for request in targets.requests]
    return tuple((tally.per_target[index], encoded[index]) for index in targets.order)


@dataclass(frozen=True)
class Sending:
    """What a schedule needs from its worker: how to send and when to stop."""

    loop: asyncio.AbstractEventLoop
    tally: Tally
    exchange: Exchange
    encode: Callable[[Any], Any]  # a script's request() in the protocol's form
    script: WorkerScript | None
    stop: Callable[[], None]  # end the worker's run
    quota: int | None  # -n: responses to ask for, in all
    targets: tuple[tuple[Tally, Any], ...] = ()  # --targets: one cycle of (tally, encoded request)
    closing: Closing | None = None  # connections that close after N responses: their last requests
    window_ns: int | None = None  # the load's length from the schedule's start (-d and the warm-up; None: -n alone)


class Schedule:
    """The closed loop's and the constant rate's common part: the ``-n`` quota and the script's
    ``request()``."""

    def __init__(self, sending: Sending) -> None:
        self.loop = sending.loop
        self.tally = sending.tally
        self.exchange = sending.exchange
        self.depth = sending.exchange.depth
        self.encode = sending.encode
        self.script = sending.script
        has_request = self.script is not None and self.script.request is not None
        self.request_hook: Callable[[], Any] | None = self._checked_first if has_request else None
        self.stop_run = sending.stop
        # -n, with a script that pipelines: whole batches, the share rounded up to them, each answered
        # before the worker stops (stopped at the share, the rest of another connection's batch was dropped)
        self.quota = None if sending.quota is None else -(-sending.quota // self.depth) * self.depth
        self.unsent = self.quota if self.quota is not None else 0  # responses still to ask for
        self.free_slots: list[Connection] = []  # -n: a free slot each, once the quota was all asked for
        self.stopped = False
        self.targets = sending.targets
        self.turn = 0  # the position in the targets' cycle
        self.closing = sending.closing

    take_due: Callable[[int], int] | None = None  # see PacedStatic.take_due

    def start(self, start_ns: int) -> None:
        """The run's window begins (its connections are on their way)."""

    def stop(self) -> None:
        self.stopped = True

    def first(self, conn: Connection) -> None:
        """A new connection is ready: its first requests, as many as it carries at once."""
        for _ in range(conn.capacity):
            if self.exchange.repeat:
                conn.send()
            else:
                self.batch_done(conn)

    def batch_done(self, conn: Connection) -> None:
        """A connection is free (outside the static loop): its next request, per the run's mode."""
        raise NotImplementedError

    def requeue(self, conn: Connection, lost: int) -> None:
        """A connection closed with ``lost`` requests in flight: they are asked for again, by the
        free slots that found the quota all asked for (an HTTP/2 connection replaced earlier, after
        a GOAWAY with an error code, may end with no new connection to ask for them)."""
        self._ask_again(lost)

    def _ask_again(self, requests: int) -> None:
        """``requests`` of the ``-n`` quota taken and never answered go back to it, and the free
        slots that found it all asked for take them."""
        if self.quota is not None and requests:
            self.unsent += requests
            free, self.free_slots = self.free_slots, []
            for slot in free:
                if not slot.closed:
                    self.batch_done(slot)

    def forget(self, conn: Connection) -> None:
        """``conn``'s free slots waiting for a request are dropped: it takes no new request (an HTTP/2
        GOAWAY with an error code: one sent there waited for its end), or fewer (a stream limit
        lowered: one sent there broke it)."""
        self.free_slots = [slot for slot in self.free_slots if slot is not conn]

    def stream_lost(self, intended_ns: int) -> None:
        """An HTTP/2 stream ended without a response (an error already counted): the ``-n`` quota,
        which counts responses, asks for its request again, as for a request lost with its
        connection (else the run idled until -d, and its rate was the quota's over -d)."""
        if self.quota is not None:
            self.unsent += 1

    def answered(self) -> bool:
        """Whether the ``-n`` quota is answered, and the run stopped (a response on an HTTP/2
        connection after its GOAWAY asks for no next request: the run idled until -d)."""
        if self.quota is None or self.tally.requests < self.quota:
            return False
        self.stop_run()
        return True

    def _within_quota(self, conn: Connection) -> bool:
        """Whether another batch may be asked for (on ``conn``, free); the run stops once the quota
        is answered."""
        if self.quota is None:
            return True
        if self.answered():
            return False
        if self.unsent <= 0:
            self.free_slots.append(conn)
            return False
        self.unsent -= self.depth
        return True

    def _checked_first(self) -> Any:
        """The request of ``request()``'s call that checked the script before the run: sent first,
        not lost (wrk loses thread 0's); ``request()`` itself from then on."""
        assert self.script is not None
        self.request_hook = self.script.request
        return self.script.first_request

    def _send(self, conn: Connection, intended_ns: int = 0) -> None:
        if self.targets:
            turn = self.turn
            request = self._next_target(conn)
        else:
            hook = self.request_hook
            turn, request = -1, self.encode(hook()) if hook is not None else None
        if self.closing is not None and conn.responses + self.depth >= self.closing.after:
            request = self.closing.last(request, turn)  # the connection's last: it says so
        conn.send(request, intended_ns)
        if self.script is not None and self.script.stop_requested:
            self.stop_run()

    def _next_target(self, conn: Connection) -> Any:
        """The next target's request; its response goes to that target's tally. The tally of the
        one before is kept: bytes that came before this request was written are its response's."""
        turn = self.turn
        conn.previous_tally = conn.tally
        conn.tally, request = self.targets[turn]
        turn += 1
        self.turn = turn if turn < len(self.targets) else 0
        return request


class ClosedLoop(Schedule):
    """wrk's closed loop: a free connection sends its next request at once (or after ``delay()``)."""

    def __init__(self, sending: Sending) -> None:
        super().__init__(sending)
        self.delay_hook = sending.script.delay if sending.script is not None else None

    def batch_done(self, conn: Connection) -> None:
        if self.stopped or not self._within_quota(conn):
            return
        if self.delay_hook is not None:
            # the loop's timer, not the clock's (a heap push per request): every send waits for one, so a
            # poll that holds them back reads the requests in flight and ends, as a closed loop's 48 full
            # epoll_waits do not (see eventloop.Clock)
            self.loop.call_later(self.delay_hook() / 1000, self._send_if_open, conn)
        else:
            self._send(conn)

    def _send_if_open(self, conn: Connection) -> None:
        """The ``delay()`` is over: the batch goes on its connection, still open (an HTTP/2 one
        replaced after a GOAWAY keeps it with the ones lost there, asked for again when it ends),
        never on a closed one; there the ``-n`` quota asks for it again (else the quota it took
        was never answered, and the run idled until -d)."""
        if self.stopped:
            return
        if conn.closed:
            self.requeue(conn, self.depth)
        else:
            self._send(conn)


class ClosedTargets(Schedule):
    """The closed loop over several targets without ``-n``: the next target at once, without
    the quota's and the script's steps, since it runs once per response."""

    def batch_done(self, conn: Connection) -> None:
        if not self.stopped:
            conn.send(self._next_target(conn))


class Pacing(Schedule):
    """The open model's common part (``-R``, ``--stages``): each batch has a due time; a free
    connection takes the oldest due batch, or waits idle for the next one. Latency counts from the
    due time. :class:`Paced` and :class:`Staged` say when each batch is due (:meth:`_due_time`).

    The batches due and not yet taken are not kept in a queue: they are the ones from
    ``issued`` on whose due time has passed, computed when a connection takes one, so a
    schedule that fell behind costs no memory and the same few steps per response. Only the
    batches lost in flight on a closed connection (few) are queued, in ``owed``."""

    def __init__(self, sending: Sending) -> None:
        super().__init__(sending)
        self.idle: deque[Connection] = deque()  # connections waiting for their turn
        self.owed: deque[int] = deque()  # due times of batches lost in flight: sent again first
        self.issued = 0  # batches taken so far
        self.next_due_ns = 0  # when batch ``issued`` is due (NEVER once the quota is all taken, or stopped)
        self.start_ns = 0  # when the due times count from
        self.pacer: Pacer | None = None
        self.rearming = False  # the timer is to be moved before the loop polls again
        self.fed_late = (0, 0)  # when idle connections were last given a batch HELD_NS late or more, and how late

    def start(self, start_ns: int) -> None:
        """The timer, once the subclass has set the first due time (armed when a connection waits
        idle for it: none is ready yet, the worker has only begun to open them)."""
        self.pacer = Pacer(self.loop, self._pace)

    def stop(self) -> None:
        super().stop()
        self.next_due_ns = NEVER  # nothing more is taken
        if self.pacer is not None:
            self.pacer.close()

    def batch_done(self, conn: Connection) -> None:
        if self.stopped or not self._within_quota(conn):
            return
        now = perf_counter_ns()
        due = self._take(now)
        if due:
            self._send(conn, due)
            if self.idle:
                self._taken_while_idle(now)
        else:
            self.idle.append(conn)
            self._wake_at_next_due()

    def requeue(self, conn: Connection, lost: int) -> None:
        self.owed.extendleft(reversed(conn.lost_due()))  # owed first, oldest first: the free slots take them
        super().requeue(conn, lost)

    def forget(self, conn: Connection) -> None:
        super().forget(conn)
        kept = deque(idle for idle in self.idle if idle is not conn)
        dropped = len(self.idle) - len(kept)
        self.idle = kept
        self._ask_again(dropped * self.depth)

    def stream_lost(self, intended_ns: int) -> None:
        super().stream_lost(intended_ns)
        if self.quota is not None:  # past the quota's last due time: only what is owed is sent
            self.owed.append(intended_ns)

    def lag_ns(self, now: int) -> int:
        """How long the oldest batch due by ``now`` has waited while a connection waited idle for it,
        or the one the idle connections were given last waited, when that was within ``HELD_NS``: the
        worker's own hold (its loop not run meanwhile), which no server caused; 0 when none has."""
        oldest = self.owed[0] if self.owed else self.next_due_ns
        waiting = now - oldest if self.idle and oldest <= now else 0
        fed_at, lag = self.fed_late
        return max(waiting, lag if now - fed_at < HELD_NS else 0)

    def _take(self, now: int) -> int:
        """The due time of the oldest batch due by ``now``, now taken; 0 if none is."""
        if self.owed:
            return self.owed.popleft()
        due = self.next_due_ns
        if due > now:
            return 0
        self.issued += 1
        self.next_due_ns = self._next_due()
        return due

    def _next_due(self) -> int:
        """When batch ``issued`` is due, the one after it taken."""
        return self._due_time(self.issued)

    def _due_time(self, batch: int) -> int:
        """When batch number ``batch`` is due; NEVER if it never is."""
        raise NotImplementedError

    def _pace(self) -> None:
        """The timer, armed only while a connection waits idle: give it what has come due, and
        sleep until the next send time if any connection is still idle. A connection the server
        closed while it waited is dropped here, not searched for when it closes: its replacement
        joins the queue when it is ready."""
        if self.stopped:
            return
        self._feed_idle(perf_counter_ns())
        if self.idle:
            self._wake_at_next_due()

    def _feed_idle(self, now: int) -> None:
        """Give the idle connections, longest idle first, the batches due by ``now``. A closed one
        is dropped, and the ``-n`` quota its wait took is asked for again (else those requests were
        never sent, and the run idled until -d)."""
        idle = self.idle
        closed = 0
        oldest = self.owed[0] if self.owed else self.next_due_ns
        if idle and oldest <= now - HELD_NS:  # a batch due that long with a connection idle: a hold
            self.fed_late = (now, now - oldest)
        while idle:
            conn = idle[0]
            if conn.closed:
                closed += 1
            else:
                due = self._take(now)
                if not due:
                    break
                self._send(conn, due)
            idle.popleft()
        if closed:
            self._ask_again(closed * self.depth)

    def _taken_while_idle(self, now: int) -> None:
        """A response's connection took a due batch while others wait idle for the timer, which
        was armed for that batch or an earlier one (a batch is taken only once due, and the timer
        is armed for the next due time): the idle ones get the batches also due by ``now`` at
        once (none before its due time: latency still counts from it), and the timer moves to
        the next due time before the loop polls again, or is disarmed when no connection waits,
        instead of waking the loop for nothing."""
        if self.stopped:  # the send ended the run (a script's stop): its timer is closed
            return
        self._feed_idle(now)
        if not self.rearming:  # once per loop iteration, however many batches its responses take
            self.rearming = True
            self.loop.call_soon(self._rearm)

    def _rearm(self) -> None:
        """Before the loop polls again: the timer at the next due time, or disarmed when no
        connection waits (moving it clears an expiry the loop has not collected yet)."""
        self.rearming = False
        if not self.stopped:
            assert self.pacer is not None
            self.pacer.move(self.next_due_ns if self.idle and self.next_due_ns < NEVER else 0)

    def _wake_at_next_due(self) -> None:
        """Arm the timer for the next send time, if one is to come."""
        assert self.pacer is not None
        if self.next_due_ns < NEVER:
            self.pacer.at(self.next_due_ns)


class Paced(Pacing):
    """A constant rate (``-R``): batch ``i`` is due at ``start + i * interval``."""

    def __init__(self, sending: Sending, rate: float, stagger: Fraction = Fraction(0)) -> None:
        super().__init__(sending)
        self.interval_ns = interval_ns(rate, self.depth)  # between batches
        phase = self.interval_ns * stagger  # batch 0's due time, from the start
        self.phase_ns = int(phase)
        # batches due within the window (-d): past them, none (None: -n alone bounds the run)
        window = sending.window_ns
        self.batches = None if window is None else batches_within(self.interval_ns, window - phase)
        self.move_start(0)

    def move_start(self, start_ns: int) -> None:
        """Batch 0 due at ``start_ns``, and the due times of the batches after batch ``issued``
        with it, made whole (not added to the start once per response, which costs): at the
        start, or by hand (tests, benchmarks)."""
        self.start_ns = start_ns
        self.due_times = offsets(self.interval_ns, self.batches, self.issued + 1, start_ns)

    def start(self, start_ns: int) -> None:
        self.move_start(start_ns + self.phase_ns)
        self.next_due_ns = self.start_ns if self.batches != 0 else NEVER
        super().start(start_ns)

    def _next_due(self) -> int:
        """:meth:`_due_time`, from the due times made whole."""
        if self.quota is not None and self.issued * self.depth >= self.quota:
            return NEVER
        return next(self.due_times)

    def _due_time(self, batch: int) -> int:
        """NEVER past the ``-n`` quota or the window."""
        if self.quota is not None and batch * self.depth >= self.quota:
            return NEVER
        if self.batches is not None and batch >= self.batches:
            return NEVER
        interval = self.interval_ns
        return self.start_ns + batch * interval.numerator // interval.denominator


class PacedStatic(Paced):
    """:class:`Paced` for the common constant-rate run (no script, no ``-n``): the same decisions
    on fewer steps, since they run once per response at the highest rates. An HTTP/1.1
    connection whose response was the previous one again asks :meth:`take_due` from its fast
    path and writes the next request itself, as the static closed loop does."""

    def take_due(self, now: int) -> int:
        """The due time of the oldest batch due by ``now``, taken; 0 if none is, or if one lost
        in flight is owed (then :meth:`batch_done` decides)."""
        due = self.next_due_ns
        if due > now or self.owed:  # once stopped, the next is due NEVER
            return 0
        self.issued += 1
        self.next_due_ns = next(self.due_times)
        if self.idle:
            self._taken_while_idle(now)
        return due

    def batch_done(self, conn: Connection) -> None:
        if self.stopped:
            return
        due = self.owed.popleft() if self.owed else self.take_due(perf_counter_ns())
        if due:
            conn.send(None, due)
        else:
            self.idle.append(conn)
            self._wake_at_next_due()

    def _send(self, conn: Connection, intended_ns: int = 0) -> None:
        conn.send(None, intended_ns)  # no script, no targets, no closing: the static request


class Staged(Pacing):
    """A rate that ramps (``--stages``): request ``n`` (from 0) is due when the stages have asked
    for ``n`` (the integral of the rate), from the :class:`Ramp`, as batch ``i`` is due after
    ``i`` intervals at a constant rate; none is due at or after the last stage's end. As -R's,
    a worker's due times come ``stagger`` of a batch late: batch ``i`` is due when its share has
    asked for ``(i + stagger) * depth``, so that the workers' due requests add up to the integral
    (-t2 --stages 1ms:100,2s:0: 101 for 100.05, not 2 x 51)."""

    def __init__(self, sending: Sending, ramp: Ramp, stagger: Fraction = Fraction(0)) -> None:
        super().__init__(sending)
        self.ramp = ramp
        self.stagger = float(stagger)  # a float: a Fraction's sum costs more than the rest of the step

    def start(self, start_ns: int) -> None:
        self.start_ns = start_ns  # its due times are the ramp's, from here
        self.next_due_ns = self._due_time(0)
        super().start(start_ns)

    def _due_time(self, batch: int) -> int:
        due_s = self.ramp.due_s((batch + self.stagger) * self.depth)  # its first request's
        return NEVER if due_s is None else self.start_ns + int(due_s * 1e9)


def new_schedule(
    sending: Sending, rate: float | None, ramp: tuple[tuple[float, float], ...] = (), stagger: Fraction = Fraction(0)
) -> Schedule:
    """The schedule for a run: the closed loop, a constant ``rate`` (requests per second; its due
    times ``stagger`` of an interval late, see WorkerSpec), or a rate that ramps through stages
    (as staggered)."""
    if ramp:
        return Staged(sending, Ramp(ramp), stagger)
    static = sending.quota is None and sending.script is None and sending.closing is None
    if rate is None:
        return ClosedTargets(sending) if sending.targets and static else ClosedLoop(sending)
    if static and not sending.targets:
        return PacedStatic(sending, rate, stagger)
    return Paced(sending, rate, stagger)
