"""What no summary shows: the run second by second, and where a response's time goes (setting
up the connection, waiting for the first byte, reading the rest)."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

import loadgen

from .conftest import run_loadgen_together, wait_for

pytestmark = pytest.mark.alone  # a server's stall placed in its second: tests/alone.py


def _get(port: int, path: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", path)
    connection.getresponse().read()
    connection.close()


def test_a_server_stall_shows_in_the_second_it_happened(fresh_server, workers: loadgen.Workers) -> None:
    """Nothing leaves the server for 1.8 s (below the 2 s timeout) from 2.25 s into the run: the fourth
    second is empty, the fifth holds the responses held, and the seconds around are steady.

    The run's seconds count from its worker's start, just before it connects and sends: the server's
    first request marks it (a busy machine may put that later by a few tens of ms, moving the stall as
    late, which the 0.75 s to the fourth second's end absorbs)."""
    results: list[loadgen.Result] = []
    runner = threading.Thread(
        target=lambda: results.append(
            loadgen.run(fresh_server.url("/"), threads=1, connections=4, duration=6, workers=workers)
        )
    )
    runner.start()
    counters = fresh_server.counters
    assert wait_for(lambda: counters.first_request_at is not None, timeout=30)
    assert counters.first_request_at is not None
    time.sleep(max(0.0, counters.first_request_at + 2.25 - time.monotonic()))
    _get(fresh_server.port, "/freeze?ms=1800")
    frozen_at = fresh_server.frozen_until - 1.8 - counters.first_request_at
    runner.join(30)
    (result,) = results
    assert 2.2 <= frozen_at < 2.9, f"the stall began {frozen_at:.2f} s into the run: too late to cover the 4th second"
    seconds = result.timeline
    assert len(seconds) == 6
    assert sum(second.requests for second in seconds) == result.requests
    assert sum(second.bytes for second in seconds) == result.bytes
    assert seconds[3].requests == 0  # stalled throughout
    assert seconds[4].latency.max >= 1_500_000 > seconds[1].latency.max  # the held responses, released
    assert min(seconds[1].requests, seconds[5].requests) > 0
    document = json.loads(loadgen.to_json(result))["timeline"]
    assert [entry["requests"] for entry in document] == [second.requests for second in seconds]
    assert document[4]["max"] == seconds[4].latency.max and document[1]["p99"] < 1_000_000


def test_first_byte_and_latency_split_as_the_server_delays_head_and_body(server, workers: loadgen.Workers) -> None:
    result = loadgen.run(
        server.url("/slow-body?head_ms=40&body_ms=80"), threads=1, connections=2, duration=2, workers=workers
    )
    assert result.requests >= 10
    first_byte, latency = result.first_byte.percentile(50), result.latency_uncorrected.percentile(50)
    assert 40_000 <= first_byte < 70_000, first_byte
    assert 120_000 <= latency < 160_000, latency
    assert result.first_byte.count == result.latency_uncorrected.count
    assert result.connect.count == result.connections_opened == 2
    assert not result.tls_handshake.count  # plain HTTP


def test_phases_are_printed_only_when_asked(server) -> None:
    url = server.url("/slow-body?head_ms=10&body_ms=10")
    plain, phased, alone_done = run_loadgen_together(
        ("-t1", "-c1", "-d1s", "--latency", url),
        ("-t1", "-c1", "-d1s", "--latency", "--phases", url),
        ("-t1", "-c1", "-d1s", "--phases", url),  # asked for without --latency: shown too
    )
    assert plain.returncode == phased.returncode == 0
    assert "Connect Distribution" not in plain.stdout and "First Byte" not in plain.stdout
    lines = phased.stdout.splitlines()
    latency_at, connect_at, first_at = (
        lines.index(f"  {title} Distribution") for title in ("Latency", "Connect", "First Byte")
    )
    assert latency_at < connect_at < first_at < next(i for i, line in enumerate(lines) if " requests in " in line)
    assert lines[first_at + 1].startswith("     50%")
    alone = alone_done.stdout
    assert "  Connect Distribution" in alone and "  Latency Distribution" not in alone
