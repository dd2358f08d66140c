"""The URL under test: wrk's URL rules, name resolution and the pre-run connection test.

wrk takes everything after the host as the request path (query and fragment included), adds a
``Host`` header with the port only when the URL names one, resolves the host once and drops
addresses that refuse a test connection before any thread starts. A URL written with characters
HTTP cannot carry is encoded as a browser would: IDNA for the host, UTF-8 percent-encoding for
the rest. Credentials in the URL (``http://user:password@host/``), which wrk drops, are sent
as HTTP Basic authentication, as curl and k6 send them.
"""

from __future__ import annotations

import base64
import errno
import os
import re
import socket
import sys
import threading
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from .errors import SetupError, UsageError, shown
from .prerun import PRE_RUN_TIMEOUT_S, PreRunConnection

SCHEMES = ("http", "https")
# OpenSSL's reason when a TLS handshake is answered with bytes that are not TLS, and what it means for the URL
NOT_TLS_REASON = "WRONG_VERSION_NUMBER"
NOT_TLS = "the server's answer to the TLS handshake was not TLS: is the port plain HTTP (http://)?"
_BRACKETED = re.compile(r"\[[^\[\]]*\](:[^\[\]]*)?")  # an IPv6 address's host, and a port if any (urlsplit checks it)
UNIX_PATH_MAX = 108 if sys.platform.startswith("linux") else 104  # bytes in a sockaddr_un's sun_path


def unix_socket_problem(path: str) -> str | None:
    """Why ``path`` cannot name a Unix socket to connect to, or None."""
    if not path:
        return "the Unix socket path is empty"
    size = len(os.fsencode(path))
    if size > UNIX_PATH_MAX:
        return (
            f"the Unix socket path is {size} bytes long, and a Unix socket address holds at most {UNIX_PATH_MAX}: "
            "give a shorter path (a relative one, or a symbolic link to its directory)"
        )
    return None


@dataclass(frozen=True)
class Url:
    """The parts of the URL wrk uses."""

    text: str
    scheme: str
    host: str
    port: int | None  # as written in the URL
    path: str  # path, query and fragment, as sent on the request line
    credentials: tuple[str, str] | None = None  # user and password, decoded, when the URL has them

    @property
    def service(self) -> str:
        """What wrk passes to getaddrinfo and prints in errors: the port, else the scheme."""
        return str(self.port) if self.port is not None else self.scheme

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else (443 if self.scheme == "https" else 80)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def implied_headers(self) -> list[tuple[str, str]]:
        """The headers the URL itself asks for: Host, and Basic authentication from its credentials."""
        headers = [("Host", self.host_header)]
        if self.credentials is not None:
            token = base64.b64encode(":".join(self.credentials).encode()).decode("ascii")
            headers.append(("Authorization", f"Basic {token}"))
        return headers


def _ascii_host(host: str) -> str:
    """The host as DNS and the Host header take it: IDNA for a name that is not ASCII. A name no
    lookup takes, ASCII too (an empty label, ``a..b``, or one longer than 63 characters), is a
    ValueError here: getaddrinfo's own IDNA encoding raised UnicodeError, a traceback."""
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        ascii_name = ("domain name", "a label is empty or over 63 characters")
        kind, why = ascii_name if host.isascii() else ("international domain name", str(exc))
        raise ValueError(f"host {host!r} is not a valid {kind} ({why})") from None


def ascii_path(path: str) -> str:
    """Characters a request line cannot carry (spaces, controls, anything not ASCII) percent-encoded
    from UTF-8; everything else, existing escapes included, as written."""
    return "".join(char if " " < char < "\x7f" else quote(char, safe="") for char in path)


