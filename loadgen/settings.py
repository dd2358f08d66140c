"""What the user asked for, checked in wrk's order, and turned into one spec per worker."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import UsageError
from .request import RequestBatch, format_request, request_headers, verify_batch
from .script import ScriptError, SetupThread, Wrk, describe_exception, load_script
from .spec import ScriptSpec, WorkerSpec
from .target import Address, Url, parse_url, resolve


@dataclass(frozen=True)
class Settings:
    """One load test. Durations are in seconds; ``duration=None`` means no time limit (only
    with ``requests``)."""

    url: str
    threads: int = 2
    connections: int = 10
    duration: float | None = 10.0
    timeout: float = 2.0
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "GET"
    body: bytes | None = None
    rate: float | None = None
    requests: int | None = None
    script: str | None = None
    script_args: tuple[str, ...] = ()
    unix_socket: str | None = None

    def check(self) -> Url:
        """wrk's checks, in wrk's order; the parsed URL, or a UsageError naming the problem."""
        if self.threads <= 0:
            raise UsageError("number of threads must be > 0")
        if self.duration is not None and not self.duration > 0:
            raise UsageError("duration must be > 0")
        if self.duration is None and self.requests is None:
            raise UsageError("a run needs a duration or a request count")
        try:
            url = parse_url(self.url)
        except ValueError:
            raise UsageError(f"invalid URL: {self.url}", wrk_message=True) from None
        if self.connections <= 0 or self.connections < self.threads:
            raise UsageError("number of connections must be >= threads", wrk_message=True)
        if not math.isfinite(self.timeout) or self.timeout < 0:
            raise UsageError("timeout must be >= 0")
        if self.rate is not None and not (math.isfinite(self.rate) and self.rate > 0):
            raise UsageError("rate must be > 0 requests/sec")
        if self.requests is not None and self.requests <= 0:
            raise UsageError("number of requests must be > 0")
        if not self.method or any(c.isspace() for c in self.method):
            raise UsageError(f"invalid method {self.method!r}")
        return url

    @property
    def connections_per_worker(self) -> int:
        """wrk gives each thread c / t connections and never opens the remainder."""
        return self.connections // self.threads


@dataclass(frozen=True)
class Plan:
    """A checked, resolved run: everything the workers need, and the script's parent side."""

    settings: Settings
    url: Url
    address: Address
    specs: tuple[WorkerSpec, ...]
    script_module: object | None = None
    setup_threads: tuple[SetupThread, ...] = field(default_factory=tuple)


def _share(total: int | float | None, parts: int, index: int) -> int | float | None:
    """Worker ``index``'s share of a total (counts split as evenly as whole numbers allow)."""
    if total is None:
        return None
    if isinstance(total, int):
        return total // parts + (1 if index < total % parts else 0)
    return total / parts


def prepare(settings: Settings, *, progress_interval_s: float | None = None) -> Plan:
    """Check the settings, resolve the target and run the script's ``setup()``: the wrk steps
    before its threads start. Raises UsageError or SetupError with wrk's messages."""
    url = settings.check()
    headers = dict(settings.headers)
    batch: RequestBatch = verify_batch(format_request(
        settings.method, url.path, request_headers(url.host_header, settings.headers, settings.body), settings.body))
    module = None
    if settings.script:
        module = load_script(settings.script, Wrk(url, settings.method, headers, settings.body))
    address = resolve(url, unix_socket=settings.unix_socket)
    threads = tuple(SetupThread(i, address) for i in range(settings.threads))
    setup = module.__dict__.get("setup") if module is not None else None
    if setup is not None:
        for thread in threads:
            try:
                setup(thread)
            except Exception as exc:  # noqa: BLE001 - user code, reported with its line
                raise ScriptError(describe_exception(settings.script, exc)) from None
    specs = []
    for i, thread in enumerate(threads):
        script = None
        if settings.script:
            script = ScriptSpec(settings.script, settings.script_args, settings.url, settings.method, headers,
                                settings.body, dict(thread.sent), thread.addr)
        specs.append(WorkerSpec(
            index=i,
            address=thread.addr,
            server_name=url.host if url.scheme == "https" else None,
            connections=settings.connections_per_worker,
            batch=batch,
            timeout_us=round(settings.timeout * 1_000_000),
            duration_s=settings.duration,
            quota=_share(settings.requests, settings.threads, i),
            rate=_share(float(settings.rate), settings.threads, i) if settings.rate else None,
            script=script,
            progress_interval_s=progress_interval_s,
        ))
    return Plan(settings, url, address, tuple(specs), module, threads)
