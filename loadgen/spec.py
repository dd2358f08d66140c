"""What a worker is told to do, and what it reports back: both plain, picklable data.

A worker is a function from a :class:`WorkerSpec` to a :class:`WorkerResult`, so workers can run
as local processes today and on other machines later; results merge by adding.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .request import RequestBatch
from .stats import add_counts
from .target import Address


@dataclass(frozen=True)
class ScriptSpec:
    """A Python script with wrk's hooks, the request fields its ``wrk`` object starts from, and
    what ``setup()`` gave this worker."""

    path: str
    args: tuple[str, ...]
    url: str
    method: str
    headers: dict[str, str]
    body: bytes | None
    thread_globals: dict[str, object] = field(default_factory=dict)
    thread_addr: Address | None = None  # thread.addr as setup() left it


@dataclass(frozen=True)
class WorkerSpec:
    """One worker's share of the run."""

    index: int
    address: Address
    server_name: str | None  # TLS server name (https only)
    connections: int
    batch: RequestBatch  # the static request; a script's request() may replace it per batch
    timeout_us: int
    duration_s: float | None  # None: until stopped or until the quota is reached
    quota: int | None = None  # stop after this many responses (-n share)
    rate: float | None = None  # requests per second for this worker (-R share)
    script: ScriptSpec | None = None
    progress_interval_s: float | None = None


@dataclass
class WorkerResult:
    """Counts and exact histograms from one worker; ``a + b`` adds them."""

    complete: int = 0
    bytes: int = 0
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)
    error_reasons: dict[str, int] = field(default_factory=dict)  # "read: ECONNRESET" -> count
    failures: dict[str, int] = field(default_factory=dict)  # malformed, truncated: the server's fault
    latency: dict[int, int] = field(default_factory=dict)  # µs -> count (from intended send when paced)
    latency_uncorrected: dict[int, int] = field(default_factory=dict)  # paced mode: from the actual write
    req_per_sec: dict[int, int] = field(default_factory=dict)  # Req/Sec samples -> count
    connections_opened: int = 0
    peak_open: int = 0  # most connections open at once
    elapsed_us: int = 0
    loop: str = ""
    script_globals: list[dict[str, object]] = field(default_factory=list)  # one per worker, in order
    script_error: str | None = None  # a hook raised: file:line: message

    def __add__(self, other: WorkerResult) -> WorkerResult:
        merged: dict[str, object] = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, dict):
                merged[f.name] = add_counts(mine, theirs)
            elif f.name == "elapsed_us":  # workers run side by side: the longest one is the run
                merged[f.name] = max(mine, theirs)
            elif f.name in ("loop", "script_error"):
                merged[f.name] = mine or theirs
            else:
                merged[f.name] = mine + theirs
        return WorkerResult(**merged)
