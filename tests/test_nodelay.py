"""Every TCP connection a worker opens has Nagle's algorithm off (TCP_NODELAY), as wrk's do.

The pool no longer sets it on each ready connection (a system call and a socket object per
connection, at 10,000 connections): the event loop does (uvloop for every TCP transport, asyncio
for a socket with its protocol number), and the pool's TLS path sets it on the socket it creates
itself, which asyncio would leave as it is. Checked on the client's own socket, against the
real test server, for both loops and both schemes.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from time import perf_counter_ns

import pytest

from loadgen._run.spec import WorkerSpec
from loadgen._run.worker import Worker
from loadgen.request import Request
from loadgen.target import Address
from loadgen.testing.certificate import openssl_available, self_signed
from loadgen.testing.server import TestServer

uvloop = pytest.importorskip("uvloop")

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    if not openssl_available():
        pytest.skip("openssl is not installed to make a certificate")
    cert, key = self_signed(tmp_path_factory.mktemp("nodelay-cert"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture(scope="module", params=["http", "https"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[TestServer, str | None]]:
    tls = request.param == "https"
    with TestServer(tls=request.getfixturevalue("tls_context") if tls else None) as server:  # plain without openssl
        yield server, "localhost" if tls else None


def _nodelay_of_a_pool_connection(loop: asyncio.AbstractEventLoop, port: int, server_name: str | None) -> int:
    """Open one connection with a worker's pool on ``loop``; TCP_NODELAY of its socket."""
    spec = WorkerSpec(
        index=0,
        address=Address(socket.AF_INET, "127.0.0.1", port),
        server_name=server_name,
        connections=1,
        request=Request("GET", "/", (("Host", "x"),)),
        timeout_us=2_000_000,
        duration_s=10.0,
    )
    pool = Worker(spec, loop, "test").pool

    async def opened() -> int:
        pool.open_connection()
        deadline = time.monotonic() + 10
        while not pool.open and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert pool.open, "the connection did not open within 10 s"
        sock = next(iter(pool.open)).transport.get_extra_info("socket")  # type: ignore[attr-defined]
        value: int = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        pool.close_all(perf_counter_ns())
        await asyncio.sleep(0)
        return value

    try:
        return loop.run_until_complete(opened())
    finally:
        loop.close()


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_a_pool_connection_has_nagle_off(loop_name: str, served: tuple[TestServer, str | None]) -> None:
    server, server_name = served
    assert _nodelay_of_a_pool_connection(LOOPS[loop_name](), server.port, server_name) != 0
