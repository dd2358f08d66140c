"""What a worker is told to do: plain, picklable data.

A worker is a function from a :class:`WorkerSpec` to a :class:`loadgen.measurement.Measurement`,
so workers can run as local processes or on other machines; measurements merge by adding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from ..request import Request
from ..target import Address
from .protocols import DEFAULT
from .tlsoptions import TlsOptions


@dataclass(frozen=True)
class ScriptSpec:
    """A Python script with wrk's hooks (its text, shipped by content), the request fields its
    ``wrk`` object starts from, and what ``setup()`` gave this worker."""

    path: str  # for messages only: workers run ``source``
    source: str
    args: tuple[str, ...]
    url: str
    method: str
    headers: dict[str, str]
    body: bytes | None
    timeout_s: float  # how long one hook call may hold the worker's loop before it is stuck (--script-timeout)
    thread_globals: dict[str, object] = field(default_factory=dict)
    thread_addr: Address | None = None  # thread.addr as setup() left it


@dataclass(frozen=True)
class TargetsSpec:
    """Several requests (``--targets``): each with its label, and one cycle of the order in which
    a worker sends them (indexes, each as often as its weight)."""

    requests: tuple[Request, ...]
    labels: tuple[str, ...]
    order: tuple[int, ...]


@dataclass(frozen=True)
class WorkerSpec:
    """One worker's share of the run."""

    index: int
    address: Address
    server_name: str | None  # TLS server name (https only)
    connections: int
    request: Request  # the static request; a script's request() may replace it per batch
    timeout_us: int
    duration_s: float | None  # None: until stopped or until the quota is reached
    warmup_s: float = 0.0  # load first for this long, measured by nothing: the window starts after
    quota: int | None = None  # stop after this many responses (-n share)
    rate: float | None = None  # requests per second for this worker (-R share)
    # -R: this worker's due times come this share of its interval late (index / threads), so that the
    # workers' interleave and add up to the run's rate exactly (-t3 -R100 -d1s: 100, not 3 x 34);
    # --stages the same share of a request, and --stages-connections of a connection
    stagger: Fraction = Fraction(0)
    ramp: tuple[tuple[float, float], ...] = ()  # --stages: (seconds, requests/sec) for this worker's share
    growth: tuple[tuple[float, float], ...] = ()  # --stages-connections: (seconds, connections) for this worker
    rotation: TargetsSpec | None = None  # --targets: requests in turn instead of ``request`` (the first)
    script: ScriptSpec | None = None
    protocol: str = DEFAULT  # a name in loadgen._run.protocols.PROTOCOLS
    streams_per_connection: int = 1  # HTTP/2: concurrent streams (--streams)
    tls: TlsOptions | None = None  # verification, a client certificate, a version (None: wrk's TLS)
    closes_after: int | None = None  # close each connection after this many responses (None: keep alive)
    # stop once the parent has not looked at it for this long (a Dask task's: see workerproc._stop_when_unheard)
    stop_unheard_s: float | None = None

    @property
    def load_ns(self) -> int | None:
        """The load's length from the worker's start: the warm-up, then -d (None: -n alone bounds it)."""
        return None if self.duration_s is None else int((self.warmup_s + self.duration_s) * 1e9)
