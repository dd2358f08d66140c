"""The usage text, in wrk's layout (each line padded to 54 columns), made from the options'
declarations: wrk's options in wrk's order, then loadgen's, then the commands.

The two layouts below fix the order of the lines a user already knows (wrk's usage text is a
contract); every option declared since then follows loadgen's, in declaration order, with no
edit here.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..options import Flag, declared
from ..settings import Settings
from . import COMMANDS
from .run import Output

WRK_LAYOUT: tuple[str, ...] = ("--connections", "--duration", "--threads", "", "--script", "--header", "--latency")
WRK_LAYOUT += ("--timeout", "--version")
LOADGEN_LAYOUT: tuple[str, ...] = ("--method", "--body", "--body-file", "--requests", "--rate", "--json")
LOADGEN_LAYOUT += ("--status-codes", "--phases", "--progress", "--unix-socket", "--fail-on", "--html", "--dask")


def _long(flag: Flag) -> str:
    return flag.names[-1].split("/")[0]


def flags() -> Iterator[Flag]:
    """Every flag of wrk's command, in declaration order: the run's, then the command's own."""
    for cls in (Settings, Output):
        for _, declared_option in declared(cls):
            yield from declared_option.flags


def usage_line(flag: Flag) -> str:
    """``    -c, --connections <N>  Connections to keep open``."""
    short = f"{flag.names[0]}, " if len(flag.names) > 1 else ""
    metavar = f"<{flag.metavar}>" if flag.metavar else ""
    long = _long(flag) + "".join(f"[={value}]" for value in flag.values)
    return f"    {short:4}{long:<13} {metavar}".ljust(26) + " " + flag.help  # a long flag keeps a space


def usage_text() -> str:
    by_name = {_long(flag): flag for flag in flags()}
    later = [flag for name, flag in by_name.items() if name not in WRK_LAYOUT + LOADGEN_LAYOUT]
    commands = [f"    {name:<9} {summary}" for name, (_, summary) in sorted(COMMANDS.items())]
    lines = [
        "Usage: loadgen <options> <url>",
        "  Options:",
        *(usage_line(by_name[name]) if name else "" for name in WRK_LAYOUT),
        "",
        "  loadgen options:",
        *(usage_line(by_name[name]) for name in LOADGEN_LAYOUT),
        *map(usage_line, later),
        "",
        "  Commands: loadgen <command> --help",
        *commands,
        "",
        "  Numeric arguments may include a SI unit (1k, 1M, 1G)",
        "  Time arguments may include a time unit (2s, 2m, 2h)",
    ]
    return "".join(line.ljust(54) + "\n" for line in lines[:-1]) + lines[-1] + "\n"
