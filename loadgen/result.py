"""The outcome of a run, as an immutable value: counts, exact histograms and wrk's statistics.

A Result keeps raw data (what the workers measured) and derives everything else on demand, so
two results merge exactly (add the counts) and the statistics of the merge are the statistics
of the union of samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, reduce

from .settings import Settings
from .spec import WorkerResult
from .stats import Distribution, add_counts, wrk_corrected, wrk_expected_interval
from .wrk2format import paced_report_text
from .wrkformat import WRK_PERCENTILES, StatsRow, WrkReport, wrk_report_text

REPORTED_PERCENTILES = (50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0)


class Counts(Mapping):
    """A read-only mapping of counts (status code -> responses, µs -> samples, ...)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping | Iterable = ()) -> None:
        self._data = {key: count for key, count in dict(data).items() if count}

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self) -> Iterator:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Counts({self._data!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __reduce__(self):
        return (Counts, (self._data,))


@dataclass(frozen=True)
class Errors:
    """wrk's error counters: socket errors, responses slower than the timeout, status > 399."""

    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0
    status: int = 0

    @property
    def socket(self) -> int:
        """What wrk's "Socket errors" line adds up."""
        return self.connect + self.read + self.write + self.timeout

    def __add__(self, other: Errors) -> Errors:
        return Errors(*(a + b for a, b in zip(self.__dict__.values(), other.__dict__.values())))


@dataclass(frozen=True)
class Result:
    """What a run measured. Latencies are integer microseconds.

    ``latency`` is what the report shows: in the default closed-loop mode wrk's correction for
    coordinated omission applied to the measured latencies (``latency_uncorrected``); in
    constant-rate mode the latency from each request's intended send time, while
    ``latency_uncorrected`` counts from the actual write.
    """

    settings: Settings
    requests: int
    bytes: int
    runtime_us: int
    errors: Errors
    status_counts: Counts = field(default_factory=Counts)
    error_reasons: Counts = field(default_factory=Counts)  # "read: ECONNRESET" -> count
    failures: Counts = field(default_factory=Counts)  # the server's fault: malformed, truncated
    latency_counts: Counts = field(default_factory=Counts)  # µs -> samples, as measured
    paced_uncorrected_counts: Counts = field(default_factory=Counts)  # constant rate: from the write
    req_per_sec_counts: Counts = field(default_factory=Counts)
    loop: str = ""
    workers: int = 0
    connections_opened: int = 0
    peak_open_connections: int = 0
    interrupted: bool = False
    worker_failures: tuple[str, ...] = ()
    script_globals: tuple[Mapping[str, object], ...] = ()
    script_error: str | None = None

    @classmethod
    def from_run(cls, settings: Settings, merged: WorkerResult, runtime_us: int, *, workers: int,
                 interrupted: bool = False, worker_failures: tuple[str, ...] = ()) -> Result:
        status_errors = sum(count for status, count in merged.status_counts.items() if status > 399)
        return cls(
            settings=settings,
            requests=merged.complete,
            bytes=merged.bytes,
            runtime_us=runtime_us,
            errors=Errors(merged.connect_errors, merged.read_errors, merged.write_errors, merged.timeouts, status_errors),
            status_counts=Counts(merged.status_counts),
            error_reasons=Counts(merged.error_reasons),
            failures=Counts(merged.failures),
            latency_counts=Counts(merged.latency),
            paced_uncorrected_counts=Counts(merged.latency_uncorrected),
            req_per_sec_counts=Counts(merged.req_per_sec),
            loop=merged.loop,
            workers=workers,
            connections_opened=merged.connections_opened,
            peak_open_connections=merged.peak_open,
            interrupted=interrupted,
            worker_failures=worker_failures,
            script_globals=tuple(merged.script_globals),
            script_error=merged.script_error,
        )

    # -- statistics --------------------------------------------------------------------------

    @property
    def paced(self) -> bool:
        """Constant-rate (open model) run."""
        return self.settings.rate is not None

    @cached_property
    def latency_uncorrected(self) -> Distribution:
        """Latency as measured from the actual write of each request."""
        return Distribution(self.paced_uncorrected_counts if self.paced else self.latency_counts)

    @cached_property
    def latency(self) -> Distribution:
        """Latency corrected for coordinated omission (see the class docstring)."""
        if self.paced:
            return Distribution(self.latency_counts)
        expected = wrk_expected_interval(self.runtime_us, self.requests, self.settings.connections)
        return wrk_corrected(Distribution(self.latency_counts), expected)

    @cached_property
    def req_per_sec(self) -> Distribution:
        """Per-worker request rates sampled every 100 ms (wrk's Req/Sec)."""
        return Distribution(self.req_per_sec_counts)

    @property
    def runtime_s(self) -> float:
        return self.runtime_us / 1_000_000

    @property
    def requests_per_sec(self) -> float:
        return self.requests / self.runtime_s if self.runtime_us else 0.0

    @property
    def transfer_per_sec(self) -> float:
        """Bytes read per second."""
        return self.bytes / self.runtime_s if self.runtime_us else 0.0

    # -- the wrk report ----------------------------------------------------------------------

    def wrk_report_data(self) -> WrkReport:
        s = self.settings
        return WrkReport(
            url=s.url, duration_s=s.duration if s.duration is not None else self.runtime_s,
            threads=s.threads, connections=s.connections,
            latency=StatsRow.of(self.latency), req_per_sec=StatsRow.of(self.req_per_sec),
            latency_percentiles=tuple(self.latency.wrk_percentile(p) for p in WRK_PERCENTILES),
            complete=self.requests, bytes=self.bytes, runtime_us=self.runtime_us,
            connect_errors=self.errors.connect, read_errors=self.errors.read, write_errors=self.errors.write,
            timeouts=self.errors.timeout, status_errors=self.errors.status,
        )

    def wrk_report(self, *, latency: bool = False, header: bool = True) -> str:
        """The report exactly as the CLI prints it (``latency`` is ``--latency``)."""
        if self.paced:
            return paced_report_text(self, latency=latency, header=header)
        return wrk_report_text(self.wrk_report_data(), latency=latency, header=header)

    # -- merging and JSON --------------------------------------------------------------------

    def __add__(self, other: Result) -> Result:
        """Two runs (or two machines' shares of one) as one: counts add, runtimes overlap."""
        if not isinstance(other, Result):
            return NotImplemented
        a, b = self.settings, other.settings
        settings = replace(a, threads=a.threads + b.threads, connections=a.connections + b.connections,
                           rate=(a.rate or 0) + (b.rate or 0) if a.rate or b.rate else None,
                           requests=(a.requests or 0) + (b.requests or 0) if a.requests or b.requests else None)

        def merged(name: str) -> Counts:
            return Counts(add_counts(getattr(self, name), getattr(other, name)))

        return Result(
            settings=settings,
            requests=self.requests + other.requests,
            bytes=self.bytes + other.bytes,
            runtime_us=max(self.runtime_us, other.runtime_us),
            errors=self.errors + other.errors,
            status_counts=merged("status_counts"),
            error_reasons=merged("error_reasons"),
            failures=merged("failures"),
            latency_counts=merged("latency_counts"),
            paced_uncorrected_counts=merged("paced_uncorrected_counts"),
            req_per_sec_counts=merged("req_per_sec_counts"),
            loop=self.loop if self.loop == other.loop else f"{self.loop}+{other.loop}",
            workers=self.workers + other.workers,
            connections_opened=self.connections_opened + other.connections_opened,
            peak_open_connections=self.peak_open_connections + other.peak_open_connections,
            interrupted=self.interrupted or other.interrupted,
            worker_failures=self.worker_failures + other.worker_failures,
            script_globals=self.script_globals + other.script_globals,
            script_error=self.script_error or other.script_error,
        )

    def to_json(self, *, indent: int | None = 2) -> str:
        from .resultjson import result_to_json  # resultjson imports this module
        return result_to_json(self, indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Result:
        from .resultjson import result_from_json
        return result_from_json(text)


def merge(results: Iterable[Result]) -> Result:
    """Several results as one (see :meth:`Result.__add__`)."""
    return reduce(lambda a, b: a + b, results)
