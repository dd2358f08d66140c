"""What the runner counts in a server's log: a traceback is one report, whatever its chain or group."""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from server_matrix.measuring.results import OK
from server_matrix.reporting.report import render_report
from server_matrix.reporting.resultsfile import load, save
from server_matrix.servers.serverlog import count_events, last_error
from tests.matrix.test_report import synthetic_results
from tests.matrix.test_single_and_answer import repeated


def report(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def raised(function: Callable[[], object]) -> BaseException:
    try:
        function()
    except BaseException as error:  # the exception is the test's data
        return error
    raise AssertionError("did not raise")


def chained() -> None:
    try:
        {}["missing"]
    except KeyError as error:
        try:
            raise ValueError("while handling") from None
        except ValueError:
            raise RuntimeError("caused") from error


def grouped() -> None:
    raise ExceptionGroup("two", [raised(chained), raised(lambda: 1 / 0)])


def warning_lines() -> str:
    """A DeprecationWarning as Python prints it, and granian's warning at each start on a free-threaded build."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("old", DeprecationWarning, stacklevel=1)
    printed = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught)
    return printed + "[WARNING] free-threaded Python support is experimental!\n"


def test_a_chained_exception_and_an_exception_group_are_one_traceback_each_and_warnings_none() -> None:
    """Each header was counted: the chained exception as 2, the group as 4 (its own, its members' and their chain)."""
    log = (
        warning_lines() + "[ERROR] Exception in ASGI application\n" + report(raised(chained)) + report(raised(grouped))
    )
    assert log.count("Traceback (most recent call last)") == 6
    assert count_events(log, None).tracebacks == 2
    # a group's print is all indented: it ran on into the log's next line, which was said to be the last error (and
    # without one, there was none); its last member's exception line is
    ended = log + "[INFO] Handling signal: term\n"
    assert last_error(ended) == last_error(log) == "ZeroDivisionError: division by zero"
    assert count_events(ended, None).tracebacks == 2


# gunicorn 27's asgi worker over HTTP/2 (asgi-gunicorn-h2), as it logged loadgen's HTTP/2 test connection closing
# as soon as it had the server's settings (server-matrix run --profile quick --http2, 2026-12-05).
GUNICORN_H2_CLIENT_GONE = """\
[2026-12-05 11:51:16 +0000] [6370] [ERROR] HTTP/2 connection error: Socket write error: Connection lost
Traceback (most recent call last):
  File "/usr/lib/python3.11/site-packages/gunicorn/http2/async_connection.py", line 936, in _drain
    await asyncio.wait_for(self.writer.drain(), self.cfg.timeout or None)
  File "/usr/lib/python3.11/asyncio/streams.py", line 166, in _drain_helper
    raise ConnectionResetError('Connection lost')
ConnectionResetError: Connection lost

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/usr/lib/python3.11/site-packages/gunicorn/asgi/protocol.py", line 2362, in _handle_http2_connection
    await h2_conn.initiate_connection()
  File "/usr/lib/python3.11/site-packages/gunicorn/http2/async_connection.py", line 944, in _drain
    raise HTTP2ConnectionError(f"Socket write error: {e}")
gunicorn.http2.errors.HTTP2ConnectionError: Socket write error: Connection lost
[2026-12-05 11:51:34 +0000] [6360] [INFO] Handling signal: term
"""


def test_a_traceback_of_the_client_gone_first_is_counted_apart_not_as_the_servers() -> None:
    """gunicorn's HTTP/2 logs the client's close with a traceback: it flagged `tracebacks` on a cell whose server
    and demo did nothing wrong. A broken pipe too; the demo's own failure, before or after, is still a traceback."""

    def broken_pipe() -> None:
        try:
            raise BrokenPipeError(32, "Broken pipe")
        except BrokenPipeError as error:
            raise OSError("write failed") from error

    events = count_events(GUNICORN_H2_CLIENT_GONE, None)
    assert (events.tracebacks, events.client_disconnects) == (0, 1)
    demo = "[ERROR] Internal Server Error: /myapp/sync/json\n" + report(raised(lambda: 1 / 0))
    log = demo + GUNICORN_H2_CLIENT_GONE + report(raised(broken_pipe)) + demo
    events = count_events(log, None)
    assert (events.tracebacks, events.client_disconnects) == (2, 2)
    # A failed cell's reason names the demo's last error, not the client gone after it nor the log's next line.
    assert last_error(demo + GUNICORN_H2_CLIENT_GONE) == "ZeroDivisionError: division by zero"
    assert last_error(log + "[INFO] Handling signal: term\n") == "ZeroDivisionError: division by zero"


def test_a_cells_server_log_line_counts_every_repetition_not_only_the_one_shown(tmp_path: Path) -> None:
    """A traceback in a repetition other than the one the report shows (the median) was flagged `tracebacks (1/3)`,
    but the cell's "Server log:" line read the shown repetition's counts alone, and said nothing."""
    results = repeated(synthetic_results(tmp_path, free_threaded=False), 1.0, spreads=(1.0, 1.01, 1.02))
    cell = next(cell for cell in results.cells.values() if cell.status == OK and cell.endpoint == "json")
    first, shown, last = cell.samples
    assert cell.representative is shown
    cell.samples = [first, shown, replace(last, server=replace(last.server, tracebacks=1))]
    path = tmp_path / "results.json"
    save(results, path)
    report = render_report(load(path))  # read back: results.json keeps each repetition's counts
    assert "tracebacks (1/3)" in report and report.count("Server log: 1 traceback (repetition 3 of 3).") == 1
    cell.samples = [replace(first, server=replace(first.server, tracebacks=2))]
    assert "Server log: 2 tracebacks.\n" in render_report(results)  # once: no repetition to name


def test_a_restarted_servers_log_line_says_why(tmp_path: Path) -> None:
    """This session's default run: wsgi-sync's gateway_10s said "Server log: server restarted after the run." with
    no reason, while results.json had it (16 s of abandoned requests foreseen, not seen: the flag says "still busy
    long after the run")."""
    results = synthetic_results(tmp_path, free_threaded=False)
    cell = next(cell for cell in results.cells.values() if cell.status == OK and cell.endpoint == "json")
    busy = "busy with about 16s of requests the client abandoned: restarted"
    cell.samples = [replace(sample, server=replace(sample.server, restarted=busy)) for sample in cell.samples]
    report = render_report(results)
    said = "Server log: server restarted after the run (busy with about 16s of requests the client abandoned).\n"
    assert said in report, report
    assert "or would have been (more of them than it could finish while the runner waits)" in report
    assert "long after a run (or would have been: its *Server log* line says which)." in report
