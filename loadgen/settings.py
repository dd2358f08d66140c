"""What the user asked for, as plain data: every run option, declared once (see
:mod:`loadgen.options`), and wrk's checks of them in wrk's order. Preparing a run (resolution,
the test connection, the script's ``setup()``) is :mod:`loadgen._run.plan`.

To add an option: declare it here as a field with :func:`~loadgen.options.option` (its type,
default, flags, help and parsing, and a ``check`` if it has a rule), then write its engine code.
``loadgen.run()``'s keyword, the flags of wrk's command and ``capacity`` and the usage line come
from the declaration (``tests/test_architecture.py`` keeps it so).
"""

from __future__ import annotations

import functools
import ipaddress
import math
import os
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, fields
from typing import Any, Literal

from .errors import SetupError, UsageError, excerpt, shown
from .inputfiles import read_standard_input, read_whole
from .options import Flag, Forms, api_value, counted, declared, each, option, seconds, timed
from .request import header_problem, method_problem, parse_header
from .stages import Demand, parse_stages, stages_problem, total_s
from .target import Url, parse_url, unix_socket_problem
from .targetsfile import Target, check_targets, read_targets

__all__ = ["Settings"]


class _Default:
    """A default that a run's stages replace (``-d``: the stages' total; ``-c``: the most
    connections they ask, to a multiple of ``-t``), marked so that the same value given is told apart: ``-d10s`` with
    ``--stages`` is checked, not silently replaced. The mark never outlives ``__post_init__``."""


class _DefaultSeconds(float, _Default):
    pass


class _DefaultCount(int, _Default):
    pass


DEFAULT_DURATION_S: float = _DefaultSeconds(10.0)
DEFAULT_CONNECTIONS: int = _DefaultCount(10)
# a request a nanosecond: no client sends more, and the schedule's interval (ns) rounds to 0 far above it
MOST_RATE = 10**9
# the longest time a flag may give (-d, --warmup, --metrics-linger, ...): a worker's deadline in ns, a
# schedule's request count and Python's waits overflow far above it (-d 1e300s failed every worker)
LONGEST_S = 365 * 24 * 3600.0
AT_MOST_LONGEST = "at most a year (8760h)"  # how a refusal names LONGEST_S
# the longest --timeout: the longest latency a result document holds (its schema's bound), so that a run's own
# JSON is one loadgen reads back (--timeout 1000000h ran, and report, merge and compare refused its document)
LONGEST_TIMEOUT_S = 24 * 3600.0
# how long one script hook may hold a worker's event loop before it is named stuck (--script-timeout)
SCRIPT_TIMEOUT_S = 10.0


def _body(body: str | None, body_file: str | None) -> bytes | None:
    """``-b`` or ``--body-file`` (read when the command line is read: the one option that reads a file). ``-b``'s
    text is sent as the command line's bytes: one not UTF-8 (``-b $'\\xff'``) is the bytes given, as wrk sends it."""
    if body is not None and body_file is not None:
        raise UsageError("use either --body or --body-file, not both")
    if body_file is None:
        return os.fsencode(body) if body is not None else None
    if not body_file:  # read, it is the current directory
        raise UsageError("--body-file needs a file name")
    try:
        return read_standard_input() if body_file == "-" else read_whole(body_file)
    except OSError as exc:
        raise SetupError(f"cannot read body file {shown(body_file)}: {exc.strerror or exc}") from None


def _http2(on: bool | None, auto: bool | None) -> bool | str | None:
    """``--http2``, or ``--http2=auto`` (HTTP/1.1 when the server does not speak HTTP/2)."""
    return "auto" if auto else True if on else None


MAX_STREAMS = 2**31 - 1  # streams per connection: HTTP/2's most (a stream id is 31 bits)


def _streams_problem(streams: int) -> str | None:
    if streams < 1:
        return "streams per connection must be >= 1"
    return None if streams <= MAX_STREAMS else f"streams per connection must be at most {MAX_STREAMS} (HTTP/2's most)"


def _targets_file(path: str | None) -> tuple[Target, ...] | None:
    """``--targets FILE`` (``-`` is stdin): the file read, or a TargetsError naming its line."""
    if path == "":  # read, it is the current directory
        raise UsageError("--targets needs a file name")
    return None if path is None else read_targets(path)


