"""Whether this machine can hold the connections asked for, checked before anything starts.

Each worker process holds its share of the connections as open files, so its share must fit
under the open-file limit (the soft limit is raised to the hard one first, as the workers
inherit it); and every TCP connection to one address needs a local port of its own from the
ephemeral range, of which sockets still open to that address hold some (and those in TIME-WAIT, where
connect() does not take them again: :func:`time_wait_reused`). Found
after the fact, either shows up as thousands of EMFILE or EADDRNOTAVAIL errors and a run with
no requests; found here, it is one line with the numbers and how to raise the limit.

Past half of the range, the ports fit but are slow to take: Linux's connect() looks for a free
port among one half of the range first (its other half is bind()'s), and once that half is held
it searches the whole range on every call. On a 2-core machine a connect() went from 20 µs to
3.5 ms past 14,000 connections to one address (28,232 ports): -c20000 spent 10 s of kernel time
opening its connections, wrk's as much. That is said before the run, in a warning.

So are far more workers than CPUs: each worker is a process (wrk's threads are threads), which
past one a CPU adds no load and takes its time to start and its memory. On 2 CPUs, -t1000 -c1000
-d1s took 13 s and 3.7 GB, and -t5000 -c5000 -d1s 64 s before its first line and 102 s in all,
without a word (its diagnosis said to add -t).
"""

from __future__ import annotations

import ipaddress
import os
import resource
import socket
from dataclasses import dataclass
from pathlib import Path

from ..errors import SetupError, UsageError, check_count
from ..target import Address

__all__ = ["Ports", "check_limits", "check_open_files", "check_ports", "check_workers", "ports_to"]

# Descriptors a worker holds besides its connections: stdio, the event loop's, the control
# socket, the progress board, a pacing timer, files a script opens.
RESERVED_FILES = 32
# Descriptors loadgen's own process opens for a run, beside the one a worker it keeps (its control
# socket) and those open before: the progress board's file and the socket pair being made (under
# ulimit -n 64 with 5 open, -t57 ran and -t58 failed: "unable to create thread 57", exit 2)
RUN_FILES = 2
RAISE_THE_LIMIT = "raise it (ulimit -n, or the hard limit in /etc/security/limits.conf)"  # the open-file limit
PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# -t past this many workers a CPU, and past MANY_WORKERS, is warned of (see the module)
WORKERS_PER_CPU = 8
MANY_WORKERS = 64
TCP_TABLES: dict[int, Path] = {socket.AF_INET: Path("/proc/net/tcp"), socket.AF_INET6: Path("/proc/net/tcp6")}
TW_REUSE = Path("/proc/sys/net/ipv4/tcp_tw_reuse")  # for IPv6 too
TIMESTAMPS = Path("/proc/sys/net/ipv4/tcp_timestamps")
TIME_WAIT = "06"  # the state column of /proc/net/tcp


