"""The programmatic API: ``loadgen.run()`` and its awaitable twin ``loadgen.run_async()``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._run.cluster import execute_on_cluster
from ._run.engine import Progress, execute
from .errors import UsageError
from .plan import prepare
from .result import Result
from .settings import Settings
from .targetsfile import Target

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["Progress", "run", "run_async", "run_settings", "settings_for"]

Headers = Mapping[str, str] | Iterable[tuple[str, str]] | None
Targets = Sequence[Target | str] | None


def _targets(url: str | None, targets: Targets) -> tuple[str, tuple[Target, ...]]:
    """The run's URL and its targets (a plain URL is a GET): a URL, or targets on one server."""
    chosen = tuple(Target("GET", t) if isinstance(t, str) else t for t in targets or ())
    if url is not None and chosen:
        raise UsageError("give either a URL or targets, not both")
    if url is None and not chosen:
        raise UsageError("give a URL, or a list of targets")
    return url if url is not None else chosen[0].url, chosen


def settings_for(
    url: str | None = None,
    *,
    threads: int = 2,
    connections: int = 10,
    duration: float | None = 10.0,
    timeout: float = 2.0,
    headers: Headers = None,
    method: str = "GET",
    body: bytes | str | None = None,
    rate: float | None = None,
    requests: int | None = None,
    script: str | None = None,
    script_args: Iterable[str] = (),
    unix_socket: str | None = None,
    targets: Targets = None,
) -> Settings:
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    url, chosen = _targets(url, targets)
    return Settings(
        url=url,
        threads=threads,
        connections=connections,
        duration=duration,
        timeout=timeout,
        headers=tuple((str(name), str(value)) for name, value in pairs),
        method=method,
        body=body.encode() if isinstance(body, str) else body,
        rate=rate,
        requests=requests,
        script=script,
        script_args=tuple(script_args),
        unix_socket=unix_socket,
        targets=chosen,
    )


def run(
    url: str | None = None,
    *,
    threads: int = 2,
    connections: int = 10,
    duration: float | None = 10.0,
    timeout: float = 2.0,
    headers: Headers = None,
    method: str = "GET",
    body: bytes | str | None = None,
    rate: float | None = None,
    requests: int | None = None,
    script: str | None = None,
    script_args: Iterable[str] = (),
    unix_socket: str | None = None,
    targets: Targets = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    dask: str | Client | None = None,
) -> Result:
    """Load ``url`` as ``wrk -t threads -c connections -d duration`` would, and return the result.

    ``duration`` and ``timeout`` are seconds. ``rate`` switches to a constant total rate
    (requests/sec, latency from the intended send times); ``requests`` stops after that many
    responses (``duration`` still bounds the run unless it is None). Setting ``stop`` ends the run
    early with what was measured. ``dask`` runs each worker as a task on a Dask cluster: a
    scheduler's address (``"tcp://10.0.0.5:8786"``), ``"local:N"`` for N worker processes here,
    or a connected ``distributed.Client``; ``on_progress`` is not called then. ``targets``, instead
    of ``url``, is a list of requests (:class:`loadgen.Target`, or a URL for a GET) on one server,
    sent in turn by weight, each with its line in ``Result.targets``. Raises
    :class:`loadgen.LoadgenError` subclasses with wrk's messages for bad settings or an
    unreachable target.
    """
    settings = settings_for(
        url,
        threads=threads,
        connections=connections,
        duration=duration,
        timeout=timeout,
        headers=headers,
        method=method,
        body=body,
        rate=rate,
        requests=requests,
        script=script,
        script_args=script_args,
        unix_socket=unix_socket,
        targets=targets,
    )
    return run_settings(settings, stop=stop, on_progress=on_progress, dask=dask)


def run_settings(
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    dask: str | Client | None = None,
) -> Result:
    if dask is not None:
        return execute_on_cluster(prepare(settings, here=False), dask, stop=stop)
    return execute(prepare(settings), stop=stop, on_progress=on_progress)


async def run_async(url: str | None = None, **options: Any) -> Result:
    """:func:`run` for code already inside an event loop: the run happens in worker processes
    watched from a thread, so the loop stays free. Cancelling stops the run."""
    stop = options.pop("stop", None) or threading.Event()
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, lambda: run(url, stop=stop, **options))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.wait([future])  # the workers are stopped and reaped before we give up
        raise
