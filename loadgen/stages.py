"""Stages (``--stages 30s:100,1m:1000,30s:0``, k6's ramping arrival rate; ``--stages-connections``
for a closed loop that grows): each stage moves a target linearly from the previous stage's
(0 at the start) to its own over its duration. Pure functions of the stages, no I/O: the
parsing, the requests asked by a moment (the integral of the rate), and its inverse, the moment
each request is due, which a worker's schedule walks forward.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from . import units
from .errors import UsageError, excerpt

__all__ = ["Demand", "Ramp", "Stage", "bounds", "level_at", "parse_stages", "stages_problem", "total_s"]

Stage = tuple[float, float]  # (duration in seconds, the target at its end: requests/sec or connections)
# Requests: a request due this close to a segment's end is due at its end, so that float sums of
# the integrals (exact to far less) never put one at the stages' very end, or in a stage at 0
ASKED_ROUNDING = 1e-6


def parse_stages(flag: str, text: str | None) -> tuple[Stage, ...] | None:
    """``30s:100,1m:1000``: durations with a time unit, targets with an SI unit (``1k``)."""
    if text is None:
        return None
    stages = []
    for part in text.split(","):
        duration, colon, target = part.strip().partition(":")
        try:
            if not colon:
                raise units.UnitError(f"{excerpt(part.strip())} is not DURATION:TARGET")
            seconds, count = units.parse_duration(duration), units.parse_count(target)
        except units.UnitError as exc:
            raise UsageError(f"invalid {flag}: {exc}") from None
        if not _runnable(seconds, count):
            raise UsageError(f"invalid {flag}: {excerpt(part.strip())}: {_RULE}")
        stages.append((seconds, float(count)))
    return tuple(stages)


_RULE = "a stage lasts more than 0s and aims at 0 or more"


def _runnable(seconds: float, target: float) -> bool:
    return math.isfinite(seconds) and seconds > 0 and target >= 0  # NaN fails both


def stages_problem(flag: str, stages: tuple[Stage, ...]) -> str | None:
    """The first stage no run can ramp through, said as ``flag``'s parsing says it: stages given
    from Python (``loadgen.run(stages=[(1, -5)])``) come through no text (a negative target, a
    stage of 0s or NaN ran, measuring nothing or a ramp from the wrong start)."""
    for seconds, target in stages:
        if not _runnable(seconds, target):
            return f"invalid {flag}: '{seconds:g}s:{target:g}': {_RULE}"
    return None


def total_s(stages: tuple[Stage, ...]) -> float:
    return sum(duration for duration, _ in stages)


def bounds(stages: tuple[Stage, ...]) -> tuple[tuple[float, float], ...]:
    """Each stage's start and end, seconds from the start: the one place they are added up, so
    that the report judges and names the stages the workers ran."""
    start, spans = 0.0, []
    for duration, _ in stages:
        spans.append((start, start + duration))
        start += duration
    return tuple(spans)


@dataclass(frozen=True)
class _Segment:
    start_s: float
    asked_before: float  # requests asked before it began
    duration_s: float
    start_rate: float
    end_rate: float

    @property
    def asked(self) -> float:
        return (self.start_rate + self.end_rate) / 2 * self.duration_s

    def asked_by(self, t: float) -> float:
        """Requests asked from its start to ``t`` seconds into it."""
        return self.start_rate * t + (self.end_rate - self.start_rate) * t * t / (2 * self.duration_s)

    def when(self, n: float) -> float:
        """Seconds into it at which ``n`` requests (n <= asked) have been asked: the root of
        a t^2 + b t = n, written so that it holds for a ramp down and a constant rate alike; its
        start for n <= 0 (the first request of a ramp from 0, or one carried over from the
        previous segment's end by the rounding)."""
        if n <= 0:
            return 0.0
        a = (self.end_rate - self.start_rate) / (2 * self.duration_s)
        b = self.start_rate
        return 2 * n / (b + math.sqrt(max(0.0, b * b + 4 * a * n)))


def _segments(stages: tuple[Stage, ...]) -> tuple[_Segment, ...]:
    segments, start, asked, rate = [], 0.0, 0.0, 0.0
    for duration, target in stages:
        segment = _Segment(start, asked, duration, rate, target)
        segments.append(segment)
        start, asked, rate = start + duration, asked + segment.asked, target
    return tuple(segments)


def level_at(stages: tuple[Stage, ...], t: float) -> float:
    """The target ``t`` seconds from the start (the last one's after the end)."""
    level = 0.0
    for (start, end), (duration, target) in zip(bounds(stages), stages, strict=True):
        if t < end:
            return level + (target - level) * (t - start) / duration
        level = target
    return level


class Demand:
    """What stages ask for over time, their segments made once: the report and the live views ask
    it of every second (remade at each call, a run of 600 stages took 5.7 s to diagnose)."""

    def __init__(self, stages: tuple[Stage, ...]) -> None:
        self.segments = _segments(stages)
        self.starts = [segment.start_s for segment in self.segments]

    def between(self, start_s: float, end_s: float) -> float:
        """Requests asked for between two moments (seconds from the start)."""
        return self._by(end_s) - self._by(start_s)

    def _by(self, t: float) -> float:
        """Asked before ``t``: all the segments' before the last that starts before it, and its own so far."""
        index = bisect.bisect_left(self.starts, t) - 1
        if index < 0:
            return 0.0
        segment = self.segments[index]
        return segment.asked_before + segment.asked_by(min(t - segment.start_s, segment.duration_s))


class Ramp:
    """When each request is due, for one worker's share of a rate's stages (their targets already
    its share: see WorkerSpec): walked forward, request after request, in constant time each."""

    def __init__(self, stages: tuple[Stage, ...]) -> None:
        self.segments = _segments(stages)
        self.current = 0

    def due_s(self, n: float) -> float | None:
        """Seconds from the start at which request ``n`` (from 0) is due: when the stages have
        asked for ``n``, as -R's is due after ``n`` intervals, so that the requests due before
        the end are the integral's count, the count the report says was asked (numbered from 1,
        the last would be due at the very end, as the run stops, and never sent); None: never
        (the stages ask for no more). ``n`` never decreases from one call to the next; a worker's
        share is ``n`` plus its stagger (see WorkerSpec), so that the workers' requests interleave
        and their count is the whole run's, not each share's rounded up."""
        segments = self.segments
        while self.current < len(segments):
            segment = segments[self.current]
            into = n - segment.asked_before
            if into < segment.asked - ASKED_ROUNDING:  # due before its end: not in a stage at 0
                return segment.start_s + segment.when(into)
            self.current += 1
        return None
