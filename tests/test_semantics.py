"""What loadgen counts, checked against a real server whose behaviour and counters we control."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import replace

import pytest

import loadgen
from loadgen.report.diagnosis import diagnose
from loadgen.testing.certificate import openssl_available, self_signed
from loadgen.testing.server import HELLO, _response

from .conftest import (
    Completed,
    each_selected,
    free_port,
    run_loadgen,
    run_loadgen_together,
    run_unchecked,
    slow_tls_port,
    untraced,
)


def _stats_row(report: str, name: str) -> str:
    return next(line for line in report.splitlines() if line.startswith(f"    {name}"))


@pytest.fixture(scope="module")
def unanswered(server) -> dict[str, Completed]:
    """The runs whose server answers nothing in time, at once, by name: each waits on it the whole second."""
    commands = {
        "timeouts": ("-t1", "-c2", "-d1s", "--timeout", "100ms", "--latency", server.url("/delay?ms=300")),
        "hang": ("-t1", "-c2", "-d1s", server.url("/hang")),
        "head only": ("-t1", "-c2", "-d1s", server.url("/slow-body?head_ms=1&body_ms=30000")),
    }
    return dict(zip(commands, run_loadgen_together(*commands.values(), checked=False), strict=True))


def test_responses_slower_than_timeout_are_timeouts(unanswered: dict[str, Completed]) -> None:
    done = untraced(unanswered["timeouts"])
    assert done.returncode == 0
    requests = int(re.search(r"  (\d+) requests in", done.stdout).group(1))
    assert requests > 0
    assert _stats_row(done.stdout, "Latency") == "    Latency     0.00us    0.00us   0.00us    -nan%"
    assert f"  Socket errors: connect 0, read 0, write 0, timeout {requests}\n" in done.stdout
    assert "     50%    0.00us\n" in done.stdout


def test_error_statuses_counted_as_non_2xx(server) -> None:
    done = run_loadgen("-t2", "-c4", "-d1s", server.url("/status/404"))
    assert done.returncode == 0
    requests = int(re.search(r"  (\d+) requests in", done.stdout).group(1))
    assert requests > 100
    assert f"  Non-2xx or 3xx responses: {requests}\n" in done.stdout
    assert "Socket errors" not in done.stdout


def test_redirects_are_not_counted_as_errors(server, workers: loadgen.Workers) -> None:
    result = loadgen.run(server.url("/status/301"), threads=1, connections=2, duration=0.5, workers=workers)
    assert result.requests > 0 and result.errors.status == 0
    assert result.status_counts == {301: result.requests}


def test_server_closing_connections_gives_read_errors_and_reconnects(fresh_server, workers: loadgen.Workers) -> None:
    result = loadgen.run(fresh_server.url("/drop"), threads=1, connections=4, duration=1, workers=workers)
    # each response is followed by the server closing the connection without saying so: the
    # request already written on it is lost, a read error, and the connection is reopened (wrk).
    assert result.requests > 50
    assert abs(result.errors.read - result.requests) <= 4
    # a close with our next request unread makes the kernel answer with a reset instead of EOF
    assert {(reason.kind, reason.cause) for reason in result.error_reasons} <= {
        (loadgen.ErrorKind.READ, "closed by server"),
        (loadgen.ErrorKind.READ, "ECONNRESET"),
    }
    assert sum(result.error_reasons.values()) == result.errors.read
    assert result.connections_opened >= result.requests
    assert result.requests <= fresh_server.counters.responses <= result.requests + 4


def test_connection_close_header_reconnects_without_errors(fresh_server, workers: loadgen.Workers) -> None:
    result = loadgen.run(fresh_server.url("/close"), threads=1, connections=4, duration=1, workers=workers)
    assert result.requests > 50
    assert result.errors.socket == 0
    assert result.connections_opened >= result.requests


def test_refused_port(server) -> None:
    port = free_port()
    done = run_loadgen("-d1s", f"http://127.0.0.1:{port}/")
    assert done.returncode == 1
    assert done.stderr == f"unable to connect to 127.0.0.1:{port} Connection refused\n"
    assert done.stdout == ""


def test_server_that_never_answers(unanswered: dict[str, Completed]) -> None:
    done = untraced(unanswered["hang"])
    lines = done.stdout.splitlines()
    assert lines[2:] == [
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev",
        "    Latency     0.00us    0.00us   0.00us    -nan%",
        "    Req/Sec     0.00      0.00     0.00      -nan%",
        lines[5],
        "Requests/sec:      0.00",
        "Transfer/sec:       0.00B",
    ]
    assert re.fullmatch(r"  0 requests in 1\.\d\ds, 0\.00B read", lines[5])
    assert done.stderr_lines == ["loadgen: no response from the server in " + lines[5].split()[3].rstrip(",")]
    assert done.returncode == 3


def test_a_server_that_stops_in_the_middle_of_its_responses_is_told_from_a_silent_one(
    unanswered: dict[str, Completed],
) -> None:
    """Heads sent and no body: "no response from the server" said that it sent nothing."""
    done = untraced(unanswered["head only"])
    assert done.returncode == 3
    sent = len(_response(200, HELLO)) - len(HELLO)  # each connection's head
    assert re.fullmatch(
        rf"loadgen: not one whole response from the server in 1\.\d\ds: it sent {2 * sent} bytes and finished "
        r"no response \(it stopped in the middle, or sends too slowly for the run\)",
        "\n".join(done.stderr_lines),
    ), done.stderr


@pytest.mark.parametrize("rate", [(), ("-R", "100")], ids=["closed", "paced"])
def test_a_run_shorter_than_a_response_is_not_blamed_on_the_server(server, rate: tuple[str, ...]) -> None:
    """One line, no rate shortfall after it (its figures would be of no response at all). A busy
    machine may end the run late (0.24s seen): the -d asked for is still too short, and the line
    gives the run's measured window."""
    done = run_loadgen("-t1", "-c2", "-d50ms", *rate, server.url("/hang"))
    assert done.returncode == 1  # was 3, "no response from the server in 0.05s": the window closed first
    said = re.fullmatch(
        r"loadgen: no response within the run's (\d+\.\d\d)ms: shorter than the server's first response; "
        "give a longer -d",
        "\n".join(done.stderr_lines),
    )
    assert said and float(said.group(1)) >= 50, done.stderr


