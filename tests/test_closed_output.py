"""A reader that goes away early (``| head -1``, ``| true``) ends no run: the output it no longer
reads vanishes, the run goes on to its end, writes its --json and --html files whole and exits with
the code it earned (0 here), with no traceback and no "Exception ignored" on the stream still read."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from loadgen.testing.server import TestServer

from .conftest import run_unchecked

SILENT = ("Traceback", "Exception ignored", "BrokenPipeError")


def closing(args: list[str], closed: str, first_line: bool, kept: Path) -> int:
    """loadgen with ``closed`` (``stdout`` or ``stderr``) a pipe whose reader reads its first line (or nothing),
    then closes it; the other stream into ``kept``. Its exit code."""
    with open(kept, "wb") as other:
        streams = {"stdout": other, "stderr": other, closed: subprocess.PIPE}
        process = subprocess.Popen([sys.executable, "-m", "loadgen", *args], **streams)
        pipe = getattr(process, closed)
        if first_line:
            assert pipe.readline()
        pipe.close()
        return process.wait(60)


def test_stdout_closed_after_the_first_line_keeps_the_json_and_html_files(server: TestServer, tmp_path: Path) -> None:
    """| head -1: the report's write failed, and the run ended with exit 1 before writing either file."""
    files = ["--json", str(tmp_path / "run.json"), "--html", str(tmp_path / "run.html")]
    code = closing(["-t1", "-c2", "-d1s", *files, server.url("/")], "stdout", True, tmp_path / "stderr")
    stderr = (tmp_path / "stderr").read_text()
    assert code == 0 and not any(word in stderr for word in SILENT), stderr
    assert json.loads((tmp_path / "run.json").read_text())["requests"] > 0
    assert (tmp_path / "run.html").read_text().rstrip().endswith("</html>")


def test_stderr_closed_during_the_run_keeps_the_run(server: TestServer, tmp_path: Path) -> None:
    """2>&1 | head -1 with --progress: the next progress line's write ended the run half-way."""
    args = ["-t1", "-c2", "-d2s", "--progress", "--json", str(tmp_path / "run.json"), server.url("/")]
    code = closing(args, "stderr", True, tmp_path / "stdout")
    stdout = (tmp_path / "stdout").read_text()
    assert code == 0 and "Requests/sec:" in stdout and "Transfer/sec:" in stdout, stdout
    assert json.loads((tmp_path / "run.json").read_text())["requests"] > 0


def test_json_to_a_reader_already_gone(server: TestServer, tmp_path: Path) -> None:
    """--json - | true: the document's write failed, exit 1."""
    code = closing(["-t1", "-c2", "-d1s", "--json", "-", server.url("/")], "stdout", False, tmp_path / "stderr")
    stderr = (tmp_path / "stderr").read_text()
    assert code == 0 and "Requests/sec:" in stderr and not any(word in stderr for word in SILENT), stderr


def test_a_url_the_terminal_cannot_spell_is_written_escaped(server: TestServer, tmp_path: Path) -> None:
    """An ASCII (or Latin-1) locale and a URL with é: the report's first line raised UnicodeEncodeError, a
    traceback and exit 1 after the whole run, and ``loadgen report`` of its document likewise."""
    document = tmp_path / "run.json"
    ascii_output = {**os.environ, "PYTHONIOENCODING": "ascii"}
    run = run_unchecked("-t1", "-c1", "-n20", "--json", str(document), server.url("/é"), env=ascii_output)
    report = run_unchecked("report", str(document), env=ascii_output)
    for finished in (run, report):
        assert finished.returncode == 0 and "Traceback" not in finished.stderr, finished.stderr
        assert f"test @ {server.url('/')}\\xe9\n" in finished.stdout, finished.stdout
    assert "20 requests in" in report.stdout, report.stdout


def test_stdout_closed_from_the_start_keeps_the_json_and_the_exit_code(server: TestServer, tmp_path: Path) -> None:
    """``>&-``: Python gave no sys.stdout and the report's first write was a traceback, exit 120; ``2>&-`` behind
    a wrapper script (pyenv's shim leaves one of its files, read-only, on descriptor 2): the diagnosis's first
    line raised EBADF and the run that earned 3 exited 1."""
    document = tmp_path / "run.json"
    with open(tmp_path / "read-only", "wb") as made, open(made.name, "rb") as read_only:
        command = ["-t1", "-c2", "-d0.3s", "--json", str(document), server.url("/truncated")]
        process = subprocess.run(
            [sys.executable, "-m", "loadgen", *command],
            stderr=read_only,
            preexec_fn=lambda: os.close(1),
            timeout=30,
        )
    assert process.returncode == 3
    assert json.loads(document.read_text())["errors"]["read"] > 0


def test_stdout_that_refuses_the_report_is_said_and_keeps_the_json(server: TestServer, tmp_path: Path) -> None:
    """``> /dev/full``: the report's first write raised ENOSPC in a traceback before the run's --json file; with
    ``--json -`` the document's did."""
    document = tmp_path / "run.json"

    def to_full(*args: str) -> subprocess.CompletedProcess[str]:
        with open("/dev/full", "w") as full:
            command = [sys.executable, "-m", "loadgen", "-t1", "-c2", "-d0.3s", *args, server.url("/")]
            return subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=30)

    report, piped = to_full("--json", str(document)), to_full("--json", "-")
    assert report.returncode == 1 and json.loads(document.read_text())["requests"] > 0
    assert report.stderr.endswith("loadgen: cannot write to stdout: No space left on device: what went there is lost\n")
    assert piped.returncode == 1
    assert piped.stderr.endswith("loadgen: cannot write JSON to stdout: No space left on device\n")
    assert not any(word in report.stderr + piped.stderr for word in SILENT), report.stderr + piped.stderr


