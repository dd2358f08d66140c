"""What the user asked for, as plain data, and wrk's checks of it in wrk's order. No I/O here:
preparing a run (resolution, the test connection, the script's ``setup()``) is :mod:`loadgen.plan`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import UsageError
from .target import Url, parse_url, unix_socket_problem
from .targetsfile import Target, check_targets

__all__ = ["Settings"]


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


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
    targets: tuple[Target, ...] = ()  # several requests (--targets), sent in turn; ``url`` is their server

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
        if not self.method or any(c.isspace() for c in self.method) or not self.method.isascii():
            raise UsageError(f"invalid method {self.method!r}")
        for name, value in self.headers:
            if not _latin1(name + value):
                raise UsageError(f"invalid header {name}: {value!r}: a header can carry only Latin-1 characters")
        if self.unix_socket is not None and (problem := unix_socket_problem(self.unix_socket)):
            raise UsageError(problem)
        if self.targets:
            self._check_targets(url)
        return url

    def _check_targets(self, url: Url) -> None:
        """Targets replace the run's one request: each says its own method and body, and a
        script's ``request()`` would choose requests as well."""
        if self.method != "GET" or self.body is not None:
            raise UsageError("with --targets each target gives its own method and body: drop -m, --body, --body-file")
        if self.script is not None:
            raise UsageError("use either --targets or a script (-s), not both: both choose the requests")
        check_targets(self.targets, url)

    @property
    def title(self) -> str:
        """What the report's first line says is under test: the URL, or the targets' server and
        how many there are (``http://127.0.0.1:8080 (3 targets)``)."""
        if not self.targets:
            return self.url
        url = parse_url(self.url)
        return f"{url.scheme}://{url.host_header} ({len(self.targets)} targets)"

    @property
    def connections_per_worker(self) -> int:
        """wrk gives each thread c / t connections and never opens the remainder."""
        return self.connections // self.threads