def test_a_run_shorter_than_its_connects_is_not_blamed_on_the_accept_queue(server) -> None:
    """-d1us: the window closes before the connections open; 'still being opened ... the server's accept
    queue was full' was said beside the short run's line, of a server the run could say nothing of."""
    done = run_loadgen("-t1", "-c10", "-d1us", server.url("/hang"))
    assert done.returncode == 1
    assert [line for line in done.stderr_lines if "still being opened" in line] == [], done.stderr


def test_a_run_asked_that_short_is_short_though_it_ended_late(server, workers: loadgen.Workers) -> None:
    """-d50ms on a busy machine ended 0.24s in, its requests unanswered 0.23s: 'no response from the
    server in 0.24s', exit 3, where a quiet one said the run was too short (exit 1). The run here is
    a real 0.3 s one, given -d50ms as that late run had."""
    ran = loadgen.run(server.url("/hang"), threads=1, connections=2, duration=0.3, workers=workers)
    assert ran.per_connection.never_answered == 2  # its requests waited the whole run, as the late one's
    late = replace(ran, runs=(replace(ran.runs[0], duration=0.05),))
    assert diagnose(late).lines == (
        f"loadgen: no response within the run's {ran.runtime_s * 1000:.2f}ms: shorter than the server's first "
        "response; give a longer -d",
    )
    assert diagnose(late).exit_code == 1


HANDSHAKE_HELD_S = 0.7


