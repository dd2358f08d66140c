"""What an event loop costs per request before loadgen adds anything: the floor under ``-c50``.

    python benchmarks/loop_floor.py [--rounds 3] [--duration 5] [--sides ab,uvloop,...]
    python benchmarks/loop_floor.py --strace [--duration 3]

Each side keeps ``--connections`` keep-alive connections to nginx (one worker, core 1) busy with
one request in flight each, pinned to core 0, for ``--duration`` seconds; rounds rotate which
side goes first. Sides:

- ``ab``: ``ab -k`` (C), its user and system CPU from ``wait4``;
- ``uvloop``: an ``asyncio.Protocol`` on uvloop whose ``data_received`` only writes the next
  request (the least a Python client on uvloop can do per response);
- ``buffered``: the same as an ``asyncio.BufferedProtocol`` (``get_buffer``/``buffer_updated``
  into one preallocated ``bytearray``: no ``bytes`` object per read);
- ``epoll``: a loop in Python over ``select.epoll``: ``recv_into`` one buffer, ``send``;
- ``fastpath``: ``uvloop`` plus the statements of loadgen's fast path (the length test,
  ``startswith``, the clock, the tally's four counts);
- ``loadgen``: ``loadgen -t1`` itself, the parent's CPU (start-up, report) apart from the rest.

The Python sides count CPU from ``getrusage`` inside the process over the loaded window (their
connections open before it). ``--strace`` instead counts the system calls per request of ab and
loadgen (``strace -f -c``: it slows both; the counts are what matters).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import select
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from time import perf_counter_ns

from precompile import compile_loadgen
from record import write_record
from turns import in_turn

from loadgen.measurement import Tally
from loadgen.testing.nginx import Nginx

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
SIDES = ("ab", "uvloop", "buffered", "epoll", "fastpath", "loadgen")
# loadgen's parent's own CPU (user, system) on stderr at its exit; its worker's is the rest of the tree's
PARENT_CPU = """\
import atexit, resource, sys
atexit.register(lambda: print("parent CPU", *resource.getrusage(resource.RUSAGE_SELF)[:2], file=sys.stderr))
from loadgen.__main__ import entry
sys.exit(entry())
"""


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _on_uvloop(side: str, port: int, connections: int, duration: float) -> tuple[int, float, float]:
    """Requests, user and system CPU seconds of one uvloop side over its window."""
    import uvloop

    count = [0]

    class Minimal(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.Transport = transport  # type: ignore[assignment]
            self.transport.write(REQUEST)

        def data_received(self, data: bytes) -> None:
            count[0] += 1
            self.transport.write(REQUEST)

    class Buffered(asyncio.BufferedProtocol):
        def __init__(self) -> None:
            self.buffer = bytearray(65536)

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.Transport = transport  # type: ignore[assignment]
            self.transport.write(REQUEST)

        def get_buffer(self, sizehint: int) -> bytearray:
            return self.buffer

        def buffer_updated(self, nbytes: int) -> None:
            count[0] += 1
            self.transport.write(REQUEST)

    tally = Tally(2_000_000)

    class FastPath(Minimal):
        """The fast path's statements (connection.py), on a response learnt from the first read."""

        repeat_len, repeat_head, repeats, sent_ns = -1, b"", 0, 0

        def data_received(self, data: bytes) -> None:
            if self.repeat_len < 0:
                self.repeat_len, self.repeat_head = len(data), data[: data.index(b"\r\n\r\n") + 4]
            if len(data) == self.repeat_len and data.startswith(self.repeat_head):
                self.repeats += 1
                now = perf_counter_ns()
                latency = (now - self.sent_ns) // 1000
                tally.requests += 1
                tally.status_counts[200] += 1
                if latency > tally.timeout_us:
                    tally.timeouts += 1
                    tally.timed_out_us += latency
                else:
                    tally.latency[latency] += 1
                self.sent_ns = now
            else:
                self.repeat_len = -1
            count[0] += 1
            self.transport.write(REQUEST)

    protocol: Callable[[], asyncio.BaseProtocol] = {"uvloop": Minimal, "buffered": Buffered, "fastpath": FastPath}[side]

    async def run() -> tuple[int, float, float]:
        loop = asyncio.get_running_loop()
        for _ in range(connections):
            await loop.create_connection(protocol, "127.0.0.1", port)
        (user, system), before = _cpu(), count[0]
        await asyncio.sleep(duration)
        after_user, after_system = _cpu()
        return count[0] - before, after_user - user, after_system - system

    return uvloop.run(run())


def _on_epoll(port: int, connections: int, duration: float) -> tuple[int, float, float]:
    """Requests, user and system CPU seconds of a Python loop over epoll over its window."""
    poller, receive, send = select.epoll(), {}, {}
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
    for sock in sockets:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        poller.register(sock.fileno(), select.EPOLLIN)
        receive[sock.fileno()], send[sock.fileno()] = sock.recv_into, sock.send
        sock.send(REQUEST)
    buffer, count = bytearray(65536), 0
    (user, system), end = _cpu(), time.perf_counter() + duration
    while time.perf_counter() < end:
        for fd, _ in poller.poll():
            receive[fd](buffer)
            count += 1
            send[fd](REQUEST)
    after_user, after_system = _cpu()
    return count, after_user - user, after_system - system