def open_file_limit() -> int:
    """The open-file limit this process and its workers get: the soft limit raised to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
    return hard


def _proc_address(address: Address) -> str:
    """``address`` as /proc/net/tcp writes a remote address: hex words in host byte order, then the port."""
    packed = socket.inet_pton(address.family, address.host.split("%")[0])
    words = "".join(packed[i : i + 4][::-1].hex().upper() for i in range(0, len(packed), 4))
    return f"{words}:{address.port:04X}"


def time_wait_reused(address: Address) -> bool:
    """connect() to ``address`` takes a port whose socket to it is in TIME-WAIT (a second after it
    entered it): net.ipv4.tcp_tw_reuse 1, or 2 (the default) for a loopback address, with TCP
    timestamps on (the default). Such a port holds nothing: after 49,733 connections in 5 s to
    127.0.0.1 that loadgen closed (a server answering HTTP/1.0 without keep-alive), 14,104 ports in
    TIME-WAIT to it refused -c14500 ("only 14,128 ... are free"), where 14,500 connect() calls to it
    succeeded at once, and warned at -c200 of a slow search that did not happen (20 µs a connect, as
    to a port with none)."""
    try:
        reuse, timestamps = int(TW_REUSE.read_text()), int(TIMESTAMPS.read_text())
    except (OSError, ValueError):
        return False
    if not timestamps:
        return False
    return reuse == 1 or (reuse == 2 and ipaddress.ip_address(address.host.split("%")[0]).is_loopback)


def ports_in_use(address: Address, low: int, high: int) -> int:
    """Local ports in the ephemeral range held by sockets to ``address`` (in TIME-WAIT too, unless
    connect() reuses those: :func:`time_wait_reused`)."""
    table = TCP_TABLES.get(address.family)
    if table is None or not table.exists():
        return 0
    remote = _proc_address(address)
    skipped = TIME_WAIT if time_wait_reused(address) else None
    used = set()
    for line in table.read_text().splitlines()[1:]:
        columns = line.split()
        if len(columns) > 3 and columns[2] == remote and columns[3] != skipped:
            port = int(columns[1].rsplit(":", 1)[1], 16)
            if low <= port <= high:
                used.add(port)
    return len(used)


def check_open_files(per_worker: int, threads_flag: str = "-t") -> None:
    """SetupError when a worker's share of the connections cannot all be open files at once; ``threads_flag``
    names the caller's option that spreads them over more workers (server-matrix's is not ``-t``)."""
    check_count("per_worker", per_worker)
    if not isinstance(threads_flag, str):
        raise UsageError(f"threads_flag must be str, not {threads_flag!r}")
    limit = open_file_limit()
    needed = per_worker + RESERVED_FILES
    if needed > limit:
        raise SetupError(
            f"{per_worker:,} connections per worker need {needed:,} open files, but the limit is {limit:,}: "
            f"{RAISE_THE_LIMIT} or spread the connections over more threads ({threads_flag})"
        )


def _open_now() -> int:
    """Descriptors this process has open (Linux's /proc, else the BSDs' /dev/fd): 3 where neither is."""
    for listing in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(listing)) - 1  # less the listing's own
        except OSError:
            continue
    return 3


def _check_parent_files(workers: int) -> None:
    """SetupError when loadgen's own process cannot hold a descriptor for each worker beside its own
    (each worker's share of the connections is :func:`check_open_files`'s)."""
    limit = open_file_limit()
    held = _open_now() + RUN_FILES
    if workers + held > limit:
        raise SetupError(
            f"-t {workers:,} needs {workers + held:,} open files in loadgen's own process (one a worker, "
            f"and {held} of its own), but the limit is {limit:,}: {RAISE_THE_LIMIT} or give fewer threads (-t)"
        )


@dataclass(frozen=True)
class Ports:
    """A host's ephemeral port range, and the ports in it held (open or in TIME-WAIT) to one address."""

    low: int
    high: int
    held: int


def ports_to(address: Address) -> Ports | None:
    """This host's ports for connections to ``address`` (None: not TCP, or no range to read)."""
    if address.family not in TCP_TABLES or not PORT_RANGE.exists():
        return None
    low, high = (int(part) for part in PORT_RANGE.read_text().split())
    return Ports(low, high, ports_in_use(address, low, high))


def check_ports(total: int, ports: Ports | None, address: Address) -> tuple[str, ...]:
    """SetupError when ``total`` connections to ``address`` from one host cannot each have a port of
    ``ports``; a warning when they take more than half the range (see the module)."""
    if ports is None:
        return ()
    low, high, held = ports.low, ports.high, ports.held
    free = high - low + 1 - held
    if total > free:
        raise SetupError(
            f"{total:,} connections to {address} need as many local ports, but only {free:,} of the "
            f"ephemeral range {low}-{high} are free for it (the others are held, many in TIME-WAIT): "
            f"widen net.ipv4.ip_local_port_range (sysctl), or wait a minute for TIME-WAIT to clear"
        )
    if 2 * (total + held) <= high - low + 1:
        return ()
    beside = f" beside the {held:,} held to it" if held else ""
    return (
        f"loadgen: warning: {total:,} connections to {address}{beside} take {(total + held) / (high - low + 1):.0%} "
        f"of the ephemeral port range {low}-{high}: past half, Linux's connect() searches the range for each "
        "port, and opening them can take seconds; widen net.ipv4.ip_local_port_range (sysctl)",
    )


def check_workers(workers: int) -> tuple[str, ...]:
    """A warning when ``workers`` (-t) are far more than the CPUs this process may use (see the module)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if workers <= max(MANY_WORKERS, WORKERS_PER_CPU * cpus):
        return ()
    on = f"{cpus} CPU{'s' if cpus > 1 else ''}"
    return (
        f"loadgen: warning: -t {workers:,} starts {workers:,} worker processes on {on}: beyond one a CPU they add "
        f"no capacity, and each takes its time to start and its memory (-t {cpus} uses every CPU)",
    )


def check_limits(per_worker: int, workers: int, address: Address) -> tuple[str, ...]:
    """SetupError when the connections cannot all be open at once on this machine; a warning
    when they take more than half the ephemeral range, or the workers far more than the CPUs
    (see the module)."""
    check_open_files(per_worker)
    _check_parent_files(workers)
    return check_ports(per_worker * workers, ports_to(address), address) + check_workers(workers)
