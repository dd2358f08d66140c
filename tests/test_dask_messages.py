"""loadgen's refusals of a Dask scheduler or a local cluster it cannot use, said before any Dask cluster is
started: an address nothing listens at, a port that never speaks or only greets, a local:N that does not fit -t or
is no number. They check one line each, under the waits the tests give the product (ANSWER_S, CONNECT_TIMEOUT_S:
0.5 s, which a stand-in that never answers cannot beat however loaded the machine), and start no cluster: so they
share the suite's turn (tests/alone.py), where tests/test_dask.py's, which start clusters and bound their stops in
time, are ``alone``."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

import loadgen
from loadgen.testing.server import TestServer
from loadgen.units import counted
from tests.conftest import free_port, run_loadgen, serving

pytest.importorskip("distributed", reason="pip install 'loadgen[dask]'")


def test_an_unreachable_scheduler_is_one_line(server: TestServer) -> None:
    nothing = f"tcp://127.0.0.1:{free_port()}"
    done = run_loadgen("--dask", nothing, "-t1", "-c1", "-d1s", server.url())
    assert done.returncode == 1 and done.stdout == ""
    # a refused port is known at once (was: 5 s, then distributed's "Timed out trying to connect")
    assert done.stderr_lines == [f"loadgen: cannot reach the Dask scheduler at {nothing}: Connection refused"]


def test_a_port_that_accepts_and_never_speaks_is_no_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Dask scheduler speaks first on each connection. A port that accepts and says nothing (not a
    scheduler, or one held stopped) held the run for ever, deaf to Ctrl-C (measured: 199 s, until the
    port closed); refused within the connection's limit (0.5 s here, 5 s as shipped)."""
    from loadgen._run import cluster as coordinator

    monkeypatch.setattr(coordinator, "CONNECT_TIMEOUT_S", 0.5)
    with serving(lambda conn: time.sleep(30)) as port:  # accepts, reads nothing, says nothing
        address = f"tcp://127.0.0.1:{port}"
        with pytest.raises(loadgen.SetupError) as refused:
            loadgen.check_dask(address, 1)
    assert str(refused.value) == (
        f"cannot reach the Dask scheduler at {address}: it accepts connections but said nothing within 0.5s "
        "(not a Dask scheduler, or one held stopped)"
    )


def test_a_question_to_the_scheduler_gives_its_error_as_it_is_and_an_unanswered_one_holds_no_exit() -> None:
    """What a question raised comes back as it is, at once (not "it did not answer within 5s", 5 s later); a
    question unanswered is given up, its thread a daemon, which Python's exit does not wait for (a scheduler
    held stopped never answers: the command would never end)."""
    from loadgen._run.remote import Unanswered, answered_within

    def refused() -> None:
        raise ConnectionRefusedError("refused")

    with pytest.raises(ConnectionRefusedError):
        answered_within(refused, 5.0)
    never = threading.Event()
    try:
        with pytest.raises(Unanswered):
            answered_within(never.wait, 0.05)
        asking = [thread for thread in threading.enumerate() if thread.name == "loadgen-dask-question"]
        assert asking and all(thread.daemon for thread in asking)
    finally:
        never.set()


@pytest.mark.parametrize(
    ("local", "threads", "message"),
    [
        ("local:2", "-t3", "--dask local:2 starts 2 Dask workers and -t 3 needs 3: give --dask local:3 (or -t 2)"),
        # one worker in the singular (it was "starts 1 Dask workers")
        ("local:1", "-t2", "--dask local:1 starts 1 Dask worker and -t 2 needs 2: give --dask local:2 (or -t 1)"),
        # more than -t and the CPUs (local:99999999999 would start that many processes); local:3 -t2 runs
        (
            "local:99999999999",
            "-t2",
            f"--dask local:99999999999 would start more Dask workers here than -t 2 uses and "
            f"this machine's {counted(os.cpu_count() or 1, 'CPU')}: give --dask local:2",
        ),
    ],
)
def test_a_local_cluster_of_other_than_t_workers_is_refused_alone_with_the_local_n_to_give(
    server: TestServer, local: str, threads: str, message: str
) -> None:
    done = run_loadgen("--dask", local, threads, "-c20", "-d1s", server.url())
    assert done.returncode == 1 and done.stdout == ""
    # before the warning that 20 connections do not divide among 3 threads, and with no 'dask worker' to start
    assert done.stderr_lines == [f"loadgen: {message}"]


# Python's int() reads ``٣`` as 3, ``1_0`` as 10 and `` 1`` as 1: local:1_0 would have started ten workers (refused
# as more than the CPUs), local: 1 one
@pytest.mark.parametrize("local", ["local:0", "local:-2", "local:two", "local:٣", "local:1_0", "local: 1"])
def test_a_local_n_that_is_no_number_of_workers_is_refused_as_such(local: str) -> None:
    """local:0 was "starts 0 Dask workers and -t 1 needs 1: give --dask local:1 (or -t 0)" without this line."""
    with pytest.raises(loadgen.SetupError) as refused:
        loadgen.check_dask(local, 1)
    assert str(refused.value) == f"--dask {local}: local: takes a number of worker processes, as local:2"


NOT_AN_ADDRESS = "not a Dask scheduler's address (tcp://HOST:PORT) nor local:N (its port is not"


@pytest.mark.parametrize(
    ("dask", "said"),
    [
        ("tcp://127.0.0.1:٣", f"{NOT_AN_ADDRESS} written in the digits 0-9: '127.0.0.1:٣')"),
        ("tcp://127.0.0.1:8_786", f"{NOT_AN_ADDRESS} written in the digits 0-9: '127.0.0.1:8_786')"),
        ("tcp://127.0.0.1:99999", f"{NOT_AN_ADDRESS} 1-65535: '127.0.0.1:99999')"),
    ],
)
def test_a_port_not_written_in_digits_or_past_65535_is_refused(dask: str, said: str) -> None:
    """int() read tcp://127.0.0.1:٣ as port 3 and tried it; port 99999 was said to be refused."""
    with pytest.raises(loadgen.SetupError) as refused:
        loadgen.check_dask(dask, 1)
    assert str(refused.value) == f"--dask {dask}: {said}"


def test_a_dask_address_with_a_control_character_is_quoted() -> None:
    """The API takes any text: a NUL in the address was written to stderr raw, inside the one line."""
    with pytest.raises(loadgen.SetupError) as refused:
        loadgen.check_dask("tcp://a\0b:1", 1)
    said = "cannot reach the Dask scheduler at 'tcp://a\\x00b:1': unknown host 'a\\x00b' ("
    assert str(refused.value).startswith(said)


def test_a_scheduler_silent_after_its_greeting_is_one_line(server: TestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheduler held stopped between loadgen's test connection (greeted) and its client's: the client waits
    on it for ever; given ANSWER_S (0.5 s here), it is said as unreachable, nothing run (was, without the
    line: UnboundLocalError, a traceback)."""
    from loadgen._run import cluster as coordinator

    monkeypatch.setattr(coordinator, "ANSWER_S", 0.5)

    def greet_then_hold(conn: socket.socket) -> None:
        conn.sendall(b"\0")  # the first byte of a handshake, and nothing after
        time.sleep(30)

    with serving(greet_then_hold) as port:
        address = f"tcp://127.0.0.1:{port}"
        with pytest.raises(loadgen.SetupError) as refused:
            loadgen.run(server.url(), threads=1, connections=1, duration=1, dask=address)
    assert str(refused.value) == (
        f"cannot reach the Dask scheduler at {address}: it did not answer within 0.5s before the run started "
        "(held stopped, or its machine hung)"
    )