def _header_pairs(headers: Mapping[str, object] | Iterable[tuple[object, object]]) -> tuple[tuple[str, str], ...]:
    """Headers as a dict or any pairs, a name or value as its text (``{"X-Id": 7}``); one header
    as a whole line ("X: y") is no pair."""
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
    if any(isinstance(pair, str) for pair in pairs):
        raise TypeError("a header line")
    return tuple((str(name), str(value)) for name, value in pairs)


_STAGES_FORMS = Forms(lambda stages: tuple((float(d), float(t)) for d, t in stages), "lists")  # JSON gives lists


@functools.cache
def _kinds() -> dict[str, Any]:
    """Settings' field types, resolved from their text once."""
    return typing.get_type_hints(Settings)


def _per_connection_problem(count: int | None) -> str | None:
    return None if count is None or count >= 1 else "requests per connection must be >= 1"


# a label of a DNS name: letters, digits, '-' (not first or last) and '_' (DNS names carry it, OpenSSL sends it)
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)", re.ASCII)


def _sni_problem(name: str | None) -> str | None:
    """A name TLS can send (RFC 6066: a DNS host name, no IP address, no trailing dot): an empty
    one or an IP address would be dropped silently (the URL's host, or no name, sent instead),
    and ``--sni -x`` is a mistyped command line, not a name."""
    if name is None:
        return None
    if not name:
        return "--sni needs a name (without --sni the URL's host is sent)"
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return f"--sni {shown(name)}: an IP address is never sent as the server name (RFC 6066): give a host name"
    try:
        encoded = name.encode("idna").decode("ascii")  # as ssl encodes the server name
    except UnicodeError:
        encoded = ""
    if len(encoded) > 253 or not all(_LABEL.fullmatch(label) for label in encoded.split(".")):
        return f"--sni {shown(name)}: not a host name (dot-separated labels of letters, digits and '-', as example.com)"
    return None


def _file_named(flag: str) -> Callable[[str | None], str | None]:
    """The check of a flag that names a file: an empty name would be taken for the flag not given
    (``--cacert ''``: nothing verified)."""
    return lambda path: f"{flag} needs a file name" if path == "" else None


def _tls_version_problem(version: str | None) -> str | None:
    return None if version in (None, "1.2", "1.3") else f"--tls-version must be 1.2 or 1.3, not {excerpt(version)}"


def _warmup_problem(warmup: float) -> str | None:
    return None if 0 <= warmup <= LONGEST_S else f"warm-up must be >= 0 and {AT_MOST_LONGEST}"


def _script_timeout_problem(limit: float) -> str | None:
    return None if 0 < limit <= LONGEST_S else f"--script-timeout must be > 0 and {AT_MOST_LONGEST}"


def _rate(text: str | None) -> float | None:
    count = counted("-R")(text)
    return None if count is None else float(count)


