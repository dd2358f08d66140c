"""The keyword arguments of ``loadgen.run()`` and ``run_async()`` as a caller may write them, for a
type checker. :class:`~loadgen.Settings` declares each field as it is stored (``headers`` a tuple of
pairs, ``duration`` a float), and the calls take more (a dict of headers, ``duration="1s"``, text for
a body, lists for tuples): checked against the stored types, ``mypy --strict`` refused the README's
own calls. The names are Settings' fields and the run's controls, kept equal by a test
(tests/test_api_types.py); what each value may be is checked at the call (``api_value``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, TypedDict

if TYPE_CHECKING:
    import threading

    from distributed import Client

    from .api import Progress, Workers
    from .live.sinks import Exporter, OnSecond
    from .targetsfile import Target

__all__ = ["RunOptions"]


class RunOptions(TypedDict, total=False):
    """``run(url, **options)``'s options: a count or a duration may also be its flag's text (``"1k"``,
    ``"500ms"``). A program that wraps ``run`` may declare ``**options: Unpack[RunOptions]``."""

    threads: int | str
    connections: int | str
    duration: float | str | None
    timeout: float | str
    headers: Mapping[str, object] | Iterable[tuple[object, object]]
    method: str
    body: bytes | str | None
    rate: float | str | None
    requests: int | str | None
    script: str | None
    script_args: Iterable[str]
    unix_socket: str | None
    http2: bool | Literal["auto"]
    streams: int | str
    targets: Iterable[Target | str]
    stages: Iterable[Sequence[float]]
    stages_connections: Iterable[Sequence[float]]
    keepalive: bool
    requests_per_connection: int | str | None
    cacert: str | None
    verify: bool
    cert: str | None
    key: str | None
    sni: str | None
    tls_version: str | None
    warmup: float | str
    script_timeout: float | str
    stop: threading.Event | None
    on_progress: Callable[[Progress], None] | None
    dask: str | Client | None
    on_second: OnSecond | None
    exporters: Sequence[Exporter | OnSecond]
    workers: Workers | None
