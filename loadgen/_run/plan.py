"""Preparing a run: the wrk steps before its threads start, and what loadgen checks besides.

Check the settings, resolve the target and try a connection, check that the machine can hold
the connections asked for, run the script's ``setup()``, and cut the run into one spec per
worker. Every failure is a UsageError or SetupError with one line to say why.
"""

from __future__ import annotations

import ssl
import sys
import threading
import types
from dataclasses import dataclass, field, replace
from fractions import Fraction

from ..errors import Interrupted, SetupError
from ..prerun import PRE_RUN_TIMEOUT_S
from ..request import Request, check_request, request_headers
from ..script import (
    SetupThread,
    Wrk,
    held_output,
    load_script,
    parent_hook,
    read_script,
    script_code,
)
from ..settings import Settings
from ..stopping import interruptible
from ..target import Address, Url, from_anywhere, resolve
from ..targetsfile import Target, labels, send_order
from .hookwatch import watched_top_level
from .limits import check_limits
from .protocols import DEFAULT, TlsStart, protocol_named
from .spec import ScriptSpec, TargetsSpec, WorkerSpec
from .tlsoptions import TlsOptions, check_handshake, configure, read_options, refused
from .warned import Raised, shown_here

__all__ = ["START_TIMEOUT_S", "Plan", "prepare"]

START_TIMEOUT_S = 60.0  # forking many workers that each load a script can take a while on a busy machine


@dataclass(frozen=True)
class Plan:
    """A checked, resolved run: everything the workers need, and the script's parent side."""

    settings: Settings
    url: Url
    address: Address
    specs: tuple[WorkerSpec, ...]
    script_module: types.ModuleType | None = None
    setup_threads: tuple[SetupThread, ...] = field(default_factory=tuple)
    setup_printed: tuple[str, ...] = ()  # what each thread's setup() printed, held to be printed in wrk's order
    protocol: str = DEFAULT  # the wire protocol the workers speak
    notices: tuple[str, ...] = ()  # what the user should know before the run (a protocol fallen back)
    warned_here: tuple[Raised, ...] = ()  # the warnings the script's top level raised, shown here already

    @property
    def start_timeout_s(self) -> float:
        """How long the workers get to be ready: START_TIMEOUT_S, and with a script its ``init()``'s
        own limit on top (``--script-timeout``), which a slow ``init()`` may take whole."""
        return START_TIMEOUT_S + (self.settings.script_timeout if self.settings.script else 0.0)


def _unpaced_delay(settings: Settings, module: types.ModuleType | None) -> tuple[str, ...]:
    """A notice when the script's delay() will not be called: a rate paces every request itself,
    and a wrk user's script that paced them would otherwise run at the rate without a word."""
    if module is None or module.__dict__.get("delay") is None:
        return ()
    flag = "-R" if settings.rate is not None else "--stages" if settings.stages else None
    return () if flag is None else (f"loadgen: warning: {flag} paces the requests: the script's delay() is not called",)


def _check_as_sent(protocol: str, request: Request) -> str:
    """wrk's check of the request as ``protocol`` sends it (returned, checked): over HTTP/2 without
    its connection-specific fields, so that ``Transfer-Encoding: chunked``, which HTTP/2 does not
    send (its frames delimit the body), is not refused as a body that is not chunked."""
    dropped = protocol_named(protocol).left_out(request)
    check_request(replace(request, headers=tuple(field for field in request.headers if field[0] not in dropped)))
    return protocol


def _left_out(protocol: str, request: Request) -> tuple[str, ...]:
    """A warning naming the -H fields the protocol does not send (silent, a user would think them sent)."""
    dropped = protocol_named(protocol).left_out(request)
    if not dropped:
        return ()
    return (
        f"loadgen: warning: {', '.join(dropped)} not sent: HTTP/2 forbids connection-specific header fields "
        "(RFC 9113 8.2.2)",
    )


def choose_protocol(
    settings: Settings, url: Url, address: Address, tls: TlsOptions | None, stop: threading.Event | None
) -> tuple[str, tuple[str, ...]]:
    """HTTP/2 when asked for and the server speaks it (one test connection, with the run's server
    name and TLS options: without them a server that wants a client certificate was said not to
    speak HTTP/2); with ``--http2=auto``, HTTP/1.1 when it does not, said in a notice; else a
    SetupError."""
    if not settings.http2:
        return DEFAULT, ()
    h2 = protocol_named("h2")
    start = None
    if url.scheme == "https":
        context = None
        if tls is not None:
            context = h2.tls_context()
            configure(context, tls)
        start = TlsStart(settings.sni or url.host, context)
    wait_s, limit = patience(settings)
    try:
        refusal = h2.refusal(address, start, stop, wait_s)
    except TimeoutError:
        raise SetupError(f"{address} did not answer the HTTP/2 test connection within {wait_s:g}s{limit}") from None
    except ssl.SSLError as exc:
        raise refused(address, exc) from None
    if refusal is None:
        return "h2", ()
    if settings.http2 == "auto":
        return DEFAULT, (f"loadgen: {url.text} does not speak HTTP/2 ({refusal}): {_fallback(settings.streams)}",)
    raise SetupError(f"{url.text} does not speak HTTP/2 ({refusal}); --http2=auto falls back to HTTP/1.1")


