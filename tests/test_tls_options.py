"""TLS beyond wrk's (issue 23): a private CA (--cacert), the system's (--verify), a client
certificate (--cert/--key), the server name (--sni) and the version (--tls-version), against
real TLS servers: nginx, and ``openssl s_server``, which refuses a handshake without the client
certificate it requires (nginx completes it and answers 400). A refusal is one line, exit 1."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

import pytest

import loadgen
from loadgen import ErrorKind, Settings, Target
from loadgen._run.plan import prepare
from loadgen._run.tlsoptions import describe
from loadgen.errors import SetupError
from loadgen.prerun import PRE_RUN_TIMEOUT_S
from loadgen.testing.certificate import Authority, openssl_available, self_signed
from loadgen.testing.launch import free_port, stop, wait_until_listening
from loadgen.testing.nginx import Nginx, nginx_available
from loadgen.testing.server import TestServer
from loadgen.tlsrefusals import CLOSED_AFTER_HANDSHAKE, SERVER_REFUSED
from loadgen.units import counted

from .conftest import (
    Completed,
    each_selected,
    run_loadgen,
    run_loadgen_together,
    run_unchecked,
    serving,
    slow_tls_port,
    untraced,
)

pytestmark = pytest.mark.skipif(not (openssl_available() and nginx_available()), reason="needs openssl and nginx")


class Pki:
    """A CA with a server's and a client's certificate, and another CA that signed neither."""

    def __init__(self, folder: Path) -> None:
        self.ca = Authority.new(folder, "ca")
        self.other = Authority.new(folder, "other")
        self.server = self.ca.issue("server")
        self.client = self.ca.issue("client", client=True)

    def client_flags(self) -> tuple[str, ...]:
        return ("--cert", str(self.client[0]), "--key", str(self.client[1]))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def nginx(pki: Pki) -> Iterator[Nginx]:
    """nginx serving the CA's certificate, TLS 1.2 only, requiring a client certificate the CA signed."""
    with Nginx(tls=True, certificate=pki.server, client_ca=pki.ca.cert, tls_versions="TLSv1.2") as server:
        yield server


@pytest.fixture
def s_server(pki: Pki) -> Iterator[str]:
    """``openssl s_server`` requiring a client certificate: see :func:`_s_server`."""
    with _s_server(pki) as url:
        yield url


