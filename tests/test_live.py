"""Watching a run (issue 24): the full-screen view in a real terminal (tmux), the Prometheus
endpoint scraped by a real Prometheus, the OTLP push received by a real OTLP/HTTP receiver, and
the API's callback and exporters."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import loadgen
from loadgen._stats.stats import add_counts
from loadgen.export.openmetrics import BUCKETS_S, exposition
from loadgen.live.collate import coarse
from loadgen.measurement import ErrorKind, ErrorReason, Stage
from loadgen.testing.server import TestServer
from tests.conftest import (
    Completed,
    each_selected,
    free_port,
    run_loadgen,
    run_loadgen_together,
    selected_at_once,
    wait_for,
)
from tests.dask_cluster import DaskCluster

if TYPE_CHECKING:
    from tests.otlp_receiver import OtlpReceiver

ROOT = Path(__file__).resolve().parent.parent


def _loadgen_command(*args: str) -> str:
    return " ".join([sys.executable, "-m", "loadgen", *args])


# -- --tui ----------------------------------------------------------------------------------------


class Tmux:
    """A tmux server of its own (its own socket), one window of a fixed size."""

    def __init__(self, command: str) -> None:
        if shutil.which("tmux") is None:
            pytest.skip("tmux is not installed (apt-get install tmux); .ci/run installs it")
        self.socket = f"loadgen-test-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            ["tmux", "-L", self.socket, "new-session", "-d", "-x", "130", "-y", "50", f"{command}; sleep 120"],
            check=True,
            cwd=ROOT,
        )

    def screen(self) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, "capture-pane", "-p"], capture_output=True, text=True)
        return done.stdout

    def press(self, key: str) -> None:
        subprocess.run(["tmux", "-L", self.socket, "send-keys", key], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture(scope="module")
def terminals(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, server: TestServer
) -> dict[str, Future[Any]]:
    """The module's commands that run for a fixed time whatever they get (-d, or a view waited for then Ctrl-C): the
    two views in tmux, the two on a terminal of their own, the OTLP push and the receiver gone, those of them whose
    test the session runs, at once: each takes its own time, all of them the longest's (the 6 s view's), not their
    sum (18 s). By test (see :func:`tests.conftest.selected_at_once`)."""
    folder = tmp_path_factory.mktemp("terminals")

    def last_frame() -> tuple[str, Path]:
        path = folder / "last-frame.json"
        command = [sys.executable, "-m", "loadgen", "-t2", "-c4", "-d2s", "--tui", "--json", str(path), server.url()]
        return _terminal_output(command), path

    def warned() -> tuple[str, Path]:
        script = folder / "warns.py"
        script.write_text("import warnings\ndef response(status, headers, body):\n    warnings.warn('careful')\n")
        command = [sys.executable, "-m", "loadgen", "-t2", "-c2", "-d1s", "--tui", "-s", str(script), server.url()]
        return _terminal_output(command, stderr=True), script

    return selected_at_once(
        request,
        {
            "test_tui_shows_the_run_then_leaves_wrks_report": lambda: _shown_then_left(server),
            "test_ctrl_c_leaves_the_view_and_prints_the_report": lambda: _interrupted_view(server),
            "test_tui_last_frame_is_the_runs_end": last_frame,
            "test_a_workers_warning_is_shown_once_after_the_view": warned,
            "test_otlp_push_reaches_a_receiver": lambda: _pushed(server, folder),
            "test_otlp_receiver_gone_is_one_line": lambda: run_loadgen(
                "-d1s", "--otlp-endpoint", f"http://127.0.0.1:{free_port()}", server.url()
            ),
        },
    )


def _shown_then_left(server: TestServer) -> tuple[bool, str, bool, str]:
    """A 6 s --tui run in tmux: whether its view came (within 20 s), the screen then, whether the report came after
    it (within 30 s more), the screen then."""
    tmux = Tmux(_loadgen_command("-t2", "-c4", "-d6s", "--tui", server.url("/status/201")))
    try:
        seen: list[str] = []

        def view_shown() -> bool:
            seen.append(tmux.screen())
            return all(word in seen[-1] for word in ("Requests/sec", "p99", "201: ", "busy"))

        if not wait_for(view_shown, timeout=20, interval=0.2):
            return False, seen[-1] if seen else "nothing captured", False, ""
        mid_run = seen[-1]

        def report_shown() -> bool:
            seen.append(tmux.screen())
            return "Requests/sec:" in seen[-1] and "Transfer/sec:" in seen[-1]

        return True, mid_run, wait_for(report_shown, timeout=30, interval=0.2), seen[-1]
    finally:
        tmux.close()


@pytest.mark.slow
def test_tui_shows_the_run_then_leaves_wrks_report(terminals: dict[str, Future[Any]]) -> None:
    shown, mid_run, reported, after = terminals["test_tui_shows_the_run_then_leaves_wrks_report"].result()
    assert shown, mid_run
    assert "loadgen --tui" in mid_run and "remaining" in mid_run
    assert "Running 6s test" not in mid_run  # the view has the whole screen: the header is below it
    assert reported, after
    assert "loadgen --tui" not in after  # the terminal is given back: wrk's header and report only
    lines = [line for line in after.splitlines() if line.strip()]
    assert lines[0].startswith("Running 6s test @ ")
    assert "Thread Stats" in after and "Latency" in after


def _interrupted_view(server: TestServer) -> tuple[str | None, float | None, str]:
    """A 60 s --tui run at -R2000 in tmux, Ctrl-C pressed once its view is shown (within 20 s): the screen then (None
    if it never came), how long the report took to come after the key (None if not within 15 s), the screen last."""
    tmux = Tmux(_loadgen_command("-t2", "-c4", "-d60s", "-R2000", "--tui", server.url()))
    try:
        if not wait_for(lambda: "p99" in tmux.screen(), timeout=20, interval=0.2):
            return None, None, tmux.screen()
        view = tmux.screen()
        pressed = time.monotonic()
        tmux.press("C-c")
        reported = wait_for(lambda: "Requests/sec:" in tmux.screen(), timeout=15, interval=0.2)
        return view, time.monotonic() - pressed if reported else None, tmux.screen()
    finally:
        tmux.close()


def test_ctrl_c_leaves_the_view_and_prints_the_report(terminals: dict[str, Future[Any]]) -> None:
    view, took_s, after = terminals["test_ctrl_c_leaves_the_view_and_prints_the_report"].result()
    assert view is not None, after
    assert "asked 2,000" in view  # -R: the rate asked beside the rate achieved
    assert took_s is not None, after
    assert took_s < 15  # not the 60 s asked
    assert "loadgen --tui" not in after and "Running 1m test @ " in after


def _terminal_output(command: list[str], timeout_s: float = 60, stderr: bool = False) -> str:
    """All that ``command`` writes on a terminal of its own (a pty, 130x50), until it exits (``stderr``:
    its stderr too, as on a user's terminal)."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 130, 0, 0))
    run = subprocess.Popen(command, stdout=secondary, stderr=secondary if stderr else subprocess.DEVNULL, cwd=ROOT)
    os.close(secondary)
    chunks: list[bytes] = []
    try:
        while select.select([primary], [], [], timeout_s)[0]:
            try:
                chunk = os.read(primary, 1 << 16)
            except OSError:  # EIO: the command has exited and closed its terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        run.wait(timeout=timeout_s)
    finally:
        run.kill()
        run.wait()
        os.close(primary)
    return b"".join(chunks).decode(errors="replace")


def test_tui_last_frame_is_the_runs_end(terminals: dict[str, Future[Any]]) -> None:
    """The view draws each second once it has ended, a second behind the run: its last frame, before
    it leaves the screen, is the run's end (its final second and totals), not the second before.
    Each worker's req/s there is its rate in that final second, as the headline's is the run's: the
    rows add up to the headline (they read 0.0 when the final frame knew no worker's last second)."""
    output, path = terminals["test_tui_last_frame_is_the_runs_end"].result()
    view, left, _ = output.rpartition("\x1b[?1049l")  # the alternate screen left: the report follows
    assert left, output[-2000:]
    counts = re.findall(r"requests ([\d,]+)   errors", view)
    assert counts, view[-2000:]
    assert int(counts[-1].replace(",", "")) == loadgen.from_json(path.read_text()).requests
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", view)
    last_frame = plain[plain.rindex("Requests/sec ") :]
    headline = re.match(r"Requests/sec ([\d,.]+) in second 2 ", last_frame)
    rows = re.findall(r"│  ([01]) +\S+ +\d+% +\d+% +([\d,.]+) ", last_frame)
    assert headline and [index for index, _ in rows] == ["0", "1"], last_frame
    rates = [float(rate.replace(",", "")) for _, rate in rows]
    assert all(rate > 0 for rate in rates), last_frame
    assert sum(rates) == pytest.approx(float(headline[1].replace(",", "")), rel=0.15), last_frame


def test_a_workers_warning_is_shown_once_after_the_view(terminals: dict[str, Future[Any]]) -> None:
    """Was: each worker wrote its warning on the terminal as it came, over the view, once per worker."""
    output, script = terminals["test_a_workers_warning_is_shown_once_after_the_view"].result()
    view, left, after = output.rpartition("\x1b[?1049l")  # the alternate screen left: the report follows
    assert left and "careful" not in view, view[-2000:]
    assert after.count("UserWarning: careful") == 1, after
    assert f"{script}:3: UserWarning: careful (from 2 workers)" in after, after


def test_tui_gives_the_terminal_back_when_the_run_raises_after_the_view_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    """The view closes itself at the run's end (TuiView.end); a run that raises after it opened never gets there,
    and the command's ``Watching.running()`` closes it, leaving the alternate screen: else the error's line and the
    shell came on a screen the terminal then dropped. In-process, on a pty: no run."""
    import pty

    from loadgen.commands.run import Output
    from loadgen.commands.watching import Watching

    primary, secondary = pty.openpty()
    written: list[bytes] = []

    def drain() -> None:  # a full pty buffer would block the view's writes
        while select.select([primary], [], [], 5)[0]:
            try:
                chunk = os.read(primary, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            written.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        with os.fdopen(secondary, "w") as terminal:
            monkeypatch.setattr(sys, "stdout", terminal)
            watching = Watching(Output(tui=True))
            assert watching.tui is not None
            watching.tui.start(loadgen.Settings(url="http://127.0.0.1:9/"))
            with pytest.raises(RuntimeError, match="the run failed"), watching.running():
                watching.started()
                raise RuntimeError("the run failed")
            assert watching.tui.live is None
    finally:
        reader.join(timeout=10)
        os.close(primary)
    output = b"".join(written)
    assert b"\x1b[?1049h" in output, output[-500:]  # the view took the screen...
    assert output.rindex(b"\x1b[?1049l") > output.rindex(b"\x1b[?1049h"), output[-500:]  # ...and gave it back


def test_tui_is_refused_without_a_terminal(server: TestServer) -> None:
    done, with_json = run_loadgen_together(
        ("-d1s", "--tui", server.url()),
        ("-d1s", "--tui", "--json", "-", server.url()),  # the view would draw on stderr
    )
    assert done.returncode == 1
    assert done.stderr_lines == ["loadgen: --tui draws on the terminal, and stdout is not one"]
    assert done.stdout == ""
    assert with_json.returncode == 1 and with_json.stdout == ""
    assert with_json.stderr_lines == [
        "loadgen: --tui draws on the terminal, and stderr (stdout carries the JSON) is not one"
    ]


# -- --metrics-listen -------------------------------------------------------------------------------


class Prometheus:
    """A real Prometheus server on 127.0.0.1 scraping one target every second: a port held bound (not listening)
    until :meth:`release_target` lets the run that serves the metrics take it."""

    def __init__(self, folder: Path, binary: str) -> None:
        self.target = socket.socket()
        self.target.bind(("127.0.0.1", 0))
        self.target_port = self.target.getsockname()[1]
        config = folder / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: loadgen\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{self.target_port}']\n"
        )
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_scraping(self) -> None:
        assert wait_for(self._ready, timeout=30, interval=0.2), "prometheus did not get ready"
        # Prometheus hands new targets to its scrapers at most every 5 s: wait for the first
        # scrape (of nothing yet), so that the run's seconds are all scraped
        assert wait_for(self._scraping, timeout=30, interval=0.2), "prometheus did not start scraping"

    def release_target(self) -> int:
        """The target's port, free for the run to listen on."""
        self.target.close()
        return self.target_port

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def _scraping(self) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/targets", timeout=5) as answer:
            targets = json.load(answer)["data"]["activeTargets"]
        return any(not target["lastScrape"].startswith("0001") for target in targets)

    def query(self, expression: str) -> list[dict[str, object]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(url, timeout=5) as answer:
            document = json.load(answer)
        assert document["status"] == "success", document
        return list(document["data"]["result"])

    def value(self, expression: str) -> float:
        found = self.query(expression)
        assert len(found) == 1, (expression, found)
        return float(found[0]["value"][1])  # type: ignore[index]

    def close(self) -> None:
        self.target.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module", autouse=True)
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus | None]:
    """A real Prometheus, started with the module (None without one): the 5 s or so it takes to scrape its first
    target pass while the module's other tests run, not in the test that needs it."""
    binary = shutil.which("prometheus")
    if binary is None:
        yield None
        return
    started = Prometheus(tmp_path_factory.mktemp("prometheus"), binary)
    try:
        yield started
    finally:
        started.close()


def _exposition(url: str, accept: str = "text/plain") -> str | None:
    try:
        request = urllib.request.Request(url, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=2) as answer:
            return str(answer.read().decode())
    except OSError:
        return None


@pytest.mark.slow
def test_prometheus_scrapes_the_run(tmp_path: Path, prometheus: Prometheus | None) -> None:
    if prometheus is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus); .ci/run installs it")
    prometheus.wait_scraping()
    port = prometheus.release_target()
    with TestServer() as target:
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loadgen",
                "-t2",
                "-c8",
                "-d3s",  # two scrapes of 1 s inside the run at least
                "--metrics-listen",
                f"127.0.0.1:{port}",
                "--metrics-linger",
                "3s",  # three scrape intervals: one at least sees the final figures on a busy machine
                "--json",
                str(tmp_path / "result.json"),
                target.url("/delay?ms=2"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        texts: list[str] = []
        assert wait_for(lambda: bool(texts.append(_exposition(f"http://127.0.0.1:{port}/metrics") or "") or texts[-1]))
        _, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    assert "Traceback" not in stderr
    result = loadgen.from_json((tmp_path / "result.json").read_text())

    # the exposition, as a plain client gets it mid-run, passes promtool's checks
    promtool = shutil.which("promtool")
    if promtool is not None:
        check = subprocess.run([promtool, "check", "metrics"], input=texts[-1], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr + check.stdout

    assert prometheus.value('max_over_time(up{job="loadgen"}[2m])') == 1  # the OpenMetrics scrapes succeeded
    assert prometheus.value("max_over_time(loadgen_requests_total[2m])") == result.requests
    assert prometheus.value('max_over_time(loadgen_responses_total{code="200"}[2m])') == result.requests
    assert prometheus.value('max_over_time(loadgen_errors_total{kind="read"}[2m])') == result.errors.read
    # seen during the run, not only at the end
    (series,) = prometheus.query("loadgen_requests_total[2m]")  # every sample scraped
    samples = [float(value) for _, value in series["values"]]  # type: ignore[attr-defined]
    assert any(0 < value < result.requests for value in samples), samples

    p99_s = prometheus.value("histogram_quantile(0.99, max_over_time(loadgen_latency_seconds_bucket[2m]))")
    reported_s = result.latency_uncorrected.percentile(99) / 1e6
    bounds = (0.0, *BUCKETS_S, float("inf"))
    bucket = next(i for i in range(1, len(bounds)) if reported_s <= bounds[i])
    assert bounds[bucket - 1] <= p99_s <= bounds[bucket], (p99_s, reported_s)
    workers = prometheus.query("max_over_time(loadgen_worker_cpu_seconds_total[2m])")
    assert sorted(series["metric"]["worker"] for series in workers) == ["0", "1"]  # type: ignore[index]


def test_metrics_endpoint_faults_are_one_line(server: TestServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        nowhere, in_use, linger, interval = run_loadgen_together(
            ("-d1s", "--metrics-listen", "nowhere", server.url()),
            ("-d1s", "--metrics-listen", f"127.0.0.1:{port}", server.url()),
            ("-d1s", "--metrics-linger", "2s", server.url()),  # it would linger nothing
            ("-d1s", "--export-interval", "1s", server.url()),  # it would push nothing (1s: the default)
        )
    assert nowhere.returncode == 1
    assert nowhere.stderr_lines == ["loadgen: --metrics-listen: 'nowhere' is not HOST:PORT"]
    assert in_use.returncode == 1
    assert in_use.stderr_lines == [f"loadgen: --metrics-listen 127.0.0.1:{port}: Address already in use"]
    assert linger.returncode == 1
    assert linger.stderr_lines == ["loadgen: --metrics-linger is --metrics-listen's: give --metrics-listen too"]
    assert interval.returncode == 1
    assert interval.stderr_lines == ["loadgen: --export-interval is --otlp-endpoint's: give --otlp-endpoint too"]


def test_a_scrape_that_comes_in_pieces_is_answered_by_its_whole_head() -> None:
    """A scraper's request may come in more than one read (a slow client, a proxy): the endpoint reads to the
    blank line that ends its head, and answers by its Accept (Prometheus asks for OpenMetrics)."""
    metrics = loadgen.PrometheusExporter(port=0)
    try:
        metrics.start(loadgen.Settings(url="http://127.0.0.1:9/"))
        with socket.create_connection(("127.0.0.1", metrics.port), timeout=5) as scraper:
            scraper.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            time.sleep(0.2)
            scraper.sendall(b"Accept: application/openmetrics-text; version=1.0.0\r\n\r\n")
            answer = b"".join(iter(lambda: scraper.recv(65536), b""))
    finally:
        metrics.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nContent-Type: application/openmetrics-text;" in head
    assert body.endswith(b"\n# EOF\n")


def test_a_scraper_that_says_nothing_does_not_hold_the_end() -> None:
    """A connection that sends no request waits for it in a thread of its own, for 5 s: closing the
    endpoint (the run's end, or its linger's) does not wait for that thread, nor does the process's exit."""
    metrics = loadgen.PrometheusExporter(port=0)
    metrics.start(loadgen.Settings(url="http://127.0.0.1:9/"))
    with socket.create_connection(("127.0.0.1", metrics.port), timeout=5):
        time.sleep(0.3)  # accepted: its thread reads
        started = time.monotonic()
        metrics.close()
        assert time.monotonic() - started < 2.5


def test_the_final_figures_are_served_for_the_linger_then_no_more() -> None:
    """README: /metrics serves until the run ends and --metrics-linger longer; the command waits for it."""
    settings = loadgen.Settings(url="http://127.0.0.1:9/")
    metrics = loadgen.PrometheusExporter(port=0, linger=0.5)
    metrics.start(settings)
    started = time.monotonic()
    metrics.end(loadgen.LiveSecond.before(settings))
    assert _exposition(metrics.url) is not None
    metrics.wait()
    assert 0.5 <= time.monotonic() - started < 3 and _exposition(metrics.url) is None


def test_metrics_listen_takes_an_empty_host_as_every_interface() -> None:
    """``:9464``, the exporters' usual form: the empty host that binds every IPv4 interface (parsed
    only: the tests bind loopback alone)."""
    from loadgen.export.prometheus import parse_listen

    assert parse_listen(":9464") == ("", 9464)
    assert parse_listen("[::1]:0") == ("::1", 0)
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        parse_listen("9464")
    for unbracketed in ("::1:9464", "[::1:0", "::1]:0"):  # bound [::1]:9464 and [::1]:0, silently
        with pytest.raises(ValueError, match=r"an IPv6 address goes in brackets, as \[::1\]:9464"):
            parse_listen(unbracketed)
    for port in ("\u00b2", "\u0661\u0662"):  # digits to str.isdigit(): int() refused '²', took '١٢' as 12
        with pytest.raises(ValueError, match="is not HOST:PORT"):
            parse_listen(f"127.0.0.1:{port}")
    assert parse_listen("127.0.0.1:65535") == ("127.0.0.1", 65535)
    for port, quoted in (("65536", "65536'"), ("99999", "99999'"), ("9" * 5000, f"{'9' * 74}'...")):
        with pytest.raises(ValueError) as raised:  # out of range, not of the form: was "is not HOST:PORT"
            parse_listen(f"[::1]:{port}")
        # 5,000 digits quoted in part (80 characters): it was quoted whole
        assert str(raised.value) == f"'[::1]:{quoted}: the port is 0-65535 (0: a free one)"


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _announced_and_scraped(server: TestServer, host: str) -> tuple[str, bool, int, str]:
    """A run with ``--metrics-listen HOST:0``: the line it announced its endpoint with, whether that endpoint served
    the run's figures, its exit code and its stderr after that line."""
    run = subprocess.Popen(
        # --metrics-linger 0s, the default, given: taken (>= 0), and no linger said
        [
            sys.executable,
            "-m",
            "loadgen",
            "-d2s",
            "-c2",
            "--metrics-listen",
            f"{host}:0",
            "--metrics-linger",
            "0s",
            server.url(),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        line = run.stderr.readline().rstrip("\n")  # type: ignore[union-attr]
        announced = re.fullmatch(rf"loadgen: metrics at (http://{re.escape(host)}:(\d+)/metrics)", line)
        scraped = bool(announced) and wait_for(
            lambda: "loadgen_requests_total" in (_exposition(announced.group(1)) or "")  # type: ignore[union-attr]
        )
        _, stderr = run.communicate(timeout=60)
        return line, scraped, run.returncode, stderr
    finally:
        run.kill()
        run.wait()


@pytest.fixture(scope="module")
def chosen_ports(request: pytest.FixtureRequest, server: TestServer) -> dict[str, Future[tuple[str, bool, int, str]]]:
    """Every selected case's run of the test below (on a host this machine has), a few at once."""
    return each_selected(
        request,
        "test_metrics_on_a_port_the_system_chose_says_where",
        lambda host: _announced_and_scraped(server, host) if host != "[::1]" or _ipv6_loopback() else None,
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
def test_metrics_on_a_port_the_system_chose_says_where(
    chosen_ports: dict[str, Future[tuple[str, bool, int, str]]], request: pytest.FixtureRequest, host: str
) -> None:
    """``--metrics-listen HOST:0``: the one place to learn the port is the line loadgen writes, a
    URL as it is typed (an IPv6 host in brackets)."""
    if host == "[::1]" and not _ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    line, scraped, returncode, stderr = chosen_ports[request.node.callspec.id].result()
    announced = re.fullmatch(rf"loadgen: metrics at (http://{re.escape(host)}:(\d+)/metrics)", line)
    assert announced and int(announced.group(2)) > 0, line
    assert scraped
    assert returncode == 0 and "Traceback" not in stderr and "serving the final figures" not in stderr, stderr


@pytest.mark.parametrize("during", ["the linger", "the run"])
def test_a_stop_signal_ends_the_command_with_the_runs_exit_code(server: TestServer, during: str) -> None:
    """SIGTERM while the final figures linger, which a line says, ends it as it ends a run (it killed the command: 143).
    SIGTERM in mid-run asked loadgen to end: the report, then the exit, with no linger (it lingered
    the whole minute asked after the report, until a second signal)."""
    duration = "1s" if during == "the linger" else "30s"
    watched = ["--metrics-listen", "127.0.0.1:0", "--metrics-linger", "1m"]
    run = subprocess.Popen(
        [sys.executable, "-m", "loadgen", f"-d{duration}", *watched, server.url()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        url = run.stderr.readline().rstrip("\n").removeprefix("loadgen: metrics at ")  # type: ignore[union-attr]
        assert run.stdout.readline().startswith(f"Running {duration} test")  # type: ignore[union-attr]
        # the linger said, or the command seemed to hang after its report; none after a run stopped
        lingered = f"loadgen: serving the final figures at {url} for 1m more (--metrics-linger; Ctrl-C ends it)\n"
        if during == "the linger":
            # its line, not the report's "Transfer/sec": a signal during the rest of the report (the
            # run's own lines, done()) asks loadgen to end before any linger, with no line (3 of 6 at load 30)
            said = run.stderr.readline()  # type: ignore[union-attr]
            assert said == lingered and _exposition(url) is not None, said
        run.send_signal(signal.SIGTERM)
        stdout, stderr = run.communicate(timeout=30)  # not the minute asked
        assert run.returncode == 0, stderr
        assert stderr == "" and _exposition(url) is None
        assert "Transfer/sec" in stdout  # the report of what ran
    finally:
        run.kill()
        run.wait()


# -- --otlp-endpoint ----------------------------------------------------------------------------------


def _pushed(server: TestServer, folder: Path) -> tuple[Completed, Path, Any]:
    """A 3 s run pushing to a receiver every 500 ms: the command, its JSON, the receiver once it ended."""
    from tests.otlp_receiver import OtlpReceiver

    with OtlpReceiver() as receiver:
        out = folder / "pushed.json"
        interval = ("--export-interval", "500ms")
        otlp = ("--otlp-endpoint", receiver.endpoint, *interval, "--json", str(out), server.url("/status/202"))
        return run_loadgen("-t2", "-c4", "-d3s", *otlp), out, receiver


@pytest.mark.slow
def test_otlp_push_reaches_a_receiver(terminals: dict[str, Future[Any]], server: TestServer) -> None:
    done, out, receiver = terminals["test_otlp_push_reaches_a_receiver"].result()
    assert done.returncode == 0, done.stderr
    assert done.stderr_lines == []
    result = loadgen.from_json(out.read_text())
    requests = receiver.points("loadgen.requests")
    assert len(requests) >= 3  # pushed during the run, and once more at its end
    resource, _, last = requests[-1]
    assert last == result.requests
    # pushed from the start, zeros until the first second ended, as Prometheus scrapes them (nothing was pushed
    # until then, and the SDK dated the counter's start at that first push); and only by the run's own process
    # (its workers, forked with the SDK's reader, pushed their copy of the zeros every interval)
    counts = [value for _, _, value in requests]
    assert counts[0] == 0 and any(0 < value < result.requests for value in counts) and counts == sorted(counts)
    assert resource["loadgen.url"] == server.url("/status/202")
    assert resource["loadgen.threads"] == 2 and resource["loadgen.connections"] == 4
    responses = receiver.points("loadgen.responses")
    assert responses[-1][1] == {"http.response.status_code": 202} and responses[-1][2] == result.requests
    points = _last_points(receiver)
    final_second = {
        key: points.pop(key) for key in list(points) if key[0] in ("loadgen.rate.achieved", "loadgen.worker.busy")
    }
    assert points == _final_points(result)
    busy = {("loadgen.worker.busy", f"host={socket.gethostname()},worker={index}") for index in (0, 1)}
    assert set(final_second) == {("loadgen.rate.achieved", ""), *busy}  # the final second's own figures


def _last_points(receiver: OtlpReceiver) -> dict[tuple[str, str], float]:
    """The last value pushed of each instrument's each series (by its attributes, in order of name)."""
    names = ["loadgen.requests", "loadgen.responses", "loadgen.errors", "loadgen.received", "loadgen.latency.sum"]
    names += ["loadgen.latency.count", "loadgen.latency", "loadgen.rate.achieved", "loadgen.rate.asked"]
    names += ["loadgen.connections.open", "loadgen.connections.opened", "loadgen.worker.cpu.time"]
    names += ["loadgen.worker.busy", "loadgen.workers.behind", "loadgen.worker.lost_requests"]
    return {
        (name, ",".join(f"{key}={value}" for key, value in sorted(attributes.items()))): value
        for name in names
        for _, attributes, value in receiver.points(name)
    }


def _final_points(result: loadgen.Result) -> dict[tuple[str, str], float]:
    """What the README says the final push carries after a closed-loop run of one status code: the result's
    figures, the latency as latency_uncorrected's (its percentiles, count and sum)."""
    latency = result.latency_uncorrected
    ((status, responses),) = result.status_counts.items()
    percentiles = [("50", 50.0), ("90", 90.0), ("99", 99.0), ("max", 100.0)]
    return {
        ("loadgen.requests", ""): result.requests,
        ("loadgen.responses", f"http.response.status_code={status}"): responses,
        **{("loadgen.errors", f"error.type={kind}"): getattr(result.errors, kind) for kind in ErrorKind},
        ("loadgen.received", ""): result.bytes,
        ("loadgen.latency.sum", ""): sum(us * n for us, n in latency.bins) / 1e6,
        ("loadgen.latency.count", ""): latency.count,
        **{("loadgen.latency", f"percentile={name}"): latency.percentile(p) / 1e6 for name, p in percentiles},
        ("loadgen.connections.open", ""): 0,
        ("loadgen.connections.opened", ""): result.connections_opened,
        **{
            ("loadgen.worker.cpu.time", f"host={socket.gethostname()},worker={index}"): worker.cpu_s
            for index, worker in enumerate(result.client_cpu.workers)
        },
        ("loadgen.workers.behind", ""): 0,
    }


def test_otlp_receiver_gone_is_one_line(terminals: dict[str, Future[Any]]) -> None:
    done = terminals["test_otlp_receiver_gone_is_one_line"].result()
    assert done.returncode == 0  # the run measured what it measured: the export is a warning
    assert [line for line in done.stderr_lines if "OTLP" in line] == [
        line for line in done.stderr_lines if line.startswith("loadgen: warning: the OTLP export: ")
    ]
    assert len(done.stderr_lines) == 1
    assert "Requests/sec:" in done.stdout


class _EndClock:
    """An exporter that notes when the run's end reaches it: put before another, the other's end
    takes from then to the run's return."""

    def __init__(self) -> None:
        self.ended = 0.0

    def start(self, settings: loadgen.Settings) -> None:
        pass

    def second(self, live: loadgen.LiveSecond) -> None:
        pass

    def end(self, live: loadgen.LiveSecond) -> None:
        self.ended = time.monotonic()


class _RunOf(threading.local):
    """Which of :func:`api_runs`'s runs this thread runs (none: a thread of no run)."""

    name: str | None = None


@pytest.fixture(scope="module")
def api_runs(server: TestServer, workers: loadgen.Workers) -> dict[str, Future[Any]]:
    """The module's API runs that share the machine well (a few connections each, most waiting on their server,
    their schedule or their receiver; none killed, none timed against a worker), at once, by test, each test taking
    its own (what its run raised is raised there): each takes its own time, all of them the longest's (the silent
    receiver's 4 s run and its end), not their sum (22 s). Each run's warnings are kept with it, by the thread that
    raised them (``pytest.warns`` takes every thread's); under ``"elsewhere"``, those of no run's thread."""
    calls: dict[str, Callable[[], Any]] = {
        "each second": lambda: _each_second_then_the_final_one(server, workers),
        "latency sum": lambda: _latency_sums(server, workers),
        "stages": lambda: _stages_in_every_view(server, workers),
        "error statuses": lambda: _error_statuses_in_every_view(server, workers),
        "warm-up": lambda: _warm_up_in_every_view(server, workers),
        "no latency": lambda: _timeouts_in_every_view(server, workers),
        "silent receiver": lambda: _end_held_by_a_silent_receiver(server, workers),
        **{callback: partial(_failing, callback, server, workers) for callback in ("on_second", "on_progress")},
    }
    run_of = _RunOf()
    warned: dict[str | None, list[warnings.WarningMessage]] = defaultdict(list)

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, *_: object) -> None:
        warned[run_of.name].append(warnings.WarningMessage(message, category, filename, lineno))

    def run(name: str, call: Callable[[], Any]) -> tuple[Any, list[warnings.WarningMessage]]:
        run_of.name = name
        try:
            return call(), warned[name]
        finally:
            run_of.name = None

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        with ThreadPoolExecutor(len(calls)) as pool:
            runs = {name: pool.submit(run, name, call) for name, call in calls.items()}
    elsewhere: Future[Any] = Future()
    elsewhere.set_result(warned[None])
    return {**runs, "elsewhere": elsewhere}


def _warned(api_runs: dict[str, Future[Any]], name: str) -> tuple[Any, list[str]]:
    """What the run ``name`` returned and the messages of the warnings it raised, each a RuntimeWarning (as
    ``pytest.warns(RuntimeWarning)`` checks), none raised off the runs' threads."""
    returned, warned = api_runs[name].result()
    assert all(issubclass(warning.category, RuntimeWarning) for warning in warned), warned
    assert api_runs["elsewhere"].result() == []
    return returned, [str(warning.message) for warning in warned]


def _end_held_by_a_silent_receiver(server: TestServer, workers: loadgen.Workers) -> float:
    """How long the end of a 4 s run took with an OTLP exporter (0.2 s interval) to a receiver that never answers."""
    from tests.otlp_receiver import SilentReceiver

    clock = _EndClock()
    with SilentReceiver() as receiver:
        otlp = loadgen.OtlpExporter(receiver.endpoint, interval=0.2)
        loadgen.run(server.url(), threads=1, connections=2, duration=4, exporters=[clock, otlp], workers=workers)
        return time.monotonic() - clock.ended


def test_otlp_receiver_that_never_answers_holds_the_end_two_seconds_at_most(api_runs: dict[str, Future[Any]]) -> None:
    """An export waits 2 s for its answer, so at a 0.2 s interval each one held the next ten back:
    the line counts them. The first export goes as the run starts (its zeros), the second about
    2.2 s later: in flight when a 4 s run ends. The end waits for it and the final one 2 s at most
    (it waited for both in full: 3.2 to 3.6 s). README: about two seconds at the end."""
    ending, warned = _warned(api_runs, "silent receiver")
    assert 1.5 < ending < 2.5
    [message] = warned
    counted = re.fullmatch(
        r"the OTLP export: (\d+) of (\d+) exports due to \S+/v1/metrics failed or were not sent: "
        r"(\d+) failed, (\d+) fell due while another waited for the receiver",
        message,
    )
    assert counted, message
    lost, due, failed, held = map(int, counted.groups())
    assert lost == due == failed + held
    assert failed >= 2 and held >= 5, message


def test_otlp_receiver_that_refuses_costs_the_end_no_retry(server: TestServer, workers: loadgen.Workers) -> None:
    """Nothing listens on the endpoint's port: each export fails at once, the final one too, and
    the end does not wait: 4-6 ms measured (the SDK tried a refused export again after a backoff
    of 0.8-1.2 s, and the end waited for the export in flight and the final one: 0.86-1.2 s)."""
    clock = _EndClock()
    with pytest.warns(RuntimeWarning) as warned:
        otlp = loadgen.OtlpExporter(f"http://127.0.0.1:{free_port()}", interval=0.2)
        loadgen.run(server.url(), threads=1, connections=2, duration=1, exporters=[clock, otlp], workers=workers)
        returned = time.monotonic()
    assert returned - clock.ended < 0.5
    [message] = [str(warning.message) for warning in warned]
    assert re.fullmatch(r"the OTLP export: (\d+) of \1 exports to \S+/v1/metrics failed", message), message


@pytest.mark.parametrize(
    ("endpoint", "why"),
    [
        ("ftp://127.0.0.1:4318", "is not an http:// or https:// URL"),
        # each push would fail, said only after the run
        ("http://127.0.0.1:99999/", "names no host, or a port that is not 1-65535"),
        ("http://127.0.0.1:0/", "names no host, or a port that is not 1-65535"),  # no receiver listens on port 0
        ("http://:4318/", "names no host, or a port that is not 1-65535"),
        ("http://", "names no host, or a port that is not 1-65535"),  # an http:// URL, without a host
    ],
)
def test_otlp_endpoint_must_be_a_url(server: TestServer, endpoint: str, why: str) -> None:
    # beside --metrics-listen on a port the system chose: its "loadgen: metrics at URL" came first (never served)
    done = run_loadgen("-d1s", "--metrics-listen", "127.0.0.1:0", "--otlp-endpoint", endpoint, server.url())
    assert done.returncode == 1
    assert done.stderr_lines == [f"loadgen: --otlp-endpoint: {endpoint!r} {why}"]


# -- the API -----------------------------------------------------------------------------------------


def _each_second_then_the_final_one(
    server: TestServer, workers: loadgen.Workers
) -> tuple[loadgen.Result, list[loadgen.LiveSecond], str | None]:
    """A 3.5 s run's result, the seconds its callback was given, and its Prometheus exposition after it."""
    seconds: list[loadgen.LiveSecond] = []
    metrics = loadgen.PrometheusExporter(port=0, linger=30)
    try:
        result = loadgen.run(
            server.url(),
            threads=2,
            connections=4,
            duration=3.5,
            on_second=seconds.append,
            exporters=[metrics],
            workers=workers,
        )
        return result, seconds, _exposition(metrics.url)
    finally:
        metrics.close()


def test_api_gives_each_second_then_the_final_one(api_runs: dict[str, Future[Any]]) -> None:
    result, seconds, text = api_runs["each second"].result()[0]
    assert [live.second for live in seconds[:-1]] == [0, 1, 2]
    assert [live.final for live in seconds] == [False, False, False, True]
    final = seconds[-1]
    assert final.requests == result.requests
    assert final.history == tuple(second.requests for second in result.timeline)
    for before, after in itertools.pairwise(seconds[:-1]):
        assert after.requests == before.requests + after.interval.requests
    # the counts so far are the seconds' so far, from the first
    assert [live.requests for live in seconds] == [sum(live.history) for live in seconds]
    running = seconds[:-1]
    assert [live.bytes for live in running] == list(itertools.accumulate(live.interval.bytes for live in running))
    assert seconds[1].interval.requests == result.timeline[1].requests  # the same second the timeline has
    assert seconds[1].interval.error_reasons == result.timeline[1].interval.error_reasons is not None
    assert repr(final) == (  # the dataclass's held the latency histogram so far: 8.6 kB
        f"<loadgen.LiveSecond {final.second} (final): {final.interval.requests:,} requests, "
        f"{final.requests_per_sec:,.1f} req/s, {final.requests:,} so far>"
    )
    assert all(len(live.workers) == 2 for live in seconds)
    # each worker's rate in the final second is over its own last span, which began on a whole second or
    # later (a second a held worker closed late ends then) and ended by the window's: at most the timeline's
    # end less `second` seconds (plus a µs per second, each duration floored), so together the workers'
    # rates are at least the final second's requests over that (a rate over a whole second, not the span,
    # read half). Not the final second's rate: its span begins when the latest worker closed its second
    # before (measurement._sum_timelines), shorter than every worker's own after one closed it late (the sum
    # read 7,156.8 against 7,651.7 at load 30); nor each worker above 0: one held off its CPU, or whose
    # server was, through its last span completed nothing in it (held stopped: 0 requests in 590,713 µs)
    span_us = sum(second.duration_us for second in result.measured.timeline) - final.second * 1_000_000
    span_us += len(result.measured.timeline)
    assert sum(worker.requests_per_sec for worker in final.workers) >= final.interval.requests / (span_us / 1e6)
    assert text is not None
    assert _samples(text) == _samples(exposition(final)) == _final_samples(result, final)  # the same in either format
    openmetrics = exposition(final)  # a unit in the family's name is said in a UNIT line, as OpenMetrics says
    units = [name for name in re.findall(r"^# TYPE (\w+) ", openmetrics, re.M) if name.endswith(("_seconds", "_bytes"))]
    assert re.findall(r"^# UNIT (\w+) (\w+)$", openmetrics, re.M) == [(name, name.rsplit("_", 1)[1]) for name in units]


def _at_most(latency: loadgen.Distribution, bound_s: float) -> int:
    return sum(count for us, count in latency.bins if us <= round(bound_s * 1e6))


def _samples(text: str) -> dict[str, float]:
    """An exposition's samples: the name with its labels, and the value."""
    return {name: float(value) for name, value in re.findall(r"^(\w+(?:\{[^}]*\})?) (\S+)$", text, re.M)}


def _final_samples(result: loadgen.Result, final: loadgen.LiveSecond) -> dict[str, float]:
    """What the README says the endpoint serves after a closed-loop run: the result's figures (the latency as
    latency_uncorrected's, each bucket the latencies at or below its bound), each worker's CPU time as the result
    has it and how busy it was in the final second."""
    latency = result.latency_uncorrected
    run = result.runs[0]
    expected = {
        f'loadgen_run_info{{url="{run.url}",threads="{run.threads}",connections="{run.connections}",'
        f'duration="{run.duration:g}",rate=""}}': 1,
        "loadgen_elapsed_seconds": result.runtime_us / 1e6,
        "loadgen_requests_total": result.requests,
        **{f'loadgen_responses_total{{code="{code}"}}': count for code, count in result.status_counts.items()},
        **{f'loadgen_errors_total{{kind="{kind}"}}': getattr(result.errors, kind) for kind in ErrorKind},
        "loadgen_received_bytes_total": result.bytes,
        **{f'loadgen_latency_seconds_bucket{{le="{bound!r}"}}': _at_most(latency, bound) for bound in BUCKETS_S},
        'loadgen_latency_seconds_bucket{le="+Inf"}': latency.count,
        "loadgen_latency_seconds_count": latency.count,
        "loadgen_latency_seconds_sum": sum(us * n for us, n in latency.bins) / 1e6,
        "loadgen_achieved_rate": final.requests_per_sec,
        "loadgen_connections_open": 0,
        "loadgen_connections_opened_total": result.connections_opened,
        "loadgen_workers_behind": 0,
    }
    for cpu, worker in zip(result.client_cpu.workers, final.workers, strict=True):
        labels = f'{{worker="{worker.index}",host="{worker.host}"}}'
        expected[f"loadgen_worker_cpu_seconds_total{labels}"] = cpu.cpu_s
        expected[f"loadgen_worker_busy_ratio{labels}"] = worker.busy
    return expected


def test_bucket_bounds_are_canonical_numbers_in_both_formats(api_runs: dict[str, Future[Any]]) -> None:
    """OpenMetrics says an "le" MUST be a canonical number, Go's %g with ".0" when it has neither a point
    nor an exponent: the exposition's were le="1", "2", "5", "10" (the classic format's the same, so that
    a series is one whichever format a scraper asks for)."""
    _, seconds, text = api_runs["each second"].result()[0]
    canonical = ["0.0001", "0.0002", "0.0005", "0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1"]
    canonical += ["0.2", "0.5", "1.0", "2.0", "5.0", "10.0", "+Inf"]
    assert text is not None
    for body in (exposition(seconds[-1], openmetrics=True), text):
        assert re.findall(r'^loadgen_latency_seconds_bucket\{le="([^"]+)"\} ', body, re.M) == canonical, body


def _latency_sums(server: TestServer, workers: loadgen.Workers) -> tuple[loadgen.Result, list[loadgen.LiveSecond]]:
    seconds: list[loadgen.LiveSecond] = []
    result = loadgen.run(
        server.url("/delay?ms=2"), threads=2, connections=4, duration=2.5, on_second=seconds.append, workers=workers
    )
    return result, seconds


def test_the_latency_sum_never_goes_down_into_the_final_second(api_runs: dict[str, Future[Any]]) -> None:
    """Each second's sum of the latencies so far is exact: from the three-digit histogram it was
    rounded up, and the final one, exact, went down (Prometheus saw a counter reset at the end)."""
    result, seconds = api_runs["latency sum"].result()[0]
    exact = list(itertools.accumulate(sum(v * n for v, n in live.interval.latency.items()) for live in seconds[:-1]))
    assert [live.latency_sum_us for live in seconds[:-1]] == exact
    # and the latencies so far are each second's, added up, to three significant digits
    so_far = itertools.accumulate((live.interval.latency for live in seconds[:-1]), add_counts, initial={})
    assert [live.latency for live in seconds[:-1]] == [coarse(latency) for latency in list(so_far)[1:]]
    sums = [live.latency_sum_us for live in seconds]
    assert sums == sorted(sums)
    assert sums[-1] == sum(value * count for value, count in result.measured.latency.items())


def _stages_in_every_view(
    server: TestServer, workers: loadgen.Workers
) -> tuple[loadgen.Result, list[loadgen.LiveSecond], str | None, list[Any]]:
    """A run of --stages 1s:100,2s:100: its result, its seconds, its Prometheus exposition and its OTLP points
    of the asked rate."""
    from tests.otlp_receiver import OtlpReceiver

    seconds: list[loadgen.LiveSecond] = []
    metrics = loadgen.PrometheusExporter(port=0, linger=30)
    with OtlpReceiver() as receiver:
        otlp = loadgen.OtlpExporter(receiver.endpoint, interval=0.5)
        try:
            result = loadgen.run(
                server.url(),
                threads=1,
                connections=4,
                stages=((1.0, 100.0), (2.0, 100.0)),
                on_second=seconds.append,
                exporters=[metrics, otlp],
                workers=workers,
            )
            text = _exposition(metrics.url)
        finally:
            metrics.close()
        return result, seconds, text, receiver.points("loadgen.rate.asked")


def test_stages_ask_their_rate_beside_the_achieved_in_every_view(api_runs: dict[str, Future[Any]]) -> None:
    """--stages 1s:100,2s:100: the rate each second asked (50, then 100) where -R shows its own:
    the API's seconds, the --tui view, the Prometheus and the OTLP gauges; the same figure as the
    timeline's asked_per_sec."""
    from rich.console import Console

    from loadgen.report.live_view import screen

    result, seconds, text, pushed = api_runs["stages"].result()[0]
    *running, final = seconds
    # 50 and 100 in whole seconds; a first second that a held worker closed late asks over its own span
    late = running[0].interval.duration_us > 1_000_000
    assert [round(live.asked_rate or 0) for live in running[:2]] == [50, 100] or late, running[:2]
    assert [live.asked_rate for live in running] == [result.asked_per_sec(second) for second in result.timeline][
        : len(running)
    ]
    assert final.asked_rate == pytest.approx(100, rel=0.01)  # the last second, as long as it ran
    assert text is not None
    gauge = next(line for line in text.splitlines() if line.startswith("loadgen_asked_rate "))
    assert float(gauge.split()[1]) == pytest.approx(final.asked_rate)
    assert pushed and pushed[-1][2] == pytest.approx(final.asked_rate)
    console = Console(width=130, record=True, file=io.StringIO())
    console.print(screen(result.runs[0], running[0], 1.0))
    assert f"asked {running[0].asked_rate:.1f} " in console.export_text()


def test_the_view_draws_each_count_where_it_belongs(api_runs: dict[str, Future[Any]]) -> None:
    """The sparkline is the last minute's seconds, the highest a full bar: under 7 requests a second it drew
    "▅" to "▇" (a steady 5 a second "▇▇▇", below its own peak). The histogram counts a latency on a bound
    in that bound's bar, one a microsecond past it in the next, past the last bound in the last, and draws
    a bar of each count but none; the errors' five commonest causes are shown, most first."""
    from rich.console import Console

    from loadgen.report.live_view import BAR_WIDTH, HISTOGRAM_US, histogram_rows, screen, sparkline

    assert (sparkline((5,) * 3), sparkline((0, 1, 2, 3)), sparkline((0, 0))) == ("███", "▁▃▆█", "▁▁")
    history = tuple(range(100))  # the last 60: a minute
    assert sparkline(history) == sparkline(history[40:]) and len(sparkline(history)) == 60
    _, seconds, _, _ = api_runs["stages"].result()[0]
    # six causes of errors: the five commonest shown, most first
    reasons = {ErrorReason(ErrorKind.READ, Stage.EXCHANGE, f"cause {i}"): 10 + i for i in range(6)}
    live = dataclasses.replace(seconds[0], latency={100: 1, 101: 2, 1_000_001: 400}, error_reasons=reasons)
    rows = histogram_rows(live)
    assert rows[:2] == [("≤ 100us", 1), ("≤ 200us", 2)] and rows[-1] == ("> 1s", 400), rows
    assert len(rows) == len(HISTOGRAM_US) + 1 and sum(count for _, count in rows) == 403, rows
    # the longest bar BAR_WIDTH wide, a bar of a few responses one block, none where there are none
    console = Console(width=130, record=True, file=io.StringIO())
    console.print(screen(live.settings, live, 1.0))
    text = console.export_text()
    bars = [line.count("█") for line in text.splitlines() if re.search(r"[≤>] \d", line)]
    assert bars == [1, 1, *[0] * (len(rows) - 3), BAR_WIDTH], bars
    causes = re.findall(r"  (\d+) read \(exchange\): cause (\d)", text)
    assert causes == [(str(10 + i), str(i)) for i in (5, 4, 3, 2, 1)], text


def _error_statuses_in_every_view(
    server: TestServer, workers: loadgen.Workers
) -> tuple[loadgen.Result, list[loadgen.Progress], list[loadgen.LiveSecond]]:
    seen: list[loadgen.Progress] = []
    live: list[loadgen.LiveSecond] = []
    result = loadgen.run(
        server.url("/status/503"),
        threads=1,
        connections=2,
        duration=0.8,
        on_progress=seen.append,
        on_second=live.append,
        workers=workers,
    )
    return result, seen, live


def test_progress_counts_error_statuses_as_the_other_views(api_runs: dict[str, Future[Any]]) -> None:
    """A server answering 503 to everything: --progress read "0 errors" beside --tui's every response."""
    from rich.console import Console

    from loadgen.report.live_view import screen

    result, seen, live = api_runs["error statuses"].result()[0]
    assert result.requests > 0
    assert seen[-1].errors == seen[-1].requests == live[-1].error_count == result.requests
    console = Console(width=130, record=True, file=io.StringIO())
    console.print(screen(live[-1].settings, live[-1], 1.0))
    text = console.export_text()
    assert f"Status codes 503: {result.requests:,} " in text and f"Errors status {result.requests:,} " in text, text


def _warm_up_in_every_view(
    server: TestServer, workers: loadgen.Workers
) -> tuple[loadgen.Result, list[loadgen.Progress]]:
    seen: list[loadgen.Progress] = []
    result = loadgen.run(
        server.url(), threads=1, connections=2, duration=0.5, warmup=1.0, on_progress=seen.append, workers=workers
    )
    return result, seen


def test_a_warm_up_is_in_no_count_and_the_views_say_it_is_one(api_runs: dict[str, Future[Any]]) -> None:
    """--warmup 1s: on_progress counted its requests, which no figure has (the progress line's count
    then fell to 0 as the window opened, and its last line said "1.5s" above "in 0.50s"), and the
    --tui clock ran through it ("remaining 0s" through the whole measured window)."""
    from rich.console import Console

    from loadgen.report.live_view import screen
    from loadgen.report.progress import ProgressLine

    result, seen = api_runs["warm-up"].result()[0]
    assert result.requests > 0
    warming = [progress for progress in seen if progress.elapsed_s < 1.0]
    assert warming and all(progress.requests == progress.errors == 0 for progress in warming), warming
    assert seen[-1].requests == result.requests
    stream = io.StringIO()
    line = ProgressLine(stream, 1.0)
    for progress in seen:
        line.update(progress)
    lines = stream.getvalue().splitlines()
    assert lines[0].split()[1:] == ["warming", "up", "for", "1s", "(not", "measured)"], lines
    assert lines[-1].split()[:2] == [f"{seen[-1].elapsed_s - 1.0:.1f}s", str(result.requests)], lines
    # an update with requests after one in the warm-up: its rate over the time since the warm-up's end
    counted = next(progress for progress in seen if progress.requests)
    stream = io.StringIO()
    line = ProgressLine(stream, 1.0)
    line.update(warming[-1])
    line.update(counted)
    rate = counted.requests / (counted.elapsed_s - 1.0)
    assert stream.getvalue().splitlines()[1].split()[3] == f"{rate:.0f}", (stream.getvalue(), counted)
    # a worker that dies takes its 30 out of ``requests`` into ``lost``: the rate is the 50 answered each second
    # before and after it, and an update at the instant of the one before (the end's, just after a tick) reads 0
    later = [
        dataclasses.replace(counted, elapsed_s=counted.elapsed_s + s, requests=counted.requests + 50 * s - 30, lost=30)
        for s in (1, 2, 2)
    ]
    stream = io.StringIO()
    line = ProgressLine(stream, 1.0)
    for progress in (counted, *later):
        line.update(progress)
    assert [shown.split()[3] for shown in stream.getvalue().splitlines()[1:]] == ["50", "50", "0"], stream.getvalue()
    settings = dataclasses.replace(result.runs[0], duration=3.0)
    shown = []
    for elapsed_s in (0.5, 2.0):
        console = Console(width=130, record=True, file=io.StringIO())
        console.print(screen(settings, None, elapsed_s))
        shown.append(console.export_text())
    assert "warming up for 1s (not measured)" in shown[0] and "remaining" not in shown[0], shown[0]
    assert "elapsed 1s   remaining 2s" in shown[1], shown[1]


COUNTER_SAMPLE = re.compile(r"^(loadgen_\w+(?:_total|_bucket|_count|_sum)(?:\{[^}]*\})?) (\S+)$", re.M)


def test_a_worker_that_dies_is_not_waited_for_and_no_count_goes_down(
    server: TestServer, workers: loadgen.Workers
) -> None:
    """Worker 0 killed after the first second. The seconds after it are the survivor's, given at
    once: the view froze until the survivor was two seconds ahead, then ran two behind, and a
    2.5 s run showed second 0 only. The final second keeps what the dead worker had posted: its
    measurement never came, and every count went down at the end (a counter reset to Prometheus:
    loadgen_requests_total from 65,474 to 60,398 in a 6 s run). Its CPU was shown as worker 1's."""
    from rich.console import Console

    from loadgen.report.live_view import screen
    from tests.conftest import workers_of

    seen: list[loadgen.LiveSecond] = []
    metrics = loadgen.PrometheusExporter(port=0, linger=30)
    scrapes: list[str] = []

    def kill_the_first(live: loadgen.LiveSecond) -> None:
        seen.append(live)
        scrapes.append(_exposition(metrics.url) or "")  # the exporter has this second already, the final one too
        if live.second == 0:
            os.kill(min(workers_of(os.getpid())), signal.SIGKILL)  # forked first: worker 0

    watched: dict[str, Any] = {"exporters": [metrics], "on_second": kill_the_first}
    try:
        result = loadgen.run(server.url(), threads=2, connections=2, duration=2.5, workers=workers, **watched)
    finally:
        metrics.close()
    (failure,) = result.worker_failures
    final = seen[-1]
    assert [live.second for live in seen] == [0, 1, final.second] and final.final
    assert [worker.index for worker in final.workers] == [1]
    # what worker 0 posted (its first second; its second too if worker 1 began a second late) is kept,
    # and named; the result has none of it
    (lost,) = final.lost
    assert (lost.index, lost.host) == (0, seen[0].workers[0].host) and lost.seconds in (1, 2) and lost.requests > 0
    assert final.requests == result.requests + lost.requests
    assert failure.index == 0 and failure.lost and failure.lost_requests is not None
    assert failure.lost_requests >= lost.requests  # counted on the board before it was posted
    for count in (
        lambda live: live.requests,
        lambda live: live.bytes,
        lambda live: live.distribution.count,
        lambda live: live.latency_sum_us,
        lambda live: live.connections_opened,
        lambda live: sum(live.status_counts.values()),
    ):
        assert [count(live) for live in seen] == sorted(count(live) for live in seen)
    # every counter Prometheus scraped, each series: never lower than at the scrape before
    series = [dict(COUNTER_SAMPLE.findall(text)) for text in scrapes]
    assert all(series) and len(series) == 3
    # each scrape served the second just given to the exporter
    assert [int(sample["loadgen_requests_total"]) for sample in series] == [live.requests for live in seen]
    for before, after in itertools.pairwise(series):
        assert not [name for name in before if name in after and float(after[name]) < float(before[name])]
    assert series[-1]["loadgen_requests_total"] == str(final.requests)
    assert series[-1][f'loadgen_worker_lost_requests_total{{worker="0",host="{lost.host}"}}'] == str(lost.requests)
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(screen(final.settings, final, 2.5))
    said = f"worker 0 died: the {lost.requests:,} requests it posted in {lost.seconds}s are counted here"
    assert said in console.export_text()


def test_a_worker_held_stopped_does_not_hold_the_view_and_is_named(
    server: TestServer, workers: loadgen.Workers
) -> None:
    """Worker 1 held stopped (SIGSTOP) from the first progress tick: worker 0's next second is
    given out two seconds after it came, without worker 1, which it names behind; worker 1
    continued then, the run ends at its -d (a tick late on a busy machine leaves a later second to
    be the first without it). The view waited until some worker was two seconds ahead, which
    the other's last seconds never made it in a short run: a 3 s run showed "waiting for the first
    second..." until the held worker was killed, 15 s past its end, then only the final figures."""
    from rich.console import Console

    from loadgen.report.live_view import screen
    from tests.conftest import workers_of

    seen: list[loadgen.LiveSecond] = []
    held: list[int] = []

    def hold_the_second(progress: loadgen.Progress) -> None:
        if not held:
            held.append(max(workers_of(os.getpid())))  # forked second: worker 1
            os.kill(held[0], signal.SIGSTOP)

    def continue_it() -> None:
        if len(held) == 1:
            os.kill(held[0], signal.SIGCONT)
            held.append(0)  # once: it ends then

    def watch(live: loadgen.LiveSecond) -> None:
        seen.append(live)
        continue_it()

    watched: dict[str, Any] = {"on_progress": hold_the_second, "on_second": watch}
    late = threading.Timer(8, continue_it)  # without the view's second, the run would wait for its kill
    late.start()
    try:
        result = loadgen.run(server.url(), threads=2, connections=2, duration=2.5, workers=workers, **watched)
    finally:
        late.cancel()
        continue_it()
    first = next(live for live in seen if live.behind)
    final = seen[-1]
    assert (first.behind, [worker.index for worker in first.workers]) == ((1,), [0]), seen
    assert first.interval.requests > 0 and final.final and final.behind == ()
    assert final.requests == result.requests >= first.requests and not result.worker_failures
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(screen(first.settings, first, 2.0))
    assert "worker 1 is behind: nothing from it for 2s (held stopped, or its loop blocked?)" in console.export_text()
    assert "\nloadgen_workers_behind 1\n" in exposition(first, openmetrics=False)  # and 0 in the final second
    assert "\nloadgen_workers_behind 0\n" in exposition(final, openmetrics=False)


def test_a_lost_workers_connections_are_not_counted_open_after_it() -> None:
    """A worker lost (dead, or its Dask worker gone) kept its last count of open connections in
    every second after it: --tui said "Connections 10 open" of a run whose survivor had 5 open."""
    from loadgen.live.collate import Collator
    from loadgen.live.record import WorkerGone, WorkerSecond
    from loadgen.measurement import ErrorReason, Interval, Stage, WorkerCpu

    reset = ErrorReason(ErrorKind.READ, Stage.EXCHANGE, "ECONNRESET")

    def second(index: int, number: int) -> WorkerSecond:  # its CPU so far: half of each second, and a quarter waited
        cpu = WorkerCpu(0.5 * (number + 1), 1.0 * (number + 1), 0.25 * (number + 1))
        interval = Interval(1_000_000, 10, errors={ErrorKind.READ: 1}, error_reasons={reset: 1})
        return WorkerSecond(
            index, "host", number, interval, (number + 1) * 1_000_000, {200: 10}, {reset: number + 1}, 5, 5, cpu
        )

    seen: list[loadgen.LiveSecond] = []
    collator = Collator(loadgen.Settings("http://127.0.0.1:1/", threads=2, connections=10), 2, seen.append)
    for post in (second(0, 0), second(1, 0), WorkerGone(0), second(1, 1)):
        collator.add(post)
    assert [(live.second, live.connections_open, live.connections_opened) for live in seen] == [(0, 10, 10), (1, 5, 10)]
    assert [live.elapsed_s for live in seen] == [1.0, 2.0]  # each second's end, from the start
    # each second's errors by reason, as a timeline's second has them (they were unknown: None), and so far
    assert [live.interval.error_reasons for live in seen] == [{reset: 2}, {reset: 1}]
    assert [live.error_reasons for live in seen] == [{reset: 2}, {reset: 3}]  # the dead one's first kept
    # each worker's figures in its second: its share of that second running or waiting for a CPU, from its
    # record before, and its rate
    assert [[(w.index, w.busy, w.requests_per_sec) for w in live.workers] for live in seen] == [
        [(0, 0.75, 10.0), (1, 0.75, 10.0)],
        [(1, 0.75, 10.0)],
    ]


def test_a_second_closed_late_leaves_the_next_shorter_as_the_timeline_does() -> None:
    """Worker 0 held across its first second's end (closed at 1.5 s), its next on time (0.5 s long): the merged
    second 1 was as long as its longest record, 1 s, so every second after it ended 0.5 s later than the
    timeline's (a real -t2 --stages run, a worker stopped 0.9 s across 2 s: second 2's elapsed_s 3.268 s where
    the timeline's ended at 3.0, 243.0 req/s where it had 331.8, 217.8 asked where it asked 208.9)."""
    from loadgen.live.collate import Collator
    from loadgen.live.record import WorkerSecond
    from loadgen.measurement import Interval, Measurement, WorkerCpu

    durations = {0: (1_500_000, 500_000, 1_000_000), 1: (1_000_000, 1_000_000, 1_000_000)}
    timelines = {index: tuple(Interval(us, 100) for us in each) for index, each in durations.items()}
    seen: list[loadgen.LiveSecond] = []
    settings = loadgen.Settings("http://127.0.0.1:1/", threads=2, stages=((1.0, 100.0), (2.0, 300.0)))
    collator = Collator(settings, 2, seen.append)
    for number in range(3):
        for index, timeline in timelines.items():
            end_us = sum(interval.duration_us for interval in timeline[: number + 1])
            collator.add(
                WorkerSecond(index, "host", number, timeline[number], end_us, {}, {}, 1, 1, WorkerCpu(0.1, 1.0))
            )
    summed = (Measurement(timeline=timelines[0]) + Measurement(timeline=timelines[1])).timeline
    assert [(live.interval.duration_us, live.interval.requests) for live in seen] == [
        (interval.duration_us, interval.requests) for interval in summed
    ]
    assert [live.elapsed_s for live in seen] == [1.5, 2.0, 3.0]
    # each second's rate over its own span, and the rate the ramp asked over it: 100 to 300 from 1 s to 3 s
    assert [(live.requests_per_sec, live.asked_rate) for live in seen] == [
        (200 / 1.5, 75.0),
        (400.0, 175.0),
        (200.0, 250.0),
    ]


def test_a_second_dropped_on_its_way_holds_back_none_after_it() -> None:
    """Second 1 of both workers dropped before the merge (a worker's backlog full while the parent did not read,
    or Dask's queue refusing it: left out of the view only, pulse.py and remote.py say): the merge waited for it
    for good, and gave out no second after it until the final one (a -t1 run's view froze)."""
    from loadgen.live.collate import Collator
    from loadgen.live.record import WorkerSecond
    from loadgen.measurement import Interval, WorkerCpu

    seen: list[loadgen.LiveSecond] = []
    collator = Collator(loadgen.Settings("http://127.0.0.1:1/", threads=2), 2, seen.append)
    for index, number in ((0, 0), (1, 0), (0, 2), (1, 2), (0, 3)):
        interval, end_us = Interval(1_000_000, 10), (number + 1) * 1_000_000
        collator.add(WorkerSecond(index, "host", number, interval, end_us, {}, {}, 1, 1, WorkerCpu(0.1, 1.0)))
    assert [(live.second, live.requests) for live in seen] == [(0, 20), (2, 40)]  # second 3 waits for worker 1
    # second 2 ends at 3 s, as the timeline's: it said 2 s, and every later second a second early (the merge added
    # up the lengths of the seconds each worker posted, the dropped one's not among them), its asked rate another's
    assert (seen[1].elapsed_s, seen[1].interval.duration_us, seen[1].requests_per_sec) == (3.0, 1_000_000, 20.0)


def test_the_channels_close_after_what_the_workers_posted_last() -> None:
    """Channels.close() reads what is left before it returns: worker 4's last second, posted after the reader was
    told to stop, is handed on with its channel's close after it, though worker 3's channel closed earlier; the
    thread has ended, and every descriptor the channels held is closed."""
    from loadgen.live.channel import Channels
    from loadgen.live.framing import frame
    from loadgen.live.record import Caught, LivePost, WorkerGone, WorkerSecond
    from loadgen.measurement import Interval, WorkerCpu

    def second(index: int) -> WorkerSecond:
        return WorkerSecond(
            index, "host", 0, Interval(1_000_000, 10), 1_000_000, {200: 10}, {}, 1, 1, WorkerCpu(0.1, 1.0)
        )

    posts: list[LivePost] = []
    held, release = threading.Event(), threading.Event()

    def deliver(post: LivePost) -> None:  # the reader held in its first Caught after worker 3 is gone
        posts.append(post)
        if isinstance(post, Caught) and WorkerGone(3) in posts and not held.is_set():
            held.set()
            release.wait(5)

    descriptors = len(os.listdir("/proc/self/fd"))
    channels = Channels(deliver)
    early, late = channels.open(3), channels.open(4)
    with early:
        early.sendall(frame(second(3)))
    channels.start()
    assert held.wait(5)
    closing = threading.Thread(target=channels.close)
    closing.start()
    assert select.select([channels.wake_r], [], [], 5)[0]  # told to stop before worker 4 posts
    with late:
        late.sendall(frame(second(4)))
    release.set()
    closing.join(5)
    assert not closing.is_alive() and not channels.thread.is_alive()
    assert posts == [second(3), WorkerGone(3), Caught(), second(4), WorkerGone(4)]
    assert len(os.listdir("/proc/self/fd")) == descriptors


def _timeouts_in_every_view(server: TestServer, workers: loadgen.Workers) -> tuple[list[loadgen.LiveSecond], Any]:
    """The seconds of a run whose every response is slower than --timeout, and its OTLP receiver once it ended."""
    from tests.otlp_receiver import OtlpReceiver

    seconds: list[loadgen.LiveSecond] = []
    with OtlpReceiver() as receiver:
        loadgen.run(
            server.url("/delay?ms=400"),
            threads=1,
            connections=1,
            duration=1.2,
            timeout=0.2,
            on_second=seconds.append,
            exporters=[loadgen.OtlpExporter(receiver.endpoint, 0.5)],
            workers=workers,
        )
    return seconds, receiver


def test_no_latency_is_shown_before_one_is_measured(api_runs: dict[str, Future[Any]]) -> None:
    """Every response slower than --timeout: the view said "p50 0us ... max 0us", OTLP's gauges 0 s."""
    from rich.console import Console

    from loadgen.report.live_view import screen

    seconds, receiver = api_runs["no latency"].result()[0]
    assert seconds[-1].error_count > 0
    assert receiver.points("loadgen.requests") and not receiver.points("loadgen.latency")  # the OTLP gauges too
    for live, said in ((seconds[0], "Latency none measured yet "), (seconds[-1], "Latency none measured  ")):
        console = Console(width=130, record=True, file=io.StringIO())
        console.print(screen(live.settings, live, 1.0))
        text = console.export_text()
        assert said in text and "0us" not in text, text


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: loadgen.PrometheusExporter("127.0.0.1", "9464"),
            r"a host \(str\) and a port from 0 to 65535, not '127",
        ),
        (
            lambda: loadgen.PrometheusExporter("127.0.0.1", 70000),
            r"a host \(str\) and a port from 0 to 65535, not '127",
        ),
        (lambda: loadgen.PrometheusExporter("127.0.0.1", 0, linger="5"), "linger must be seconds .*, not '5'"),
        (lambda: loadgen.PrometheusExporter("127.0.0.1", 0, linger=-1), "linger must be seconds .*, not -1"),
        (lambda: loadgen.OtlpExporter("http://127.0.0.1:4318", interval=0), "interval must be seconds .*, not 0"),
        (lambda: loadgen.OtlpExporter(4318), r"endpoint must be an http\(s\) URL \(str\), not 4318"),
        (
            lambda: loadgen.OtlpExporter("http://127.0.0.1:4318", headers=5),
            "headers must be a dict of str to str, not 5",
        ),
    ],
    ids=["port-text", "port-range", "linger-text", "linger-negative", "interval-zero", "endpoint-int", "headers-int"],
)
def test_an_exporter_names_an_argument_of_the_wrong_type(make: object, message: str) -> None:
    """Refused when it is made, where a TypeError or OverflowError came from the socket, an
    AttributeError from urlsplit or the SDK (an OTLP endpoint or headers not text), or the run
    dropped the exporter with a warning once it first gave it a second."""
    with pytest.raises(loadgen.UsageError, match=message):
        make()  # type: ignore[operator]


def test_an_otlp_exporter_without_the_sdk_says_how_to_have_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """README: --otlp-endpoint without loadgen[otel] is refused in one line, before the run (exit 1)."""
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.metric_exporter", None)
    with pytest.raises(loadgen.SetupError, match=r"^--otlp-endpoint needs the OpenTelemetry SDK: pip install "):
        loadgen.OtlpExporter("http://127.0.0.1:4318")


def test_the_otlp_resource_is_the_runs_settings() -> None:
    """README: the run's settings are the resource's attributes (those not given left out)."""
    from loadgen.export.otlp import resource_attributes

    url = "http://127.0.0.1:9/"
    settings = loadgen.Settings(url=url, threads=3, connections=7, duration=5.0, rate=100.0, requests=10, timeout=1.5)
    assert resource_attributes(settings) == {
        "service.name": "loadgen",
        "loadgen.url": url,
        "loadgen.threads": 3,
        "loadgen.connections": 7,
        "loadgen.method": "GET",
        "loadgen.timeout_s": 1.5,
        "loadgen.duration_s": 5.0,
        "loadgen.rate": 100.0,
        "loadgen.requests": 10,
    }
    unset = resource_attributes(loadgen.Settings(url=url, duration=None, requests=10))
    assert "loadgen.duration_s" not in unset and "loadgen.rate" not in unset and unset["loadgen.requests"] == 10


def test_a_prometheus_exporter_given_a_second_run_says_it_is_closed(server: TestServer) -> None:
    """It closes ``linger`` after its run: a second run's figures went nowhere, unsaid."""
    metrics = loadgen.PrometheusExporter(port=0)
    loadgen.run(server.url(), threads=1, connections=1, duration=0.3, exporters=[metrics])
    assert metrics.closed.wait(5)
    with pytest.warns(RuntimeWarning, match=r"^the Prometheus endpoint: closed \(http://.*\): .* serves one run"):
        result = loadgen.run(server.url(), threads=1, connections=1, duration=0.3, exporters=[metrics])
    assert result.requests > 0


def test_an_otlp_exporter_pushes_each_run_it_is_given(server: TestServer, workers: loadgen.Workers) -> None:
    """The SDK shuts its exporter down at a run's end: the second run given the same OtlpExporter pushed
    nothing, and said "the OTLP export: 8 of 12 exports to URL failed", the first run's counted in."""
    from tests.otlp_receiver import OtlpReceiver

    with OtlpReceiver() as receiver, warnings.catch_warnings():
        warnings.simplefilter("error")  # a failed export is a RuntimeWarning
        otlp = loadgen.OtlpExporter(receiver.endpoint, interval=0.2)
        first = loadgen.run(server.url(), threads=1, connections=1, duration=0.5, workers=workers, exporters=[otlp])
        pushed = len(receiver.points("loadgen.requests"))
        assert pushed >= 2 and receiver.points("loadgen.requests")[-1][2] == first.requests
        second = loadgen.run(server.url(), threads=1, connections=1, duration=0.5, workers=workers, exporters=[otlp])
    counts = [value for _, _, value in receiver.points("loadgen.requests")]
    assert len(counts) >= pushed + 2 and counts[pushed] == 0 and counts[-1] == second.requests


def _failing(callback: str, server: TestServer, workers: loadgen.Workers) -> tuple[loadgen.Result, list[object]]:
    """A run whose ``callback`` raises, and what the callback was given."""
    calls: list[object] = []

    def broken(seen: object) -> None:
        calls.append(seen)
        raise ValueError("no")

    result = loadgen.run(server.url(), threads=1, connections=2, duration=1.5, workers=workers, **{callback: broken})
    return result, calls


@pytest.mark.parametrize("callback", ["on_second", "on_progress"])
def test_a_failing_callback_does_not_stop_the_run(api_runs: dict[str, Future[Any]], callback: str) -> None:
    (result, calls), warned = _warned(api_runs, callback)
    assert [message for message in warned if re.search("broken: stopped: ValueError: no", message)], warned
    assert result.requests > 0 and len(calls) == 1  # dropped at its first failure
    # on the line that called run(), as Python puts a warning: it named the engine's (or api.py's) line
    assert {warning.filename for warning in api_runs[callback].result()[1]} == {__file__}


@pytest.mark.slow
def test_with_dask_each_host_is_seen_as_it_runs(cluster: DaskCluster, server: TestServer) -> None:
    seconds: list[loadgen.LiveSecond] = []
    seen_at: list[float] = []

    def seen(live: loadgen.LiveSecond) -> None:
        seen_at.append(time.monotonic())
        seconds.append(live)

    result = loadgen.run(server.url(), threads=2, connections=4, duration=3.5, dask=cluster.address, on_second=seen)
    returned = time.monotonic()
    during = [live for live in seconds if not live.final]
    assert during, "no second reached the view while the tasks ran"
    # as each closed, not all at the end (the tasks' seconds, read once they had all ended, showed nothing till then)
    assert returned - seen_at[0] > 1.0, (returned - seen_at[0], len(seconds))
    assert {worker.index for worker in during[-1].workers} == {0, 1}
    assert all(worker.host for worker in during[-1].workers)
    assert 0 < during[-1].requests <= result.requests
    assert seconds[-1].final and seconds[-1].requests == result.requests
    assert [worker.host for worker in seconds[-1].workers] == [host.host for host in result.hosts]


@given(st.dictionaries(st.integers(0, 10**9), st.integers(1, 1000), max_size=200))
@example({10_005: 1, 100_050: 2, 999: 3})  # just past a power of ten: 10,100 and 101,000 (exact below 1 ms)
def test_coarse_latencies_keep_every_bucket_exact(latency: dict[int, int]) -> None:
    from loadgen.report.live_view import HISTOGRAM_US

    kept = coarse(latency)
    assert sum(kept.values()) == sum(latency.values())
    assert all(key < 1000 or len(str(key).rstrip("0")) <= 3 for key in kept)
    assert {v: n for v, n in kept.items() if v < 1000} == {v: n for v, n in latency.items() if v < 1000}  # exact
    for bound in [round(b * 1e6) for b in BUCKETS_S] + list(HISTOGRAM_US):
        assert sum(n for v, n in kept.items() if v <= bound) == sum(n for v, n in latency.items() if v <= bound)


def test_the_final_second_names_each_measured_workers_cpu_as_the_result_does() -> None:
    """-t3: worker 0 killed after its first second, worker 1 failed with its measurement kept (a
    hook's error), worker 2 well: the CPU figures are workers 1's and 2's, as the diagnosis and the
    JSON name them (Result.worker_at). The view's own mapping took worker 1's failure for a lost
    measurement, found no fit, and showed them as workers 0 and 1: the dead one's host and CPU."""
    from loadgen.live.collate import Collator
    from loadgen.live.record import WorkerGone, WorkerSecond
    from loadgen.measurement import Interval, Measurement, WorkerCpu
    from loadgen.result import Result, WorkerFailure
    from loadgen.settings import Settings

    settings = Settings("http://127.0.0.1:1/", threads=3, connections=3, duration=2.5)
    collator = Collator(settings, 3, lambda live: None)
    for index in range(3):
        interval = Interval(1_000_000, 5, latency={1500: 5})
        collator.add(WorkerSecond(index, f"h{index}", 0, interval, 1_000_000, {200: 5}, {}, 1, 1, WorkerCpu(0.5, 1)))
    collator.add(WorkerGone(0))
    cpus = (WorkerCpu(1.0, 2.0), WorkerCpu(1.5, 2.0))
    failures = (
        WorkerFailure(0, 10, "was killed by SIGKILL", lost=True, lost_requests=5),
        WorkerFailure(1, 11, "failed"),
    )
    timeline = (Interval(1_000_000, 4), Interval(1_000_000, 6), Interval(500_000))
    measured = Measurement(requests=10, client_cpu=cpus, timeline=timeline)
    result = Result(runs=(settings,), measured=measured, runtime_us=2_500_000, worker_failures=failures)
    final = collator.final(result)
    assert (final.second, final.interval, final.history) == (2, timeline[-1], (4, 6, 0))  # the last second
    assert [(worker.index, worker.host, worker.cpu) for worker in final.workers] == [
        (1, "h1", cpus[0]),
        (2, "h2", cpus[1]),
    ]
    assert [(worker.index, worker.host, worker.seconds, worker.requests) for worker in final.lost] == [(0, "h0", 1, 5)]
    # the dead worker's posted second kept in the counts: its 5 requests, their latencies, and their sum exactly
    assert (final.requests, final.latency, final.latency_sum_us) == (15, {1500: 5}, 5 * 1500)
    # a run over before any worker posted a second: each one's busy share is its CPU's, its rate none
    unseen = Collator(settings, 3, lambda live: None).final(result).workers
    assert [(worker.index, worker.busy, worker.requests_per_sec) for worker in unseen] == [
        (1, cpus[0].busy, 0.0),
        (2, cpus[1].busy, 0.0),
    ]
    # a run that measured no second: the final one is as the state before the first (LiveSecond.before)
    nothing = Result(runs=(settings,), measured=Measurement(client_cpu=cpus), runtime_us=0, worker_failures=failures)
    empty = Collator(settings, 3, lambda live: None).final(nothing)
    assert (empty.second, empty.interval, empty.history, empty.requests) == (-1, Interval(0), (), 0)


def test_a_second_says_what_it_asked_achieved_and_measured() -> None:
    """--stages 1s:100,1s:300: the second from 1 s to 2 s asked 200 req/s (the ramp's average over it);
    it achieved 150; its percentiles and errors are its own; before the first second there is nothing:
    no rate. A worker 90% busy is client-bound (BUSY)."""
    from dataclasses import replace

    from loadgen.live.second import LiveSecond, LiveWorker
    from loadgen.measurement import ErrorKind, Interval, WorkerCpu

    settings = loadgen.Settings("http://127.0.0.1:1/", stages=((1.0, 100.0), (1.0, 300.0)))
    before = LiveSecond.before(settings)
    counts = (before.requests, before.bytes, before.latency_sum_us, before.connections_open, before.connections_opened)
    assert (before.second, before.elapsed_s, before.interval.duration_us, counts) == (-1, 0.0, 0, (0, 0, 0, 0, 0))
    assert before.requests_per_sec == 0.0 and before.error_count == 0
    interval = Interval(1_000_000, 150)
    errors = {ErrorKind.READ: 2, ErrorKind.TIMEOUT: 1}
    busy = LiveWorker(0, "here", WorkerCpu(0.9, 1.0), busy=0.9, requests_per_sec=150.0)
    live = replace(before, second=1, elapsed_s=2.0, interval=interval, requests=250, errors=errors, workers=(busy,))
    live = replace(live, latency={1000: 1, 2000: 8, 3000: 1})
    assert (live.asked_rate, live.requests_per_sec, live.error_count) == (200.0, 150.0, 3)
    assert live.percentile_us(50) == 2000 and live.workers[0].client_bound
    assert repr(replace(live, final=True)) == "<loadgen.LiveSecond 1 (final): 150 requests, 150.0 req/s, 250 so far>"


def test_the_view_names_a_run_of_targets_as_the_report_does() -> None:
    """--tui --targets of /a, /b and /c headed its view 'loadgen http://127.0.0.1:PORT/a', the first
    target's URL alone, above figures of all three, which the report heads '(3 targets)'."""
    from rich.console import Console

    from loadgen.report.live_view import screen

    urls = [f"http://127.0.0.1:8080/{path}" for path in "abc"]
    console = Console(width=130, record=True, file=io.StringIO())
    console.print(screen(loadgen.Settings(targets=urls, duration=3.0), None, 1.0))
    assert "loadgen http://127.0.0.1:8080 (3 targets)   2 threads, 10 connections" in console.export_text()


def test_the_tui_clock_stops_at_the_runs_duration_and_says_what_it_waits_for() -> None:
    """A worker held stopped at the end (its run waits for it, then kills it): -d3s showed "elapsed 11s   remaining
    0s", a window longer than the run's. Now the clock stops at -d, and past it by a second says why it waits."""
    from rich.console import Console

    from loadgen.report.live_view import screen

    settings = loadgen.Settings("http://127.0.0.1:1/", threads=2, connections=2, duration=3.0)
    shown = []
    for elapsed_s in (2.0, 3.4, 11.2):
        console = Console(width=130, record=True, file=io.StringIO())
        console.print(screen(settings, None, elapsed_s))
        shown.append(console.export_text())
    assert "elapsed 2s   remaining 1s" in shown[0], shown[0]
    assert "elapsed 3s   remaining 0s" in shown[1], shown[1]  # the final frame comes a little after -d
    assert "elapsed 3s   ended 8s ago: waiting for the workers to stop" in shown[2], shown[2]
    console = Console(width=130, record=True, file=io.StringIO())
    console.print(screen(dataclasses.replace(settings, duration=None, requests=100), None, 11.2))  # -n: no end known
    assert "connections   elapsed 11s " in console.export_text() and "remaining" not in console.export_text()