@dataclass(frozen=True)
class Settings:
    """One load test. Durations are in seconds; ``duration=None`` means no time limit (only
    with ``requests``). ``headers`` may be given as a dict, ``body`` as text, a number as its
    flag's text (``duration="1s"``); a value of another type is a UsageError that names it."""

    url: str = ""  # with targets, it may be left out: the first target's
    _: KW_ONLY
    threads: int = option(2, Flag(("-t", "--threads"), "N", "Number of threads to use"), parse=counted("-t"))
    connections: int = option(
        DEFAULT_CONNECTIONS, Flag(("-c", "--connections"), "N", "Connections to keep open"), parse=counted("-c")
    )
    duration: float | None = option(
        DEFAULT_DURATION_S, Flag(("-d", "--duration"), "T", "Duration of test"), parse=timed("-d"), shown=seconds
    )
    timeout: float = option(
        2.0,
        Flag(("--timeout",), "T", "Socket/request timeout", aliases=("-T",)),
        parse=timed("--timeout"),
        shown=seconds,
    )
    headers: tuple[tuple[str, str], ...] = option(
        (),
        Flag(("-H", "--header"), "H", "Add header to request", repeat=True),
        parse=each(parse_header),
        forms=Forms(_header_pairs, "a dict"),
    )
    method: str = option("GET", Flag(("-m", "--method"), "M", "HTTP method (default GET)"))
    body: bytes | None = option(
        None,
        Flag(("-b", "--body"), "B", "Request body"),
        Flag(("--body-file",), "F", "Body from file (- = stdin)"),
        parse=_body,
        forms=Forms(lambda body: body.encode() if isinstance(body, str) else body, "str"),
    )
    rate: float | None = option(None, Flag(("-R", "--rate"), "N", "Constant rate, requests/sec"), parse=_rate)
    requests: int | None = option(None, Flag(("-n", "--requests"), "N", "Stop after N responses"), parse=counted("-n"))
    script: str | None = option(None, Flag(("-s", "--script"), "S", "Load Python script file"), check=_file_named("-s"))
    script_args: tuple[str, ...] = option(
        (), parse=lambda args: tuple(args) if args else None, forms=Forms(tuple, "a list of str")
    )
    unix_socket: str | None = option(None, Flag(("--unix-socket",), "P", "Connect to a Unix socket"))
    http2: bool | Literal["auto"] = option(
        False,
        Flag(("--http2",), help="HTTP/2 (https: h2 by ALPN)", switch=True, values=("auto",)),
        parse=_http2,
    )
    streams: int = option(
        1,
        Flag(("--streams",), "N", "Streams per conn, h2 (-m N)"),
        parse=counted("--streams"),
        check=_streams_problem,
    )
    targets: tuple[Target, ...] = option(
        (),
        Flag(("--targets",), "F", "Requests from a file"),
        parse=_targets_file,
        forms=Forms(lambda targets: tuple(Target("GET", t) if isinstance(t, str) else t for t in targets), "URLs"),
    )  # several requests, sent in turn; ``url`` is their server (the first one's URL)
    stages: tuple[tuple[float, float], ...] = option(
        (),
        Flag(("--stages",), "S", "Rate ramps: 30s:100,1m:0"),
        parse=lambda text: parse_stages("--stages", text),
        forms=_STAGES_FORMS,
    )
    stages_connections: tuple[tuple[float, float], ...] = option(
        (),
        Flag(("--stages-connections",), "S", "Connection ramps"),
        parse=lambda text: parse_stages("--stages-connections", text),
        forms=_STAGES_FORMS,
    )
    keepalive: bool = option(
        True,
        Flag(("--no-keepalive",), help="New connection per request", switch=True),
        parse=lambda off: False if off else None,
    )
    requests_per_connection: int | None = option(
        None,
        Flag(("--requests-per-connection",), "N", "Close after N"),
        parse=counted("--requests-per-connection"),
        check=_per_connection_problem,
    )
    cacert: str | None = option(
        None, Flag(("--cacert",), "F", "Verify TLS with this CA"), check=_file_named("--cacert")
    )
    verify: bool = option(False, Flag(("--verify",), help="Verify TLS with system CAs", switch=True))
    cert: str | None = option(None, Flag(("--cert",), "F", "TLS client certificate"), check=_file_named("--cert"))
    key: str | None = option(None, Flag(("--key",), "F", "Its private key"), check=_file_named("--key"))
    sni: str | None = option(None, Flag(("--sni",), "N", "TLS server name"), check=_sni_problem)
    tls_version: str | None = option(
        None, Flag(("--tls-version",), "V", "Only TLS 1.2 or 1.3"), check=_tls_version_problem
    )
    warmup: float = option(
        0.0,
        Flag(("--warmup",), "T", "Unmeasured load first"),
        parse=timed("--warmup"),
        check=_warmup_problem,
        shown=seconds,
    )
    script_timeout: float = option(
        SCRIPT_TIMEOUT_S,
        Flag(("--script-timeout",), "T", "A hook is stuck after T"),
        parse=timed("--script-timeout"),
        check=_script_timeout_problem,
        shown=seconds,
    )

    def __post_init__(self) -> None:
        """Each field as it is stored, from what the API accepts (see :func:`~loadgen.options.api_value`)."""
        kinds = _kinds()
        for field in fields(Settings):
            object.__setattr__(self, field.name, api_value(field, kinds[field.name], getattr(self, field.name)))
        if not self.url and self.targets:
            object.__setattr__(self, "url", self.targets[0].url)
        stages = self.stages or self.stages_connections
        if isinstance(self.duration, _Default):  # not given: with stages, their total
            object.__setattr__(self, "duration", total_s(stages) if stages else float(self.duration))
        if isinstance(self.connections, _Default):  # not given: with connection stages, the most they ask
            # rounded up to a multiple of -t, since each thread opens -c / -t (-t3 and 100: 102, not 99, refused)
            connections = int(self.connections)
            if self.stages_connections and self.threads > 0:  # -t0 is refused by check()
                most = max(target for _, target in self.stages_connections)
                connections = max(math.ceil(math.ceil(most) / self.threads), 1) * self.threads
            object.__setattr__(self, "connections", connections)

    def check(self) -> Url:
        """wrk's checks, in wrk's order; the parsed URL, or a UsageError naming the problem."""
        self._check_each_stage()
        self._check_length()
        url = self._parsed_url()
        self._check_load()
        self._check_request()
        self._check_transport(url)
        self._check_declared()
        if self.targets:
            self._check_targets(url)
        self._check_closing()
        self._check_tls(url)
        self._check_stages()
        if self.warmup and self.requests is not None:
            raise UsageError("use either --warmup or -n: the warm-up's requests would count toward -n")
        return url

    def _check_length(self) -> None:
        """-t, and how long the run is: -d (or the stages' total), or -n."""
        if self.threads <= 0:
            raise UsageError("number of threads must be > 0")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration > 0):
            raise UsageError("duration must be > 0 and finite")
        if self.duration is not None and self.duration > LONGEST_S:
            given = "the stages' total" if self.stages or self.stages_connections else "duration"
            raise UsageError(f"{given} must be {AT_MOST_LONGEST}")
        if self.duration is None and self.requests is None:
            raise UsageError("a run needs a duration or a request count")

    def _parsed_url(self) -> Url:
        if not self.url:
            raise UsageError("give a URL, or targets")
        try:
            return parse_url(self.url)
        except ValueError:
            raise UsageError(f"invalid URL: {shown(self.url)}", wrk_message=True) from None

    def _check_load(self) -> None:
        """-c, --timeout, -R and -n."""
        if self.connections <= 0 or self.connections < self.threads:
            raise UsageError("number of connections must be >= threads", wrk_message=True)
        if not math.isfinite(self.timeout) or not 0 <= self.timeout <= LONGEST_TIMEOUT_S:
            raise UsageError("timeout must be >= 0 and at most a day (24h): the longest latency a result holds")
        if self.rate is not None and not (math.isfinite(self.rate) and self.rate > 0):
            raise UsageError("rate must be > 0 requests/sec")
        if self.rate is not None and self.rate > MOST_RATE:
            raise UsageError("rate must be at most 1G requests/sec (a request a nanosecond)")
        if self.requests is not None and self.requests <= 0:
            raise UsageError("number of requests must be > 0")

    def _check_request(self) -> None:
        """-m and -H: what would not make a request line or a header line."""
        if (problem := method_problem(self.method)) is not None:
            raise UsageError(problem)
        for name, value in self.headers:
            if (problem := header_problem(name, value)) is not None:
                raise UsageError(problem)

    def _check_transport(self, url: Url) -> None:
        """--unix-socket and --streams, each with what it needs of the URL and the protocol."""
        if self.unix_socket is not None and (problem := unix_socket_problem(self.unix_socket)):
            raise UsageError(problem)
        if self.unix_socket is not None and url.scheme == "https":  # it would be sent in plain HTTP
            raise UsageError("--unix-socket speaks plain HTTP: give an http:// URL")
        if self.streams != 1 and not self.http2:
            raise UsageError("--streams is HTTP/2's: add --http2")

    def _check_declared(self) -> None:
        """Each option's own check, as declared with it; then --script-timeout, which needs -s."""
        for name, declared_option in declared(Settings):
            if declared_option.check and (problem := declared_option.check(getattr(self, name))):
                raise UsageError(problem)
        if self.script_timeout != SCRIPT_TIMEOUT_S and self.script is None:
            raise UsageError("--script-timeout limits the script's hooks: add -s")

    def _check_closing(self) -> None:
        """--no-keepalive and --requests-per-connection: one way of saying it, and HTTP/1.1's."""
        if not self.keepalive and self.requests_per_connection not in (None, 1):
            raise UsageError("--no-keepalive is --requests-per-connection 1: give one of them")
        if self.http2 and self.closes_after is not None:
            flag = "--no-keepalive" if not self.keepalive else "--requests-per-connection"
            raise UsageError(f"connections that close ({flag}) are HTTP/1.1's for now: drop --http2")

    def _check_each_stage(self) -> None:
        """Each stage as the flags' parsing checks it, first, as the command line refuses it when it is read: the
        stages' total is -d, so a stage of -1s made -d's own check pass, or fail naming -d, not the stage."""
        for flag, stages in (("--stages", self.stages), ("--stages-connections", self.stages_connections)):
            if (problem := stages_problem(flag, stages)) is not None:
                raise UsageError(problem)

    def _check_stages(self) -> None:
        if self.stages and self.stages_connections:
            raise UsageError("use either --stages (a rate) or --stages-connections (a closed loop), not both")
        stages = self.stages or self.stages_connections
        if not stages:
            return
        flag = "--stages" if self.stages else "--stages-connections"
        if self.duration != total_s(stages):
            raise UsageError(f"-d is the stages' total with {flag} ({total_s(stages):g}s): drop -d")
        if self.rate is not None or self.requests is not None or self.warmup:
            raise UsageError(f"{flag} shapes the whole run: drop -R, -n and --warmup")
        if self.stages_connections and max(target for _, target in stages) > self.connections_per_worker * self.threads:
            raise UsageError("--stages-connections asks for more connections than -c opens: raise -c")
        if not any(target for _, target in stages):  # a closed loop of no connection measured nothing, exit 3
            asked = "no request: give a stage a rate" if self.stages else "no connection: give a stage a count"
            raise UsageError(f"{flag} asks for {asked} above 0")
        if self.stages and max(target for _, target in stages) > MOST_RATE:
            raise UsageError("--stages asks for more than 1G requests/sec (a request a nanosecond)")

    def _check_tls(self, url: Url) -> None:
        given = [flag for flag, value in self.tls_flags.items() if value]
        if given and url.scheme != "https":
            raise UsageError(f"{given[0]} is TLS's: it needs an https:// URL")
        if self.key is not None and self.cert is None:
            raise UsageError("--key is the private key of --cert: give --cert too")

    @property
    def tls_flags(self) -> dict[str, object]:
        """The TLS options beyond wrk's, by flag."""
        return {
            "--cacert": self.cacert,
            "--verify": self.verify,
            "--cert": self.cert,
            "--key": self.key,
            "--sni": self.sni,
            "--tls-version": self.tls_version,
        }

    def _check_targets(self, url: Url) -> None:
        """Targets replace the run's one request: each says its own method and body, and a
        script's ``request()`` would choose requests as well."""
        if self.method != "GET" or self.body is not None:
            raise UsageError("with --targets each target gives its own method and body: drop -m, --body, --body-file")
        if self.script is not None:
            raise UsageError("use either --targets or a script (-s), not both: both choose the requests")
        if self.http2:
            raise UsageError("--targets runs over HTTP/1.1 for now: drop --http2")
        check_targets(self.targets, url)

    @property
    def title(self) -> str:
        """What the report's first line says is under test: the URL, or the targets' server and
        how many there are (``http://127.0.0.1:8080 (3 targets)``, ``(1 target)``)."""
        return self.title_of(len(self.targets))

    def title_of(self, count: int) -> str:
        """The title of a result that holds ``count`` targets: a merge of runs of other targets
        (``--force``) holds more than its first run sent."""
        if not count:
            return self.url
        url = parse_url(self.url)
        return f"{url.scheme}://{url.host_header} ({count} target{'' if count == 1 else 's'})"

    @property
    def paced(self) -> bool:
        """An open model: requests sent on a schedule (-R, --stages), latency from the intended send time."""
        return self.rate is not None or bool(self.stages)

    def asked_per_sec(self, start_s: float, end_s: float) -> float | None:
        """The rate asked between two moments of the measured window (seconds from its start):
        -R's, or what --stages ramps through then, on average; None in a closed loop (and for a
        window of no length under --stages). The one place the report, the live views and the
        exporters take it from."""
        if self.rate is not None:
            return self.rate
        if not self.stages or end_s <= start_s:
            return None
        return self._demand.between(start_s, end_s) / (end_s - start_s)

    @functools.cached_property
    def _demand(self) -> Demand:
        """The stages' demand, made once for the settings (the report asks it of every second)."""
        return Demand(self.stages or ())

    @property
    def closes_after(self) -> int | None:
        """Responses after which a connection closes (None: kept alive, as wrk's)."""
        return 1 if not self.keepalive else self.requests_per_connection

    @property
    def load_s(self) -> float | None:
        """How long the load runs: the warm-up, then ``-d`` (None: no time limit)."""
        return None if self.duration is None else self.warmup + self.duration

    @property
    def connections_per_worker(self) -> int:
        """wrk gives each thread c / t connections and never opens the remainder."""
        return self.connections // self.threads