@contextmanager
def _s_server(pki: Pki, *options: str) -> Iterator[str]:
    """``openssl s_server`` requiring a client certificate (``-Verify``): it ends the handshake of
    a client without one, or with one it does not accept (``-verify_return_error``: an expired
    one), with an alert. Its URL. ``options``: s_server's own more (``-alpn h2``)."""
    port = free_port()
    cert, key = pki.server
    process = subprocess.Popen(
        [
            *("openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(cert), "-key", str(key)),
            *("-CAfile", str(pki.ca.cert), "-Verify", "1", "-verify_return_error", "-www", "-quiet", *options),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until_listening(process, port, 10)
        yield f"https://127.0.0.1:{port}/"
    finally:
        stop(process)


def _one_line(done: object, *words: str) -> str:
    line = done.stderr.strip()  # type: ignore[attr-defined]
    assert done.returncode == 1, line  # type: ignore[attr-defined]
    assert len(line.splitlines()) == 1, line
    assert line.startswith("loadgen: TLS handshake with 127.0.0.1:"), line
    for word in words:
        assert word in line, line
    return line


def test_client_certificate_answered_with_it(pki: Pki, nginx: Nginx, workers: loadgen.Workers) -> None:
    """The CA verifies the server (127.0.0.1 is in its certificate) and the client certificate is
    presented: every response a 200; without it nginx answers 400 (its own refusal). Each connection's
    set-up is timed, its TCP connect and its TLS handshake apart (--phases)."""
    ca = ("--cacert", str(pki.ca.cert))
    done = run_loadgen("-t1", "-c2", "-d1s", *ca, *pki.client_flags(), nginx.url("/"), "--json", "-")
    assert done.returncode == 0, done.stderr
    result = loadgen.from_json(done.stdout)
    assert result.requests > 0
    assert set(result.status_counts) == {200}
    assert result.errors.socket == 0
    assert result.connect.count == result.tls_handshake.count == result.connections_opened >= 2
    refused = loadgen.run(
        nginx.url("/"), threads=1, connections=2, duration=0.5, cacert=str(pki.ca.cert), workers=workers
    )
    assert set(refused.status_counts) == {400}


@pytest.mark.slow
def test_client_certificate_required_refused_in_one_line(pki: Pki, s_server: str) -> None:
    _one_line(run_loadgen("-t1", "-c1", "-d1s", "--cacert", str(pki.ca.cert), s_server), "certificate required")
    _one_line(run_loadgen("-t1", "-c1", "-d1s", "--tls-version", "1.2", s_server), "client certificate")
    done = run_loadgen("-t1", "-c1", "-d1s", "--cacert", str(pki.ca.cert), *pki.client_flags(), s_server)
    assert done.returncode == 0, done.stderr
    assert "requests in" in done.stdout
    expired = pki.ca.issue("expired", client=True, expired=True)
    flags = ("--cacert", str(pki.ca.cert), "--cert", str(expired[0]), "--key", str(expired[1]))
    _one_line(
        run_loadgen("-t1", "-c1", "-d1s", *flags, s_server), "the server refused the client certificate: it has expired"
    )
    for refused, why in [
        (pki.other.issue("untrusted", client=True), "the server does not trust the client certificate (unknown CA)"),
        (pki.ca.issue("early", client=True, early=True), "the server refused the client certificate (bad certificate)"),
        (  # was OpenSSL's SSLV3_ALERT_UNSUPPORTED_CERTIFICATE as it is
            pki.server,
            "the server refused the client certificate as unsupported (is it a server's, not made for client "
            "authentication?)",
        ),
    ]:
        with pytest.raises(SetupError) as raised:
            prepare(Settings(url=s_server, cacert=str(pki.ca.cert), cert=str(refused[0]), key=str(refused[1])))
        assert str(raised.value).endswith(f"failed: {why}"), raised.value


@pytest.mark.slow
def test_a_client_certificate_refused_during_the_run_is_named(s_server: str) -> None:
    """Without a TLS option there is no check before the run, and TLS 1.3's refusal of a client
    without the certificate the server requires comes by an alert on each connection's first read:
    read errors, as wrk counts them, named by OpenSSL's reason (it was EPERM: SSL_ERROR_SSL's 1
    read as an errno), and a line saying what the server wants: the first, since it is the cause,
    and the only one about those read errors (a line that said them first, as the server closing
    connections, preceded it)."""
    done = run_loadgen("-t1", "-c1", "-d0.5s", "--json", "-", s_server)
    assert done.returncode == 3, done.stderr
    reasons = loadgen.from_json(done.stdout).reasons(lambda reason: True)
    assert {(reason.kind, reason.cause) for reason, _ in reasons} == {
        (ErrorKind.READ, "TLSV13_ALERT_CERTIFICATE_REQUIRED")
    }
    said = [line for line in done.stderr_lines if line.startswith("loadgen: ")]  # (the report is on stderr too)
    assert said[:2] == [
        f"loadgen: the server refused the TLS session on {counted(reasons[0][1], 'connection')}: "
        "certificate required: the server wants a client certificate (--cert/--key)",
        "loadgen: not one request succeeded",
    ], done.stderr
    assert not [line for line in said if "read errors" in line], done.stderr


def test_a_certificate_refused_during_the_run_is_named_with_why(pki: Pki) -> None:
    """A server restarted with a certificate --cacert does not trust, after the check before the run:
    "TLS handshakes failed (CERTIFICATE_VERIFY_FAILED 4,434)", OpenSSL's reason alone."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*pki.server)
    with TestServer(tls=context) as server:

        def restart_with_another_certificate() -> None:  # once the check's request came
            while not server.counters.requests_received:
                time.sleep(0.005)
            context.load_cert_chain(*pki.other.issue("restarted"))

        threading.Thread(target=restart_with_another_certificate, daemon=True).start()
        done = run_loadgen("-t1", "-c2", "-d0.5s", "--no-keepalive", "--cacert", str(pki.ca.cert), server.url("/"))
    [line] = [line for line in done.stderr_lines if " TLS handshakes failed (" in line]
    assert "(CERTIFICATE_VERIFY_FAILED (unable to get local issuer certificate) " in line, done.stderr


def test_wrong_ca_and_wrong_name_fail_in_one_line(pki: Pki, nginx: Nginx) -> None:
    url = nginx.url("/")
    ca = ("--cacert", str(pki.ca.cert))
    other_ca, system_cas, mismatch, named, unverified = run_loadgen_together(
        ("-d1s", "--cacert", str(pki.other.cert), *pki.client_flags(), url),
        ("-d1s", "--verify", url),
        ("-d1s", *ca, "--sni", "example.com", url),
        ("-t1", "-c1", "-d1s", *ca, "--sni", "localhost", *pki.client_flags(), url),
        ("-t1", "-c1", "-d0.3s", "--sni", "example.com", *pki.client_flags(), url),
    )
    _one_line(other_ca, "unknown CA")
    _one_line(system_cas, "unknown CA")  # the system's CAs do not know it
    line = _one_line(mismatch)
    assert "hostname mismatch" in line and "example.com" in line
    assert named.returncode == 0, named.stderr  # localhost is in the certificate too
    assert unverified.returncode == 0, unverified.stderr  # --sni alone sends the name and verifies nothing


def test_a_port_that_never_answers_the_handshake_is_left_to_the_run(pki: Pki, silent_port: int, tmp_path: Path) -> None:
    """It accepts and never answers: the check waited 5 s, silently, then ran. It gives up as the
    HTTP/2 probe does, within the run's --timeout (2 s) or its length (a fixed second held a 0.3 s
    run a second), and the run says what it says of any server that does not answer (of an
    https:// URL without a TLS option, which is not checked, or of a plain one), exit 3, and that
    the connection was still being opened (its handshake never done)."""
    url = f"https://127.0.0.1:{silent_port}/"

    def checked_in(checked_url: str, **given: float) -> float:
        started = time.monotonic()
        prepare(Settings(url=checked_url, threads=1, connections=1, cacert=str(pki.ca.cert), **given))
        return time.monotonic() - started

    answering = FirstLines(pki.server)
    try:  # the check's own time, its wait aside: on a loaded machine (load 8-15) a second and more
        own = checked_in(answering.url)
    finally:
        answering.close()
    assert checked_in(url) < 2 + own + 0.5 < PRE_RUN_TIMEOUT_S  # --timeout's 2 s, not the 5 s it waited
    assert checked_in(url, duration=0.3) < 0.3 + own + 0.5  # the run's length: not a fixed second either
    out = tmp_path / "run.json"
    done = run_loadgen("-t1", "-c1", "-d0.5s", "--cacert", str(pki.ca.cert), "--json", str(out), url)
    assert done.returncode == 3, done.stderr
    # the window the run measured (its stop may come a few ms late on a loaded machine: 0.52s at load 10)
    ran = loadgen.from_json(out.read_text()).runtime_s
    assert 0.5 <= ran < 0.75, ran
    assert done.stderr_lines == [
        "loadgen: the 1 connection was still being opened when the run ended: the server did not complete "
        "their connect or TLS handshake (a full accept queue, or a busy server), or the client was too busy; give a "
        "longer -d or fewer -c",
        f"loadgen: no response from the server in {ran:.2f}s",
    ], done.stderr


HANDSHAKE_HELD_S = 1.5  # a far or busy server: within the run's --timeout (3 s), which the HTTP/2 probe waits


@pytest.fixture(scope="module")
def slow_handshakes(pki: Pki) -> Iterator[int]:
    """A TLS port with the CA's server certificate (ALPN h2 or http/1.1) that waits HANDSHAKE_HELD_S
    before each handshake (each connection in a thread of its own: the module's runs share it)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*pki.server)
    context.set_alpn_protocols(["h2", "http/1.1"])
    with slow_tls_port(context, HANDSHAKE_HELD_S) as port:
        yield port


@pytest.fixture(scope="module")
def slow_refusals(request: pytest.FixtureRequest, pki: Pki, slow_handshakes: int) -> dict[str, Future[Completed]]:
    """Each selected case's command of the test below, at once: they wait on the slow handshakes nearly all the time."""
    ca = ("--cacert", str(pki.other.cert))
    url = f"https://127.0.0.1:{slow_handshakes}/"
    return each_selected(
        request,
        "test_a_refusal_by_a_server_slow_to_answer_is_said_before_the_run",
        lambda http2: run_loadgen("-t1", "-c1", "-d3s", "--timeout", "3s", *http2, *ca, url),
    )


@pytest.mark.parametrize("http2", [(), ("--http2",)], ids=["http1", "http2"])
def test_a_refusal_by_a_server_slow_to_answer_is_said_before_the_run(
    slow_refusals: dict[str, Future[Completed]], request: pytest.FixtureRequest, http2: tuple[str, ...]
) -> None:
    """The check gave up after a fixed second, where the HTTP/2 probe waits up to the run's
    --timeout for the same server, and the run went on, unchecked: it waits as the probe does."""
    done = slow_refusals[request.node.callspec.id].result()
    _one_line(done, "the server's certificate is signed by an unknown CA")
    assert done.stdout == ""


def test_https_to_a_plain_http_port_says_so() -> None:
    """``https://`` to a port that answers in plain HTTP: the run's diagnosis says what is wrong,
    and so does the check before a run with TLS options (one line, exit 1)."""
    with Nginx() as plain:
        url = plain.url("/").replace("http://", "https://")
        done, checked = run_loadgen_together(("-t1", "-c1", "-d1s", url), ("-d1s", "--verify", url))
        assert done.returncode == 3 and "Traceback" not in done.stderr
        assert "loadgen: the server's answer to the TLS handshake was not TLS: is the port plain HTTP (http://)?" in (
            done.stderr_lines
        )
        # one connection, its handshake retried as wrk retries it: not "N connections ... given up"
        retried = (
            r"loadgen: [\d,]+ TLS handshakes failed \(WRONG_VERSION_NUMBER [\d,]+\); "
            "each time the connection was opened again, as wrk does"
        )
        assert any(re.fullmatch(retried, line) for line in done.stderr_lines), done.stderr
        assert "given up" not in done.stderr
        assert "answer to the TLS handshake was not TLS" in _one_line(checked)


@pytest.mark.slow
def test_tls_version_pinned(pki: Pki, nginx: Nginx, s_server: str) -> None:
    """nginx speaks TLS 1.2 only: pinned to 1.2 the run goes, to 1.3 it is refused in one line;
    s_server speaks both."""
    pinned, refused, both = run_loadgen_together(
        ("-t1", "-c1", "-d1s", "--tls-version", "1.2", *pki.client_flags(), nginx.url("/")),
        ("-d1s", "--tls-version", "1.3", *pki.client_flags(), nginx.url("/")),
        ("-t1", "-c1", "-d1s", "--tls-version", "1.3", *pki.client_flags(), s_server),
    )
    assert pinned.returncode == 0, pinned.stderr
    _one_line(refused, "TLS version")
    assert both.returncode == 0, both.stderr


@pytest.fixture(scope="module")
def bad_tls_options(request: pytest.FixtureRequest) -> dict[str, Future[Completed]]:
    """Every selected case's command of the test below, a few at once."""
    return each_selected(
        request, "test_bad_tls_options_are_one_line", lambda args, message: run_unchecked("-d1s", *args)
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--cacert", "/nonexistent/ca.pem", "https://127.0.0.1:1/"), "loadgen: cannot read --cacert /nonexistent/"),
        (("--sni", "x", "http://127.0.0.1:1/"), "loadgen: --sni is TLS's: it needs an https:// URL"),
        (("--sni", "", "https://127.0.0.1:1/"), "loadgen: --sni needs a name (without --sni the URL's host is sent)"),
        (("--sni", "a..b", "https://127.0.0.1:1/"), "loadgen: --sni a..b: not a host name"),
        (("--sni", "-x", "https://127.0.0.1:1/"), "loadgen: --sni -x: not a host name"),  # the next flag, mistyped
        (("--sni", "example.com.", "https://127.0.0.1:1/"), "loadgen: --sni example.com.: not a host name"),
        (("--sni", "10.0.0.1", "https://127.0.0.1:1/"), "loadgen: --sni 10.0.0.1: an IP address is never sent"),
        (("--sni", "::1", "https://127.0.0.1:1/"), "loadgen: --sni ::1: an IP address is never sent"),
        (("--cacert", "", "https://127.0.0.1:1/"), "loadgen: --cacert needs a file name"),  # was: nothing verified
        (("--cert", "", "https://127.0.0.1:1/"), "loadgen: --cert needs a file name"),
        (("--cert", "c.pem", "--key", "", "https://127.0.0.1:1/"), "loadgen: --key needs a file name"),
        (("--key", "k.pem", "https://127.0.0.1:1/"), "loadgen: --key is the private key of --cert"),
        (("--tls-version", "1.1", "https://127.0.0.1:1/"), "loadgen: --tls-version must be 1.2 or 1.3"),
    ],
)
def test_bad_tls_options_are_one_line(
    bad_tls_options: dict[str, Future[Completed]], request: pytest.FixtureRequest, args: tuple[str, ...], message: str
) -> None:
    done = untraced(bad_tls_options[request.node.callspec.id].result())
    assert done.returncode == 1
    assert done.stderr.startswith(message), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _encrypted(key: Path, folder: Path) -> Path:
    """``key`` protected by a passphrase, as ``openssl pkey -aes256`` writes it."""
    encrypted = folder / "client-key-enc.pem"
    subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-aes256", "-passout", "pass:secret", "-out", str(encrypted)], check=True
    )
    return encrypted


def test_an_encrypted_key_is_one_line_without_a_prompt(
    pki: Pki, nginx: Nginx, workers: loadgen.Workers, tmp_path: Path
) -> None:
    """OpenSSL asks for a passphrase on the terminal (in the parent, then in each worker); loadgen
    asks for none: one line, exit 1, and SetupError with the same words from the API. The run has
    no terminal to ask on (a new session), where OpenSSL's prompt failed with a traceback."""
    cert, key = pki.client
    encrypted = _encrypted(key, tmp_path)
    done = run_loadgen("-d1s", "--cert", str(cert), "--key", str(encrypted), nginx.url("/"), start_new_session=True)
    assert done.returncode == 1
    assert done.stderr == (
        f"loadgen: --key {encrypted}: the private key is encrypted and loadgen asks for no passphrase: "
        f"give it unencrypted (openssl pkey -in {encrypted} -out key.pem)\n"
    )
    both = tmp_path / "both.pem"
    both.write_text(cert.read_text() + encrypted.read_text())
    with pytest.raises(SetupError, match=f"^--cert {both}: the private key is encrypted"):
        loadgen.run(nginx.url("/"), cert=str(both), duration=0.5, workers=workers)


def test_an_empty_ca_file_is_one_line_and_text_around_its_pem_is_read(pki: Pki, nginx: Nginx, tmp_path: Path) -> None:
    """A CA file with nothing in it is refused in one line (it was a ValueError's traceback); one
    with text that is not ASCII around its certificates (a bundle's comments) is read as OpenSSL
    reads a file (it was a TypeError's traceback)."""
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    done = run_loadgen("-d1s", "--cacert", str(empty), nginx.url("/"))
    assert done.returncode == 1
    assert done.stderr == f"loadgen: --cacert {empty}: not a usable PEM certificate (NO_CERTIFICATE_OR_CRL_FOUND)\n"
    commented = tmp_path / "bundle.pem"
    commented.write_text("# Issuer: CN=Autorité de test\n" + pki.ca.cert.read_text())
    done = run_loadgen("-t1", "-c1", "-d0.3s", "--cacert", str(commented), *pki.client_flags(), nginx.url("/"))
    assert done.returncode == 0, done.stderr


class FirstLines:
    """A TLS server on 127.0.0.1 that answers each connection with an empty 200 and keeps its
    request line: what the check before a run sends (each connection on its own thread: the
    plain connect before it, held open without a handshake, is let go)."""

    def __init__(self, certificate: tuple[Path, Path]) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(str(certificate[0]), str(certificate[1]))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.lines: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.listener.getsockname()[1]}/probe"

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._answer, args=(raw,), daemon=True).start()

    def _answer(self, raw: socket.socket) -> None:
        try:
            with self.context.wrap_socket(raw, server_side=True) as connection:
                self.lines.append(connection.recv(4096).split(b"\r\n")[0])
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except OSError:
            raw.close()  # a connect without a handshake

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (closing alone would not)
        self.listener.close()
        self.thread.join(5)
        assert not self.thread.is_alive()