def test_json_to_a_named_pipe_reaches_its_reader(server: TestServer, tmp_path: Path) -> None:
    """``--json fifo`` with ``cat fifo`` reading: the check before the run opened the FIFO and closed it, the
    reader read its end and left, and after the run the document's open() waited for a reader forever (Ctrl-C
    and SIGTERM, which the command holds then, did not end it)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()), daemon=True)
    reader.start()
    command = [sys.executable, "-m", "loadgen", "-t1", "-c1", "-d0.2s", "--json", str(fifo), server.url("/")]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    finally:
        if reader.is_alive():  # the command ended before writing: the reader still waits for a writer
            with open(fifo, "wb"):
                pass
    reader.join(5)
    assert done.returncode == 0, done.stderr
    assert json.loads(read[0])["requests"] > 0


@pytest.mark.parametrize("stopped", ["after the report", "during the run"])
def test_a_stop_ends_the_wait_for_a_named_pipe_nobody_reads(server: TestServer, tmp_path: Path, stopped: str) -> None:
    """``--json fifo`` with no reader: after the report, the document's open() waited for one, and SIGTERM
    (Ctrl-C alike) was held as a stop while the outputs were written: the command never ended, nor did one
    stopped during its run (``timeout 10 loadgen -d10s``). Now a stop ends the wait, or the wait is not begun
    after one, with one line and exit 130, the report printed before it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    duration = "0.2s" if stopped == "after the report" else "20s"
    command = [sys.executable, "-m", "loadgen", "-t1", "-c1", f"-d{duration}", "--json", str(fifo), server.url("/")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = iter(process.stdout.readline, "")
        awaited = "Transfer/sec" if stopped == "after the report" else "  1 threads and 1 connections"
        assert any(line.startswith(awaited) for line in lines)
        process.send_signal(signal.SIGTERM)
        report, stderr = process.communicate(timeout=5)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert stderr == f"loadgen: interrupted while writing JSON to {fifo}, a FIFO no process read to its end\n"
    assert stopped == "after the report" or "Transfer/sec" in report


def _files_limited_to(size: int) -> Callable[[], None]:
    """For a child process: no file it writes may grow past ``size`` bytes (``ulimit -f``), where a write fails
    mid-file with EFBIG (Python ignores SIGXFSZ), as on a disk that fills then."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_a_json_file_the_disk_cannot_hold_leaves_the_earlier_file_whole(server: TestServer, tmp_path: Path) -> None:
    """A write that failed mid-file left its first 4,096 bytes, which ``loadgen report`` read as damaged (``not JSON:
    Expecting value: line 1 column 4097``): the file is now the one there before, and no temporary file is left."""
    document = tmp_path / "run.json"
    document.write_text('"earlier"\n')
    args = ["-t1", "-c2", "-n20", "--json", str(document), server.url("/")]
    done = run_unchecked(*args, preexec_fn=_files_limited_to(4096))
    assert done.returncode == 1 and "Requests/sec:" in done.stdout, done.stderr
    assert done.stderr.endswith(f"loadgen: cannot write JSON to {document}: File too large\n"), done.stderr
    assert document.read_text() == '"earlier"\n' and os.listdir(tmp_path) == ["run.json"]


def test_a_json_file_that_cannot_be_written_loses_no_other_output(server: TestServer, tmp_path: Path) -> None:
    """--json on a full disk (a link to /dev/full): the run's --html page went unwritten, its threshold's verdict
    unsaid and its earned 4 became 1; capacity's 3 (its step's server failed) became 1, the server's lines unsaid."""
    full = tmp_path / "full.json"
    full.symlink_to("/dev/full")
    page = tmp_path / "run.html"
    lost = f"loadgen: cannot write JSON to {full}: No space left on device\n"
    files = ["--json", str(full), "--html", str(page)]
    run = run_unchecked("-t1", "-c1", "-n20", "--fail-on", "rps>1G", *files, server.url("/"))
    assert run.returncode == 4 and run.stderr.startswith("threshold rps>1G: failed (rps = "), run.stderr
    assert run.stderr.endswith(lost) and page.read_text().rstrip().endswith("</html>"), run.stderr
    step = ["--slo", "p99<1s", "--start", "100", "--max", "100", "-t1", "-c1", "-d0.3s", "--json", str(full)]
    capacity = run_unchecked("capacity", *step, server.url("/truncated"))
    assert capacity.returncode == 3 and "in the middle of a response\n" in capacity.stderr, capacity.stderr
    assert capacity.stderr.endswith(lost), capacity.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="a tmpfs is mounted: root")
def test_a_disk_with_room_for_one_copy_gets_the_json_in_place(server: TestServer, tmp_path: Path) -> None:
    """A copy beside the file needs room for two: on an 8 KiB tmpfs holding last run's 4 KiB JSON, the new one (two
    pages) did not fit beside it, and was lost where it fitted in the old one's place (as the write in place did)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("no tmpfs could be mounted")
    try:
        document = disk / "run.json"
        document.write_text(" " * 4095 + "\n")
        done = run_unchecked("-t1", "-c1", "-n20", "--json", str(document), server.url("/"))
        assert done.returncode == 0, done.stderr
        assert json.loads(document.read_text())["requests"] == 20 and os.listdir(disk) == ["run.json"]
    finally:
        subprocess.run(["umount", str(disk)], check=True)