def child(side: str, port: int, connections: int, duration: float) -> None:
    if side == "epoll":
        requests, user, system = _on_epoll(port, connections, duration)
    else:
        requests, user, system = _on_uvloop(side, port, connections, duration)
    print(requests, user, system, duration)


def run_side(side: str, url: str, port: int, args: argparse.Namespace) -> dict[str, float]:
    """One run of a side: requests/sec, user and system µs per request (loadgen: of its worker,
    and its parent's apart)."""
    pinned = ["taskset", "-c", str(args.client_core)]
    flags = [f"-c{args.connections}", f"-t{int(args.duration)}"]
    if side == "ab":
        before = os.times()
        out = subprocess.run(
            [*pinned, "ab", "-k", "-q", *flags, f"-n{400_000 * int(args.duration)}", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        after = os.times()
        found = re.search(r"^Complete requests:\s+(\d+)", out, re.M)
        assert found, out
        requests = int(found.group(1))
        user, system = after.children_user - before.children_user, after.children_system - before.children_system
        figures = {"parent_user_us": 0.0, "parent_system_us": 0.0}
    elif side == "loadgen":
        before = os.times()
        done = subprocess.run(
            [
                *pinned,
                sys.executable,
                "-c",
                PARENT_CPU,
                "-t1",
                f"-c{args.connections}",
                f"-d{int(args.duration)}s",
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd="/tmp",
        )
        after = os.times()
        counted = re.search(r"(\d+) requests in", done.stdout)
        parent = re.search(r"^parent CPU ([\d.]+) ([\d.]+)", done.stderr, re.M)
        assert counted and parent, done.stdout + done.stderr
        requests = int(counted.group(1))
        parent_user, parent_system = float(parent.group(1)), float(parent.group(2))
        user = after.children_user - before.children_user - parent_user
        system = after.children_system - before.children_system - parent_system
        figures = {"parent_user_us": parent_user / requests * 1e6, "parent_system_us": parent_system / requests * 1e6}
    else:
        command = [sys.executable, __file__, "--child", side, str(port), str(args.connections), str(args.duration)]
        out = subprocess.run([*pinned, *command], capture_output=True, text=True, check=True).stdout
        count, user, system, _ = (float(value) for value in out.split())
        requests = int(count)
        figures = {"parent_user_us": 0.0, "parent_system_us": 0.0}
    return {
        "req/s": requests / args.duration,
        "user_us": user / requests * 1e6,
        "system_us": system / requests * 1e6,
        **figures,
    }


def syscalls(url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """System calls per request of ab and loadgen (those made more than once per 200 requests)."""
    counts: dict[str, dict[str, float]] = {}
    commands = {
        "ab": ["ab", "-k", "-q", f"-c{args.connections}", f"-t{int(args.duration)}", "-n2000000", url],
        "loadgen": [sys.executable, "-m", "loadgen", "-t1", f"-c{args.connections}", f"-d{int(args.duration)}s", url],
    }
    for name, command in commands.items():
        table = Path(f"/tmp/loop_floor-strace-{os.getpid()}-{name}.txt")
        done = subprocess.run(
            ["taskset", "-c", str(args.client_core), "strace", "-f", "-c", "-o", str(table), *command],
            capture_output=True,
            text=True,
            check=True,
            cwd="/tmp",
        )
        found = re.search(r"^Complete requests:\s+(\d+)", done.stdout, re.M) or re.search(
            r"(\d+) requests in", done.stdout
        )
        assert found, done.stdout
        requests = int(found.group(1))
        counts[name] = {"requests": requests}
        for line in table.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 5 and fields[0][0].isdigit() and fields[3].isdigit() and int(fields[3]) * 200 > requests:
                counts[name][fields[-1]] = int(fields[3]) / requests
        table.unlink()
        print(
            f"{name}: {requests} requests; per request: "
            + ", ".join(f"{k} {v:.3f}" for k, v in counts[name].items() if k != "requests")
        )
    return counts


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        side, port, connections, duration = sys.argv[2:6]
        child(side, int(port), int(connections), float(duration))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--sides", default=",".join(SIDES))
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--strace", action="store_true", help="system calls per request of ab and loadgen instead")
    args = parser.parse_args()
    compile_loadgen()
    with Nginx(core=1 - args.client_core) as nginx:
        url = nginx.url("/")
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        if args.strace:
            write_record("loop_floor-strace", {"args": vars(args), "per_request": syscalls(url, args)})
            return
        sides = args.sides.split(",")
        runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
        for round_ in range(args.rounds):
            for side in in_turn(sides, round_):
                runs[side].append(run_side(side, url, port, args))
                print(
                    f"round {round_ + 1} {side:9} " + ", ".join(f"{k} {v:,.2f}" for k, v in runs[side][-1].items()),
                    flush=True,
                )
    for side, figures in runs.items():
        print(
            f"{side:9} "
            + "; ".join(
                f"{name} {statistics.median(values):,.2f} [{min(values):,.2f}, {max(values):,.2f}]"
                for name in figures[0]
                if (values := [run[name] for run in figures])
            )
        )
    write_record("loop_floor", {"args": vars(args), "runs": runs})


if __name__ == "__main__":
    main()