@pytest.mark.parametrize(("method", "probe"), [("GET", b"GET /probe HTTP/1.1"), ("POST", b"HEAD /probe HTTP/1.1")])
def test_the_check_before_a_run_sends_the_runs_get_or_a_head(pki: Pki, method: str, probe: bytes) -> None:
    """A GET run's check sends that GET (``openssl s_server -www`` answers nothing else: a HEAD
    kept the check waiting its whole 5 s); any other method's, a HEAD (no side effect the run did
    not ask for)."""
    server = FirstLines(pki.server)
    try:
        prepare(Settings(url=server.url, method=method, cacert=str(pki.ca.cert)))
    finally:
        server.close()
    assert server.lines == [probe]


def test_the_check_before_a_run_of_targets_follows_the_first_targets_method(pki: Pki) -> None:
    """With --targets the first target is the run's request: a POST's check is a HEAD of its path,
    not the GET (of settings' default method) that no target sends."""
    server = FirstLines(pki.server)
    try:
        prepare(
            Settings(
                targets=(Target("POST", server.url, body=b"x"), Target("GET", server.url)), cacert=str(pki.ca.cert)
            )
        )
    finally:
        server.close()
    assert server.lines == [b"HEAD /probe HTTP/1.1"]


def test_the_http2_test_connection_has_the_runs_tls_options_and_server_name(pki: Pki) -> None:
    """A TLS 1.2 server offering h2 that refuses a handshake without a client certificate: the
    HTTP/2 test connection presents --cert and sends --sni, as the run's connections do (it had
    neither: 'does not speak HTTP/2 (the TLS handshake failed: SSLV3_ALERT_HANDSHAKE_FAILURE)',
    and --http2=auto fell back to HTTP/1.1)."""
    server = FirstLines(pki.server)
    server.context.maximum_version = ssl.TLSVersion.TLSv1_2
    server.context.verify_mode = ssl.CERT_REQUIRED
    server.context.load_verify_locations(pki.ca.cert)
    server.context.set_alpn_protocols(["h2"])
    names: list[str | None] = []
    server.context.sni_callback = lambda _tls, name, _context: names.append(name)  # type: ignore[func-returns-value]
    cert, key = (str(path) for path in pki.client)
    settings = Settings(url=server.url, http2=True, cacert=str(pki.ca.cert), cert=cert, key=key, sni="localhost")
    try:
        plan = prepare(settings)
    finally:
        server.close()
    assert plan.protocol == "h2"
    assert names == ["localhost", "localhost"]  # the HTTP/2 test connection's, the TLS check's