def parse_url(text: str) -> Url:
    """Split a URL the way wrk does; ValueError when it has no http(s) scheme or no host."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if parts.scheme not in SCHEMES:
        raise ValueError(f"the scheme must be http or https, not {parts.scheme!r}" if parts.scheme else "no scheme")
    if not parts.hostname or "://" not in text:
        raise ValueError("no host")
    head, rest = text.split("://", 1)
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if any(char <= " " or char == "\x7f" for char in head + authority):
        # urlsplit drops tabs and newlines (the path then began too early or too late: '/0/x' from
        # 'http://127.0.0.1:80\t80/x') and keeps a space in the host, which the Host header then carried
        raise ValueError("a space or control character before the path")
    host_and_port = authority.rpartition("@")[2]
    if "[" in host_and_port and not _BRACKETED.fullmatch(host_and_port):
        # urlsplit drops what is outside an IPv6 address's brackets ('x' of 'http://[::1]x/'), and the run went to ::1
        raise ValueError(f"text outside the brackets of an IPv6 address: {host_and_port!r}")
    path = rest[len(authority) :]
    if not path.startswith("/"):
        path = "/" + path
    credentials = (unquote(parts.username), unquote(parts.password or "")) if parts.username is not None else None
    return Url(
        text=text,
        scheme=parts.scheme,
        host=_ascii_host(parts.hostname),
        port=port,
        path=ascii_path(path),
        credentials=credentials,
    )


@dataclass(frozen=True)
class Address:
    """Where workers connect: a resolved TCP address, or a Unix socket path."""

    family: int
    host: str  # numeric address, or the socket path for AF_UNIX
    port: int

    def __str__(self) -> str:
        if self.family == socket.AF_UNIX:
            return f"unix:{self.host}"
        return f"[{self.host}]:{self.port}" if self.family == socket.AF_INET6 else f"{self.host}:{self.port}"


def from_anywhere(address: Address) -> Address:
    """``address`` as a process in another directory reaches it: a Unix socket's relative path made
    absolute. A Dask task runs in its Dask worker's directory: every connection of ``--dask
    --unix-socket here.sock`` failed (ENOENT), though the test connection made here had reached it."""
    if address.family != socket.AF_UNIX or os.path.isabs(address.host):
        return address
    path = os.path.abspath(address.host)
    size = len(os.fsencode(path))
    if size > UNIX_PATH_MAX:
        raise UsageError(
            f"--unix-socket {address.host}: the Dask workers run in directories of their own, and its absolute path is "
            f"{size} bytes long, more than a Unix socket address holds ({UNIX_PATH_MAX}): "
            "give a shorter one (a symbolic link to its directory)"
        )
    return Address(address.family, path, address.port)


def _test_connect(address: Address, timeout: float, stop: threading.Event | None) -> OSError | None:
    try:
        with PreRunConnection(address, stop, timeout):
            return None
    except OSError as exc:
        return exc


def connect_reason(exc: OSError) -> str:
    """Why a test connection failed, as a blocking connect says it (``Connection refused``)."""
    if isinstance(exc, TimeoutError) or exc.errno is None:
        return os.strerror(errno.ETIMEDOUT)  # what a blocking connect would report
    return os.strerror(exc.errno)


def resolve(
    url: Url,
    *,
    unix_socket: str | None = None,
    connect_timeout: float = PRE_RUN_TIMEOUT_S,
    stop: threading.Event | None = None,
) -> Address:
    """The first address that accepts a test connection, with wrk's messages when none does;
    Interrupted when ``stop`` is set meanwhile."""
    if unix_socket is not None:
        refused = _test_connect(Address(socket.AF_UNIX, unix_socket, 0), connect_timeout, stop)
        if refused:
            raise SetupError(f"unable to connect to {shown(unix_socket)} {connect_reason(refused)}", wrk_message=True)
        return Address(socket.AF_UNIX, unix_socket, 0)
    try:
        return first_reachable(url.host, url.service, connect_timeout, stop)
    except socket.gaierror as exc:
        raise SetupError(f"unable to resolve {url.host}:{url.service} {exc.strerror}", wrk_message=True) from None
    except OSError as exc:
        raise SetupError(
            f"unable to connect to {url.host}:{url.service} {connect_reason(exc)}", wrk_message=True
        ) from None


def first_reachable(host: str, service: str | int, timeout: float, stop: threading.Event | None) -> Address:
    """The first of the host's addresses that accepts a test connection (Interrupted on ``stop``);
    socket.gaierror when the name does not resolve, else the last address's OSError."""
    last_failure = OSError(errno.EHOSTUNREACH, "no address")  # getaddrinfo returns at least one
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, service, type=socket.SOCK_STREAM):
        address = Address(family, str(sockaddr[0]), int(sockaddr[1]))
        failure = _test_connect(address, timeout, stop)
        if failure is None:
            return address
        last_failure = failure
    raise last_failure