@pytest.fixture(scope="module")
def slow_handshakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A TLS port whose server waits HANDSHAKE_HELD_S before each handshake, then never answers."""
    if not openssl_available():
        pytest.skip("openssl is not installed to make a test certificate")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed(tmp_path_factory.mktemp("slow-handshakes")))
    with slow_tls_port(context, HANDSHAKE_HELD_S) as port:
        yield port


@pytest.fixture(scope="module")
def late_requests(request: pytest.FixtureRequest, slow_handshakes: int) -> dict[str, Future[Completed]]:
    """Every selected case's run of the test below, a few at once (each connection's handshake is held alike)."""
    return each_selected(
        request,
        "test_requests_sent_late_by_slow_handshakes_are_not_put_on_the_schedule",
        lambda shape: run_unchecked("-t1", "-c2", *shape, f"https://127.0.0.1:{slow_handshakes}/"),
    )


@pytest.mark.parametrize(
    "shape", [("-d1s",), ("-d1s", "-R", "100"), ("--stages", "1s:100")], ids=["closed", "paced", "stages"]
)
def test_requests_sent_late_by_slow_handshakes_are_not_put_on_the_schedule(
    late_requests: dict[str, Future[Completed]], request: pytest.FixtureRequest, shape: tuple[str, ...]
) -> None:
    """The connections opened 0.7 s into a 1 s run, their requests too late to be called unanswered:
    'not one request was sent in time ...: the schedule (--stages) asked for none within the run',
    exit 1, though a closed loop, -R or stages rising from the start ask at once (the paced run of
    test_a_run_shorter_than_a_response_is_not_blamed_on_the_server said so on a busy machine, its
    connections opened late for want of a CPU)."""
    done = untraced(late_requests[request.node.callspec.id].result())
    assert done.returncode == 3
    said = "\n".join(done.stderr_lines)
    assert re.fullmatch(r"loadgen: no response from the server in \d+\.\d\ds", said), done.stderr


@pytest.mark.parametrize("path", ["/chunked?chunks=5&size=300", "/eof?size=5000", "/bytes?size=70000", "/"])
def test_bytes_and_requests_match_what_the_server_sent(fresh_server, path: str, workers: loadgen.Workers) -> None:
    connections = 4
    result = loadgen.run(fresh_server.url(path), threads=2, connections=connections, duration=1, workers=workers)
    counters = fresh_server.counters
    assert result.requests > 20
    # At the deadline at most one response per connection is in flight and dropped, as in wrk.
    assert counters.responses - connections <= result.requests <= counters.responses
    per_response = counters.bytes_sent / counters.responses
    assert counters.bytes_sent - connections * per_response <= result.bytes <= counters.bytes_sent
    assert result.errors.socket == 0 and not result.failures


def test_head_responses_have_no_body(fresh_server, workers: loadgen.Workers) -> None:
    # /head-ok announces a 1000-byte body it does not send: only a HEAD-aware parser survives it.
    result = loadgen.run(
        fresh_server.url("/head-ok"), method="HEAD", threads=1, connections=2, duration=0.5, workers=workers
    )
    assert result.requests > 20
    assert result.errors.socket == 0 and not result.failures


def test_connections_are_split_as_wrk_splits_them(server) -> None:
    done = run_loadgen("-t3", "-c10", "-d1s", "--json", "-", server.url("/"))
    import json

    data = json.loads(done.stdout)
    assert data["connections"]["per_worker"] == 3
    assert data["connections"]["peak_open"] == 9
    assert "  3 threads and 10 connections\n" in done.stderr  # the header still says 10, as wrk
    assert "loadgen: warning: 10 connections do not divide among 3 threads; 9 will be opened" in done.stderr


def test_wrks_long_options_abbreviated_as_its_getopt_takes_them(server) -> None:
    """wrk's getopt_long takes a long option by any prefix of it alone (``--conn 3``, ``--lat``):
    such a wrk command line was 'No such option: --conn'. A flag's value is never taken for one
    (the body ``--lat``)."""
    done = run_loadgen("--thr", "1", "--conn=3", "--dur", "300ms", "--lat", server.url("/"))
    assert done.stdout.startswith("Running 0.30s test @ ")
    assert "  1 threads and 3 connections\n" in done.stdout and "  Latency Distribution\n" in done.stdout
    not_latency = run_loadgen("-t1", "-c1", "-d300ms", "-m", "POST", "-b", "--lat", server.url("/"))
    assert "Latency Distribution" not in not_latency.stdout


def test_latency_measures_the_server_delay(server, workers: loadgen.Workers) -> None:
    result = loadgen.run(server.url("/delay?ms=20"), threads=1, connections=2, duration=1, workers=workers)
    assert 20_000 <= result.latency_uncorrected.percentile(50) < 30_000
    assert result.latency_uncorrected.min >= 20_000


def test_https_without_certificate_verification(tmp_path, workers: loadgen.Workers) -> None:
    """As wrk: TLS with SNI and no verification (a load test is not a security check)."""
    import shutil
    import ssl
    import subprocess

    from loadgen.testing.server import TestServer

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with TestServer(tls=context) as server:
        result = loadgen.run(server.url("/bytes?size=5000"), threads=1, connections=2, duration=0.5, workers=workers)
        assert result.requests > 20 and result.errors.socket == 0
        assert result.bytes >= result.requests * 5000


def test_a_count_of_one_is_said_in_the_singular() -> None:
    """Messages said "1 connections", "the Dask cluster has 1 workers": :func:`counted` says one in the
    singular, and the TLS refusal on one connection says so."""
    from loadgen.measurement import ErrorKind, ErrorReason, Stage
    from loadgen.report.diagnosis import _tls_lines
    from loadgen.units import counted

    assert [counted(1, "worker"), counted(0, "worker"), counted(1_000, "time")] == [
        "1 worker",
        "0 workers",
        "1,000 times",
    ]
    refusal = ErrorReason(ErrorKind.READ, Stage.TLS, "TLSV13_ALERT_CERTIFICATE_REQUIRED")
    assert _tls_lines((refusal, 1))[0].startswith("loadgen: the server refused the TLS session on 1 connection: ")