def test_an_http2_test_connection_refused_its_handshake_is_the_tls_line_and_no_fallback(pki: Pki) -> None:
    """Without --cert, against a server that wants one: 'does not speak HTTP/2 (the TLS handshake failed:
    SSLV3_ALERT_HANDSHAKE_FAILURE)', and --http2=auto fell back to HTTP/1.1, whose every connection then
    failed that handshake."""
    server = FirstLines(pki.server)
    server.context.maximum_version = ssl.TLSVersion.TLSv1_2
    server.context.verify_mode = ssl.CERT_REQUIRED
    server.context.load_verify_locations(pki.ca.cert)
    server.context.set_alpn_protocols(["h2"])
    try:
        for http2 in (True, "auto"):
            with pytest.raises(SetupError, match=r"^TLS handshake with 127\.0\.0\.1:\d+ failed: .*--cert/--key"):
                prepare(Settings(url=server.url, http2=http2))
    finally:
        server.close()


def test_a_tls13_server_that_closes_after_the_handshake_is_said_in_words() -> None:
    """Python's ssl server wanting a client certificate refuses after a TLS 1.3 handshake and closes the
    connection; when that comes before the check's request is written (one time in three here), the write
    fails with this error, and the check said "EOF occurred in violation of protocol (_ssl.c:2427)". (The
    error as the write raises it: the close before the write cannot be timed from outside.)"""
    closed = ssl.SSLEOFError(ssl.SSL_ERROR_EOF, "EOF occurred in violation of protocol (_ssl.c:2427)")
    closed.reason = closed.library = None  # as _ssl sets them for an EOF in SSL_write
    assert describe(closed) == CLOSED_AFTER_HANDSHAKE


