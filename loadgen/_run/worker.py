"""A worker: one event loop driving its share of the connections until told to stop.

This is wrk's thread: it opens its connections at once, keeps one request (or pipelined batch, or up to
``-m`` streams) in flight on each, samples its own request rate every 100 ms, and stops at its deadline,
dropping what is in flight. :func:`run_worker` is the whole contract: a picklable spec in, a picklable
:class:`~loadgen.measurement.Measurement` out; the process plumbing lives in :mod:`loadgen._run.workerproc`.

The worker puts the parts together and owns the run's window: the run's protocol, looked up by
name in :mod:`loadgen._run.protocols` (the worker never imports one); the connections
(:mod:`.pool`); when each sends (:mod:`.schedule`); what is sampled over time (:mod:`.sampling`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from time import monotonic_ns, perf_counter_ns
from typing import Any

from .._stats.stats import add_counts
from ..measurement import Measurement, Tally, WorkerCpu
from ..script import WorkerScript
from .closing import closing
from .eventloop import Clock, call_on_time, new_event_loop
from .pool import Pool
from .protocols import protocol_named
from .sampling import HELD_NS, RateSampler, Timeline, usage, usage_at
from .schedule import Pacing, Sending, new_schedule, target_cycle
from .spec import WorkerSpec

__all__ = ["Worker", "run_worker"]


class Worker:
    """One worker's run: its window, and the parts that drive its connections."""

    def __init__(
        self, spec: WorkerSpec, loop: asyncio.AbstractEventLoop, loop_name: str, script: WorkerScript | None = None
    ) -> None:
        self.spec = spec
        self.loop = loop
        self.loop_name = loop_name
        self.script = script
        self.tally = tally = Tally(spec.timeout_us, spec.rotation.labels if spec.rotation is not None else ())
        protocol = protocol_named(spec.protocol)
        self.tally.protocol = protocol.name
        request_hook = script.request if script is not None else None
        delay_hook = script.delay if script is not None else None
        self.response_hook = script.response if script is not None else None
        scheme = "https" if spec.server_name is not None else "http"
        first = script.first_request if script is not None else spec.request
        counted = spec.quota is not None  # -n: each request asked of the schedule, a share of 0 too (none)
        exchange = protocol.exchange(
            first,
            scheme=scheme,
            repeat=not (request_hook or delay_hook or spec.rate is not None or spec.ramp or counted or spec.rotation)
            and spec.closes_after is None
            and not spec.growth,
            collect=self.response_hook is not None,
            streams=spec.streams_per_connection,
        )
        encode = partial(protocol.encode, scheme=scheme)
        targets, closes = target_cycle(spec.rotation, self.tally, encode), closing(spec, first, encode)
        sending = Sending(loop, tally, exchange, encode, script, self.stop, spec.quota, targets, closes, spec.load_ns)
        self.schedule = new_schedule(sending, spec.rate, spec.ramp, spec.stagger)
        address = script.thread_addr if script is not None else spec.address
        self.clock = Clock(loop, spec.connections)  # its timers: on time however busy the loop (see Clock)
        self.pool = Pool(
            self.clock, address, spec.server_name, protocol, exchange, self.schedule, self.response_received, spec.tls
        )
        self.pool.shape(spec.closes_after, spec.growth, spec.stagger)
        self.timeline = Timeline(self.clock, self.tally, self.pool.bytes_read, self._second)
        self.sampler = RateSampler(self.clock, self.tally, self._tick)
        self.start_ns, self.start_cpu = 0, (0.0, 0.0, 0.0)  # the CPU, waiting and hooks seconds then
        self.stopping = False
        self.warming = False  # in the warm-up: what it counts is forgotten as the window opens
        self.on_tick: Callable[[Worker], None] | None = None  # every 100 ms: the progress board
        self.on_second: Callable[[Worker], None] | None = None  # each second closed on time: the live views
        self.on_opened: Callable[[int | None], None] | None = None  # connects issued: release the next worker
        self.ends_at: int | None = None  # time.monotonic_ns() when the run ends (None: -d after its own start)
        self.end_ns: int | None = None  # the same on this worker's clock (perf_counter_ns)
        self.failure: str | None = None  # an unexpected error in the engine, as one line
        self.held_at_end = False  # a constant rate's end came late: see _end_of_schedule
        self.on_held: Callable[[int], None] | None = None  # the end moved (time.monotonic_ns()): the parent waits
        loop.set_exception_handler(self._loop_error)

    def start(self) -> None:
        """Open every connection at once and start the timers (call with the loop running).

        As in wrk's thread_main, every connect() is issued (by the tasks' first steps: the
        address is numeric) before ``on_opened`` runs and before the first request is written.
        The load ends at ``ends_at`` when the run gave one (the workers of a run stop together,
        as wrk's threads do), else the warm-up and ``-d`` after this start; its last ``-d`` is measured."""
        spec = self.spec
        self.clock.start()
        self.start_ns, self.start_cpu = perf_counter_ns(), usage(self.script)
        window_ns = self.start_ns  # when the measured window begins: after the warm-up, if any
        stages_from_ns = self.start_ns  # the run's start: a worker released late is as far into the stages
        load_ns = spec.load_ns
        if load_ns is not None and spec.duration_s is not None:
            ends_in_ns = self.ends_at - monotonic_ns() if self.ends_at is not None else load_ns
            self.end_ns = self.start_ns + ends_in_ns
            stages_from_ns = self.end_ns - load_ns  # from the end the workers share
            paced = isinstance(self.schedule, Pacing)
            growth_end = partial(self.pool.end_growth, self.end_ns, self.stop, self.on_held)
            at_end = self._end_of_schedule if paced else growth_end if spec.growth else self.stop
            call_on_time(self.clock, self.end_ns, at_end)
            if spec.warmup_s:
                window_ns = max(window_ns, self.end_ns - int(spec.duration_s * 1e9))
        idle = spec.quota == 0  # -n smaller than -t: this worker's share is none, it opens nothing and stops
        for _ in range(0 if spec.growth or idle else spec.connections):
            self.pool.open_connection()
        if spec.growth:
            self.pool.start_growing(stages_from_ns)
        if self.on_opened is not None:
            ends_at = None if self.end_ns is None else monotonic_ns() + self.end_ns - perf_counter_ns()
            self.loop.call_soon(self.on_opened, ends_at)
        self.sampler.start(self.start_ns, self.end_ns)
        self.schedule.start(self.start_ns)
        if idle:
            self.loop.call_soon(self.stop)
        self.warming = window_ns > self.start_ns
        if self.warming:
            opening = partial(self._open_window, window_ns)
            call_on_time(self.clock, window_ns, opening)
        else:
            self.timeline.start(self.start_ns, self.end_ns)

    def _open_window(self, at_ns: int) -> None:
        """The warm-up's end, or a stop in it (then nothing is measured): forget all it counted.
        The window opens when it was due (``at_ns``), not when a loop held off its CPU got to it: its end
        is fixed, and a late opening would have made it shorter than -d; its CPU figures too (``usage_at``)."""
        if self.warming:
            self.warming = False
            self.tally.restart()
            self.pool.restart()
            self.start_ns, self.start_cpu = at_ns, usage_at(at_ns, (self.start_ns, self.start_cpu), self.script)
            self.sampler.restart(self.start_ns)
            self.timeline.start(self.start_ns, self.end_ns)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """What the loop would log. Socket and TLS errors are already counted by the connection
        that saw them; anything else is a bug, which stops the worker and is reported in one line."""
        exc = context.get("exception")
        if isinstance(exc, OSError):
            return
        if self.failure is None:
            self.failure = f"{type(exc).__name__}: {exc}" if exc is not None else str(context.get("message"))
        self.stop()

    def _end_of_schedule(self) -> None:
        """A constant rate's end. A worker held off its CPU across it has not sent the batches that
        fell due meanwhile: they go out now, with as long again to be answered, the window staying
        -d, as after a hold in mid-run (else the client's hold reads as a rate the server missed).
        A hold that ended just before the end, or a little after, counts too, from the oldest batch it
        left unsent (held 2.92 s to 3.005 s of -d3s at -R1000: 75 never sent, a shortfall of 3%).
        A script's request() or response() runs in the loop: a late end may be theirs, which the diagnosis says."""
        assert self.end_ns is not None and isinstance(self.schedule, Pacing)
        if self.held_at_end or self.stopping:  # the parent said it was late, then its timer fired, or the reverse
            return
        now = perf_counter_ns()
        late_ns = max(now - self.end_ns, self.schedule.lag_ns(now))
        if late_ns < HELD_NS or (self.script is not None and self.script.paced_hooks):
            self.stop()
            return
        self.held_at_end = True
        self.clock.call_later(late_ns / 1e9, self.stop)
        if self.on_held is not None:
            self.on_held(monotonic_ns() + late_ns)

    def late(self) -> None:
        """The parent's deadline passed (its -d and a second): a paced worker held across its own end
        (its timer not yet run) ends it as :meth:`_end_of_schedule` does; any other stops."""
        if isinstance(self.schedule, Pacing) and self.end_ns is not None and perf_counter_ns() >= self.end_ns:
            self._end_of_schedule()
        else:
            self.stop()

    def stop(self) -> None:
        """End the run now: in-flight requests are dropped, as wrk drops them."""
        if self.stopping:
            return
        self._open_window(perf_counter_ns())
        self.stopping = True
        self.schedule.stop()
        tally = self.tally
        elapsed_ns = perf_counter_ns() - self.start_ns
        self.sampler.stop(self.start_ns + elapsed_ns)
        if self.held_at_end and self.end_ns is not None:
            elapsed_ns = self.end_ns - self.start_ns  # the window, -d: what it answered since counts in its last second
        tally.elapsed_us = elapsed_ns // 1000
        tally.client_cpu = (WorkerCpu.between(self.start_cpu, usage(self.script), elapsed_ns / 1e9),)
        tally.bytes = self.pool.bytes_read()
        tally.timeline = self.timeline.close(self.start_ns + elapsed_ns)
        tally.latency = add_counts(*(interval.latency for interval in tally.timeline), tally.latency)
        self.pool.close_all(self.start_ns + elapsed_ns)
        self.clock.stop()
        self.loop.stop()

    def measurement(self) -> Measurement:
        tally = self.tally
        tally.workers, tally.loop = 1, self.loop_name
        if self.script is not None:
            tally.script_globals = (self.script.exported_globals(),)
            tally.script_error = self.script.error
        return tally.measurement()

    def response_received(self, status: int, headers: dict[str, str], body: bytes) -> None:
        """A response for the script's ``response()``."""
        assert self.response_hook is not None and self.script is not None
        self.response_hook(status, headers, body)
        if self.script.stop_requested:
            self.stop()

    def _tick(self) -> None:
        if self.on_tick is not None:
            self.on_tick(self)

    def _second(self) -> None:
        if self.on_second is not None:
            self.on_second(self)


def run_worker(
    spec: WorkerSpec,
    *,
    until: Callable[[Worker], None] | None = None,
    script: WorkerScript | None = None,
    stopped: Callable[[], None] | None = None,
) -> Measurement:
    """Run one worker to its deadline (or until ``until`` arranges a stop) and return what it measured.

    ``until`` is called with the worker before the loop starts, so a caller can wire a stop
    signal or progress reports into the loop; ``stopped`` once the loop has stopped, before the
    measurement is put together (a script's large globals can take seconds to look through on a
    loaded machine, a silence that must not pass for a stuck loop)."""
    loop, loop_name = new_event_loop()
    try:
        worker = Worker(spec, loop, loop_name, script)
        if until is not None:
            until(worker)
        loop.call_soon(worker.start)
        loop.run_forever()
        if stopped is not None:
            stopped()
        return worker.measurement()
    finally:
        loop.close()
