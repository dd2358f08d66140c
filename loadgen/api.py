"""The programmatic API: ``loadgen.run()`` and its awaitable twin ``loadgen.run_async()``."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._run.cluster import execute_on_cluster
from ._run.engine import Progress, execute
from .live.sinks import Exporter, Hub, OnSecond
from .plan import prepare
from .result import Result
from .settings import Settings

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["Progress", "run", "run_async", "run_settings", "settings_for"]

Headers = Mapping[str, str] | Iterable[tuple[str, str]] | None


def settings_for(
    url: str,
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
) -> Settings:
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
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
    )


def run(
    url: str,
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
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    dask: str | Client | None = None,
    on_second: OnSecond | None = None,
    exporters: Iterable[Exporter] = (),
) -> Result:
    """Load ``url`` as ``wrk -t threads -c connections -d duration`` would, and return the result.

    ``duration`` and ``timeout`` are seconds. ``rate`` switches to a constant total rate
    (requests/sec, latency from the intended send times); ``requests`` stops after that many
    responses (``duration`` still bounds the run unless it is None). Setting ``stop`` ends the run
    early with what was measured. ``dask`` runs each worker as a task on a Dask cluster: a
    scheduler's address (``"tcp://10.0.0.5:8786"``), ``"local:N"`` for N worker processes here,
    or a connected ``distributed.Client``; ``on_progress`` is not called then. ``on_second`` is
    called with each second of the run as it ends (a :class:`loadgen.LiveSecond`, from a thread
    of the run's; the last one, ``final``, after the run), and so are the ``exporters``
    (:class:`loadgen.PrometheusExporter`, :class:`loadgen.OtlpExporter`, or any
    :class:`loadgen.Exporter`). Raises
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
    )
    return run_settings(
        settings, stop=stop, on_progress=on_progress, dask=dask, on_second=on_second, exporters=exporters
    )


def run_settings(
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    dask: str | Client | None = None,
    on_second: OnSecond | None = None,
    exporters: Iterable[Exporter] = (),
) -> Result:
    sinks: list[Exporter | OnSecond] = [*exporters, *([on_second] if on_second is not None else [])]
    hub = Hub(settings, settings.threads, sinks) if sinks else None
    deliver = hub.deliver if hub is not None else None
    if dask is not None:
        result = execute_on_cluster(prepare(settings, here=False), dask, stop=stop, on_second=deliver)
    else:
        result = execute(prepare(settings), stop=stop, on_progress=on_progress, on_second=deliver)
    if hub is not None:
        hub.end(result)
        for failure in hub.failures:
            warnings.warn(f"loadgen: {failure}", RuntimeWarning, stacklevel=2)
    return result


async def run_async(url: str, **options: Any) -> Result:
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