def patience(settings: Settings) -> tuple[float, str]:
    """How long the HTTP/2 test connection and the TLS check wait for the server, and the limit
    that says so: as long as the target's test connection at most, and no longer than the run's
    --timeout (a response later than that is a timeout) or its length (an answer later than that
    is not in the run): a silent port held a 1-second run 5 s. h2load waits as its -N/-T say,
    forever by default."""
    limits = [(PRE_RUN_TIMEOUT_S, "")]
    if settings.timeout > 0:
        limits.append((settings.timeout, " (the run's --timeout)"))
    if settings.load_s is not None:
        limits.append((settings.load_s, " (the run's length)"))
    return min(limits)


def _fallback(streams: int) -> str:
    """What the run does instead, and the streams asked for that it drops (said, since the record says 1)."""
    if streams == 1:
        return "running over HTTP/1.1"
    return f"running over HTTP/1.1, one request in flight per connection (-m/--streams {streams} dropped)"


def share(total: int | None, parts: int, index: int) -> int | None:
    """Worker ``index``'s share of a count, split as evenly as whole numbers allow."""
    if total is None:
        return None
    return total // parts + (1 if index < total % parts else 0)


def _target_request(index: int, target: Target, headers: tuple[tuple[str, str], ...]) -> Request:
    """One target's request, built as the run's is: its headers after ``-H``'s, its own Host;
    checked as wrk checks a request, whose words name a line of the request, so the target is
    named too (its line in the file, or its index when made in Python)."""
    url = target.parsed_url()
    request = Request(
        target.method,
        url.path,
        tuple(request_headers(url.implied_headers, (*headers, *target.headers), target.body)),
        target.body,
    )
    try:
        check_request(request)
    except SetupError as exc:
        where = f"the target of line {target.line}" if target.line else f"target {index}"
        raise SetupError(f"{where} ({target.method} {target.url}): {exc}") from None
    return request


def _targets(settings: Settings) -> TargetsSpec | None:
    """The run's targets as the workers take them (None: one request)."""
    if not settings.targets:
        return None
    return TargetsSpec(
        tuple(_target_request(index, target, settings.headers) for index, target in enumerate(settings.targets)),
        labels(settings.targets),
        send_order([target.weight for target in settings.targets]),
    )


def _from_share(targets: TargetsSpec | None, worker: int, threads: int) -> TargetsSpec | None:
    """Worker ``worker``'s cycle of the targets, begun at its share of it (``worker / threads``):
    every worker begun at the cycle's start sent the same first targets, so that a run of a few
    cycles held the weights in each worker but not over the run (-t4 -n8 of 4 targets: 4, 4, 0, 0)."""
    if targets is None:
        return None
    start = len(targets.order) * worker // threads
    return replace(targets, order=targets.order[start:] + targets.order[:start])


def _try_tls(
    settings: Settings,
    request: Request,
    url: Url,
    address: Address,
    tls: TlsOptions | None,
    stop: threading.Event | None,
) -> None:
    """The run's TLS options (None: wrk's TLS, which verifies nothing) tried by one handshake, which
    waits for the server as the HTTP/2 probe does: a fixed second gave up on a server that answers
    in 1.5 s, which the probe waits for, and its refusal came after the run as handshake errors
    (exit 3), not in the check's line; it held a 0.3 s run a second. ``request`` is the run's first
    (with --targets, the first target's), whose method the check's request follows."""
    if tls is not None or settings.sni is not None:
        context = protocol_named(DEFAULT).tls_context()
        if tls is not None:
            configure(context, tls)
        probe = _probe(request.method, url)
        check_handshake(address, settings.sni or url.host, context, probe, stop, patience(settings)[0])


def _probe(method: str, url: Url) -> bytes:
    """The request the TLS check sends: the run's own when it is a GET (a server may answer
    nothing but GET: ``openssl s_server -www`` kept the check waiting its whole timeout), a HEAD
    of its URL otherwise (never a request with side effects the run did not ask for twice)."""
    probe = "GET" if method == "GET" else "HEAD"
    return f"{probe} {url.path} HTTP/1.1\r\nHost: {url.host_header}\r\nConnection: close\r\n\r\n".encode("latin-1")


