"""Command lines of wrk's command drawn by hypothesis from its flags' declarations (loadgen.Settings
and the command's Output), with odd values: a number's edges, units, exponents, unicode, a byte
that is not UTF-8 as a shell passes it, empty strings, a flag given twice. Each either reaches the
run, its settings whole and checked, or is refused in one line on stderr, exit 1; never a
traceback. In-process, with the run itself replaced: 150 command lines in a second or two."""

from __future__ import annotations

import importlib
import io
import os
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import pytest
import typer
from hypothesis import example, given, settings
from hypothesis import strategies as st

from loadgen import Settings
from loadgen.cli import _run
from loadgen.commands import WRK_COMMAND
from loadgen.commands.run import Output
from loadgen.commands.usage import usage_text
from loadgen.options import declared

# flags that reach outside the process before the run (a file written, a port bound, a cluster, a
# terminal, standard input): the other tests' business
REACHING_OUT = {"--json", "--html", "--dask", "--tui", "--metrics-listen", "--otlp-endpoint", "--targets", "-v"}
FLAGS = [
    (flag.names[0].split("/")[0], flag.switch)
    for cls in (Settings, Output)
    for _, declared_option in declared(cls)
    for flag in declared_option.flags
    if flag.names[0].split("/")[0] not in REACHING_OUT
]
ODD = ["0", "-1", "1", "2", "1k", "2M", "1e309", "1e3", "nan", "inf", "", " ", "1.5", ".5", "1_000", "0x10",
       "\u0661", "\uff11", "10%", "500ms", "1s", "25h", "8761h", "1us", "300ms:10", "0:0", "1s:1,1s:0", "p99<50ms",
       "p99<0ms", "errors<1%", "GET", "10.5", "X: y", "bad", "1.2", "1.3", "example.com",
       os.fsdecode(b"\xff"), "\u00e9", "99999999999999999999999"]  # fmt: skip
# no NUL (a command line cannot hold one), nor a line end: a file name with one is written as given
VALUES = st.one_of(st.sampled_from(ODD), st.text(st.characters(exclude_characters="\x00\n\r"), max_size=6))


class Reached(Exception):
    """The command line was taken: the run would start here."""


def _reached(settings: Settings, **_: Any) -> None:
    settings.check()
    raise Reached


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    args = ["-t1", "-c2", "-d", "1s"]
    for name, switch in draw(st.lists(st.sampled_from(FLAGS), min_size=1, max_size=5)):
        args += [name] if switch else [name, draw(VALUES)]
    return [*args, "http://127.0.0.1:1/"]


@pytest.fixture(scope="module")
def command() -> Any:
    return typer.main.get_command(importlib.import_module(WRK_COMMAND).app)


@settings(max_examples=150, derandomize=True)
@given(args=command_lines())
@example(args=["-b", os.fsdecode(b"\xff"), "http://127.0.0.1:1/"])  # was a UnicodeEncodeError's traceback
def test_a_command_line_runs_or_is_refused_in_one_line(command: Any, args: list[str]) -> None:
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stderr(err), redirect_stdout(io.StringIO()):
        patch.setattr("loadgen.commands.run.run_settings", _reached)
        try:
            code = _run(command, args, "loadgen", None, usage_text)
        except Reached:
            return
    lines = [line for line in err.getvalue().split("\n") if line.strip()]
    assert code == 1 and len(lines) == 1, (args, code, lines)