def test_a_server_that_closes_during_the_handshake_is_said_in_words() -> None:
    """It reads the ClientHello and closes without an alert (OpenSSL's UNEXPECTED_EOF_WHILE_READING):
    a close during the handshake, not the close after it of a TLS 1.3 refusal. Every refusal's words
    are one line, those no test server sends too."""

    def close_on_hello(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.close()

    with serving(close_on_hello) as port, pytest.raises(SetupError) as raised:
        prepare(Settings(url=f"https://127.0.0.1:{port}/", verify=True))
    assert "failed: the server closed the connection during the handshake (" in str(raised.value), raised.value
    assert all(words.isprintable() for words in (*SERVER_REFUSED.values(), CLOSED_AFTER_HANDSHAKE))


def test_an_http2_test_connection_refused_after_a_tls13_handshake_is_the_tls_line(pki: Pki) -> None:
    """TLS 1.3: a server that wants a client certificate refuses by an alert on the first read,
    after the client's side of the handshake; the test connection took ALPN's h2 for an answer
    without a read, and the run failed every connection ('the server refused the TLS session on
    640 connections', exit 3) where the README says one line, exit 1."""
    with _s_server(pki, "-alpn", "h2") as url:
        for http2 in (True, "auto"):
            with pytest.raises(SetupError, match=r"^TLS handshake with 127\.0\.0\.1:\d+ failed: certificate required"):
                prepare(Settings(url=url, http2=http2))


def test_a_certificate_without_its_key_and_an_address_not_in_the_servers_are_named(pki: Pki) -> None:
    """OpenSSL's reason for a --cert without the key --key left out, or a key given as --cert, is
    'PEM lib'; an IP address the server's certificate does not name wants --sni as a host name does."""
    cert, key = pki.client
    done = run_loadgen("-d1s", "--cert", str(cert), "https://127.0.0.1:1/")
    assert done.returncode == 1
    assert done.stderr == f"loadgen: --cert {cert}: no PEM private key in it: give its key with --key\n"
    with pytest.raises(SetupError, match=f"^--cert {key}: no PEM certificate in it$"):
        prepare(Settings(url="https://127.0.0.1:1/", cert=str(key), key=str(cert)))
    named = FirstLines(pki.ca.issue("named", names="DNS:localhost"))
    try:
        mismatch = r"failed: address mismatch: .*'127\.0\.0\.1'\. \(--sni sets the name checked\)$"
        with pytest.raises(SetupError, match=mismatch):
            prepare(Settings(url=named.url, cacert=str(pki.ca.cert)))
    finally:
        named.close()


def test_a_self_signed_certificate_or_root_is_an_unknown_ca(pki: Pki, tmp_path: Path) -> None:
    """A server's own self-signed certificate (OpenSSL's 18, the commonest refusal of --verify) and a chain
    that ends in a root --cacert does not hold (19) are said as an unknown issuer (20) is: an unknown CA."""
    chain = tmp_path / "chain.pem"
    chain.write_text(pki.server[0].read_text() + pki.ca.cert.read_text())
    for certificate, cacert, why in [
        (self_signed(tmp_path), None, "self-signed certificate"),  # with --verify
        ((chain, pki.server[1]), str(pki.other.cert), "self-signed certificate in certificate chain"),
    ]:
        server = FirstLines(certificate)
        try:
            with pytest.raises(SetupError) as raised:
                prepare(Settings(url=server.url, verify=cacert is None, cacert=cacert))
        finally:
            server.close()
        unknown = f"failed: the server's certificate is signed by an unknown CA ({why})"
        assert str(raised.value).endswith(unknown), raised.value


def test_tls_files_whose_names_hold_a_newline_are_named_in_one_line(pki: Pki, tmp_path: Path) -> None:
    """Named as every other message names a file (errors.shown: quoted, the newline escaped); the
    messages of --cacert's and --cert's unusable files split the line (``--cert $'a\\nb.pem'``)."""
    empty, cert, key = tmp_path / "empty\n.pem", tmp_path / "client\n.pem", pki.server[1]
    empty.write_text("")
    cert.write_text(pki.client[0].read_text())  # the certificate, without its key
    cases = [
        ({"cacert": empty}, f"--cacert {str(empty)!r}: not a usable PEM certificate ("),
        ({"cert": empty}, f"--cert {str(empty)!r}: no PEM certificate in it"),
        ({"cert": cert}, f"--cert {str(cert)!r}: no PEM private key in it"),
        ({"cert": cert, "key": key}, f"--cert/--key {str(cert)!r} and {key}: not a certificate and its private key ("),
    ]
    for files, message in cases:
        with pytest.raises(SetupError) as raised:
            prepare(Settings(url="https://127.0.0.1:1/", **{flag: str(path) for flag, path in files.items()}))
        assert str(raised.value).startswith(message), raised.value


def test_a_certificate_with_another_certificates_key_names_both_files(pki: Pki, nginx: Nginx) -> None:
    """OpenSSL's KEY_VALUES_MISMATCH said as "--cert/--key: not a certificate and its private key", naming neither
    file (--cacert's unusable file was likewise unnamed, where every other TLS file's message names it)."""
    cert, key = pki.client[0], pki.server[1]
    done = run_loadgen("-d1s", "--cert", str(cert), "--key", str(key), nginx.url("/"))
    assert done.returncode == 1
    assert done.stderr.startswith(f"loadgen: --cert/--key {cert} and {key}: not a certificate and its private key ("), (
        done.stderr
    )