def prepare(settings: Settings, *, here: bool = True, stop: threading.Event | None = None) -> Plan:
    """The run ``settings`` describe, ready to execute; UsageError or SetupError with wrk's
    messages (and loadgen's, for what wrk does not check) when it cannot run; Interrupted when
    ``stop`` is set while its test connections wait. ``here=False``: the workers run on other
    machines, which check their own limits."""
    url = settings.check()
    headers = dict(settings.headers)
    request = Request(
        settings.method,
        url.path,
        tuple(request_headers(url.implied_headers, settings.headers, settings.body)),
        settings.body,
    )
    checked = _check_as_sent(DEFAULT if not settings.http2 else "h2", request)
    targets = _targets(settings)
    if targets is not None:
        request = targets.requests[0]
    warned_here: list[Raised] = []
    source, module = _script(settings, url, headers, warned_here)
    with interruptible():
        tls = read_options(settings)  # files first: bad input before the network
    address = resolve(url, unix_socket=settings.unix_socket, stop=stop)
    if not here:
        address = from_anywhere(address)
    crowded = check_limits(settings.connections_per_worker, settings.threads, address) if here else ()
    protocol, notices = _protocol(settings, url, address, tls, request, checked, stop)
    if protocol == DEFAULT and settings.streams != 1:  # fallen back: the run's record says what ran
        settings = replace(settings, streams=1)
    _try_tls(settings, request, url, address, tls, stop)
    threads = tuple(SetupThread(i, address) for i in range(settings.threads))
    setup_printed = _setup(module, threads, str(settings.script), stop)
    specs = tuple(
        WorkerSpec(
            index=i,
            address=thread.addr,
            server_name=(settings.sni or url.host) if url.scheme == "https" else None,
            connections=settings.connections_per_worker,
            request=request,
            timeout_us=round(settings.timeout * 1_000_000),
            duration_s=settings.duration,
            warmup_s=settings.warmup,
            quota=share(settings.requests, settings.threads, i),
            rate=settings.rate / settings.threads if settings.rate else None,
            stagger=Fraction(i, settings.threads),
            ramp=tuple((seconds, target / settings.threads) for seconds, target in settings.stages),
            growth=tuple((seconds, target / settings.threads) for seconds, target in settings.stages_connections),
            script=_script_spec(settings, source, headers, thread),
            protocol=protocol,
            streams_per_connection=settings.streams,
            closes_after=settings.closes_after,
            tls=tls,
            rotation=_from_share(targets, i, settings.threads),
        )
        for i, thread in enumerate(threads)
    )
    return Plan(
        settings,
        url,
        address,
        specs,
        module,
        threads,
        setup_printed,
        protocol,
        crowded + notices + _unpaced_delay(settings, module),
        tuple(warned_here),
    )


def _script(
    settings: Settings, url: Url, headers: dict[str, str], warned: list[Raised]
) -> tuple[str, types.ModuleType | None]:
    """The script's source and, run in this process, its module (none without -s): its top level
    watched for ``--script-timeout``, its errors reported as wrk's, the warnings it raised kept in ``warned``."""
    if not settings.script:
        return "", None
    with interruptible():  # a FIFO nobody writes blocks its open
        source = read_script(settings.script)
    with (
        parent_hook(settings.script, "top level"),
        watched_top_level(settings.script, settings.script_timeout),
        shown_here(warned),
    ):
        return source, load_script(settings.script, source, Wrk(url, settings.method, headers, settings.body))


def _protocol(
    settings: Settings,
    url: Url,
    address: Address,
    tls: TlsOptions | None,
    request: Request,
    checked: str,
    stop: threading.Event | None,
) -> tuple[str, tuple[str, ...]]:
    """The protocol the run speaks (:func:`choose_protocol`), and what it tells of it and of the
    request's fields it leaves out; the request checked again when it is not the one checked."""
    protocol, notices = choose_protocol(settings, url, address, tls, stop)
    if protocol != checked:  # --http2=auto fallen back to HTTP/1.1: every field is sent, and checked as wrk does
        try:
            _check_as_sent(protocol, request)
        except SetupError as exc:  # wrk's words alone would not say why a request HTTP/2 took is refused
            raise SetupError(f"{notices[0].removeprefix('loadgen: ')}, which sends every -H: {exc}") from None
    return protocol, notices + _left_out(protocol, request)


def _script_spec(settings: Settings, source: str, headers: dict[str, str], thread: SetupThread) -> ScriptSpec | None:
    """What a worker needs to run the script in its own process (none without -s): its thread's
    address and the values its setup() left in it."""
    if not settings.script:
        return None
    return ScriptSpec(
        settings.script,
        source,
        settings.script_args,
        settings.url,
        settings.method,
        headers,
        settings.body,
        settings.script_timeout,
        dict(thread.sent),
        thread.addr,
    )


def _setup(
    module: types.ModuleType | None, threads: tuple[SetupThread, ...], path: str, stop: threading.Event | None
) -> tuple[str, ...]:
    """The script's ``setup(thread)`` for each thread, in order; what each printed, held (the
    engine prints it before the thread's ``init()``'s, as wrk calls them). A failure prints what
    was held. ``stop`` set ends it before the next call: a cancelled ``run_async`` (or the API's
    ``stop``) waited for every thread's setup() (10.6 s for two of 5 s, cancelled in the first)."""
    setup = module.__dict__.get("setup") if module is not None else None
    if setup is None:
        return ("",) * len(threads)
    held: list[str] = []
    with parent_hook(path, "setup()", setup):
        for thread in threads:
            try:
                if stop is not None and stop.is_set():
                    raise Interrupted()
                with script_code(path, setup), held_output(held):
                    setup(thread)
            except BaseException:  # a stop too: what it printed comes first
                sys.stdout.write("".join(held))
                raise
    return tuple(held)
