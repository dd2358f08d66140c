"""The usage text, in wrk's layout (each line padded to 54 columns), with loadgen's additions
and its commands."""

from __future__ import annotations

from .._version import __version__
from ..commands import COMMANDS

_WRK_OPTIONS = [
    "    -c, --connections <N>  Connections to keep open",
    "    -d, --duration    <T>  Duration of test",
    "    -t, --threads     <N>  Number of threads to use",
    "",
    "    -s, --script      <S>  Load Python script file",
    "    -H, --header      <H>  Add header to request",
    "        --latency          Print latency statistics",
    "        --timeout     <T>  Socket/request timeout",
    "    -v, --version          Print version details",
]

_LOADGEN_OPTIONS = [
    "    -m, --method      <M>  HTTP method (default GET)",
    "    -b, --body        <B>  Request body",
    "        --body-file   <F>  Request body from a file",
    "    -n, --requests    <N>  Stop after N responses",
    "    -R, --rate        <N>  Constant rate, requests/sec",
    "        --json        <F>  JSON results (- = stdout)",
    "        --status-codes     Counts per status code",
    "        --phases           Latency phases, with -L",
    "        --progress         Live progress on stderr",
    "        --unix-socket <P>  Connect to a Unix socket",
    "        --fail-on     <X>  Exit 4 unless X (p99<50ms)",
    "        --html        <F>  HTML report to a file",
]


def usage_text() -> str:
    commands = [f"    {name:<9} {summary}" for name, (_, summary) in sorted(COMMANDS.items())]
    lines = ["Usage: loadgen <options> <url>", "  Options:", *_WRK_OPTIONS, "", "  loadgen options:",
             *_LOADGEN_OPTIONS, "", "  Commands: loadgen <command> --help", *commands, "",
             "  Numeric arguments may include a SI unit (1k, 1M, 1G)",
             "  Time arguments may include a time unit (2s, 2m, 2h)"]
    return "".join(line.ljust(54) + "\n" for line in lines[:-1]) + lines[-1] + "\n"


def version_line(loop_name: str) -> str:
    """Like wrk's ``wrk 4.2.0 [epoll] Copyright (C) 2012 Will Glozer``, naming the event loop."""
    return f"loadgen {__version__} [{loop_name}] Copyright (C) 2026 the loadgen developers"
