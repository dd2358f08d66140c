"""What a worker sends home each second while it runs: one closed second of its timeline and
its running state; and, when its channel closes, that it is gone. Plain data, pickled across the
process boundary. Beside them, the parent's reader says when it has read all there was
(:class:`Caught`): the merge's clock for a worker that posts nothing."""

from __future__ import annotations

from dataclasses import dataclass

from ..measurement import ErrorReason, Interval, WorkerCpu

__all__ = ["Caught", "LivePost", "WorkerGone", "WorkerSecond"]


@dataclass(frozen=True)
class WorkerSecond:
    """Second ``second`` (0 is the first) of worker ``index``'s window, on ``host``.

    ``interval`` is what completed in that second, as the timeline has it, and ``end_us`` where it
    ended on the worker's clock, from the window's start (its seconds' lengths added up, as the run's
    timeline adds them: a second dropped on its way sets no later one back); the rest is the state
    at its end, counted since the window began. ``last``: the window's last second, posted as the
    loop stops (it may be shorter), for the final view's per-worker figures only."""

    index: int
    host: str
    second: int
    interval: Interval
    end_us: int
    status_counts: dict[int, int]
    error_reasons: dict[ErrorReason, int]
    connections_open: int
    connections_opened: int
    cpu: WorkerCpu
    last: bool = False


@dataclass(frozen=True)
class WorkerGone:
    """Worker ``index``'s channel closed: it posts no more seconds. One that posted its window's
    last second ended; one that did not died (or was killed), and its later seconds are merged
    from the others at once, not waited for (the view froze, then ran two seconds behind)."""

    index: int


@dataclass(frozen=True)
class Caught:
    """The parent's reader has handed on every record its channels held (given at least every
    :data:`loadgen.live.channel.TICK_S`): a second that still lacks a worker's record has waited
    for it, not for the reader (the merge judges how long a worker is behind only then)."""


LivePost = WorkerSecond | WorkerGone | Caught  # what the parent's reader hands on, in each worker's order
