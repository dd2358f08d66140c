"""Command lines of wrk's command drawn by hypothesis from its flags' declarations (loadgen.Settings
and the command's Output), with odd values: a number's edges, units, exponents, unicode, a byte
that is not UTF-8 as a shell passes it, empty strings, a flag given twice. Each either reaches the
run, its settings whole and checked, or is refused in one line on stderr, exit 1; never a
traceback. In-process, with the run itself replaced: 150 command lines in a second or two. Then
every option of every command given a value of 5,000 characters (quoted in part), and a command's
refusals named by the command, as its usage errors are."""

from __future__ import annotations

import importlib
import io
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import example, given, settings
from hypothesis import strategies as st

from loadgen import Settings
from loadgen._run.cluster import _local_workers
from loadgen.cli import _run
from loadgen.commands import COMMANDS, WRK_COMMAND
from loadgen.commands.run import Output
from loadgen.commands.usage import usage_text
from loadgen.errors import EXCERPT, SHOWN, SetupError, excerpt, shown
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


def _options(cli: Any) -> list[str]:
    """The command's options that take a value (``cli``: its click command)."""
    return [param.opts[0] for param in cli.params if param.param_type_name == "option" and not param.is_flag]


@pytest.mark.parametrize(
    "value", ["9" * 5000, "p99<" + "9" * 5000 + "ms", "a" * 5000], ids=["digits", "threshold", "letters"]
)
def test_a_long_value_is_quoted_in_part_whatever_the_flag_or_command(value: str) -> None:
    """A value of 5,000 characters, given to each option of each command (or as its URL or file): taken,
    or refused in one line that quotes at most ``SHOWN`` characters of it (``EXCERPT`` of a flag's value, more of
    a file's name or a URL; it was quoted whole: a line of 5,000 characters). --dask, which imports distributed
    (seconds), is checked below."""
    quoted_whole = value[: SHOWN + 1]
    failed = []
    for name, (module, _) in {None: (WRK_COMMAND, ""), **COMMANDS}.items():
        cli = typer.main.get_command(importlib.import_module(module).app)
        given = ["http://127.0.0.1:1/"] if name in (None, "capacity") else ["a.json", "b.json"]
        slo = ["--slo", "p99<1s"] if name == "capacity" else []
        for option in [*_options(cli), None]:
            if option == "--dask":
                continue
            args = [*slo, value, *given[1:]] if option is None else [*slo, option, value, *given]
            err = io.StringIO()
            with pytest.MonkeyPatch.context() as patch, redirect_stderr(err), redirect_stdout(io.StringIO()):
                patch.setattr("loadgen.commands.run.run_settings", _reached)
                patch.setattr("loadgen.commands.capacity.run_settings", _reached)
                try:
                    code = _run(cli, args, f"loadgen {name}" if name else "loadgen", None, None)
                except Reached:
                    continue
            lines = err.getvalue().splitlines()
            if code != 1 or len(lines) != 1 or quoted_whole in lines[0]:
                failed.append((name, option, code, [line[:120] for line in lines]))
    assert failed == []


def test_a_long_local_dask_cluster_is_quoted_in_part() -> None:
    """--dask local:N of 5,000 digits (more than int() reads) was quoted whole; the check of the N that int()
    reads, far too many, is check_dask's (which imports distributed, seconds: tests/test_dask.py's)."""
    with pytest.raises(SetupError) as raised:
        _local_workers(f"local:{'9' * 5000}")
    assert str(raised.value) == (
        f"--dask 'local:{'9' * (SHOWN - 6)}'...: local: takes a number of worker processes, as local:2"
    )


def test_a_commands_refusals_name_it_as_its_usage_errors_do(tmp_path: Path) -> None:
    """A file merge, compare, report or capacity cannot read was said by 'loadgen: cannot read ...' where the
    same command's usage errors say 'loadgen merge: ...': every refusal but wrk's own messages went out after
    'loadgen:', whichever command made it. Named now, as the usage errors are."""
    missing = str(tmp_path / "none.json")
    why = f"{missing}: No such file or directory"
    for name, args, line in (
        ("merge", ["--json", "-", missing, missing], f"cannot read {why}"),
        ("compare", [missing, missing], f"cannot read {why}"),
        ("report", [missing], f"cannot read {why}"),
        ("capacity", ["--slo", "p99<1s", "--body-file", missing, "http://127.0.0.1:1"], f"cannot read body file {why}"),
    ):
        cli = typer.main.get_command(importlib.import_module(COMMANDS[name][0]).app)
        err = io.StringIO()
        with redirect_stderr(err), redirect_stdout(io.StringIO()):
            code = _run(cli, args, f"loadgen {name}", None, None)
        assert (code, err.getvalue()) == (1, f"loadgen {name}: {line}\n")


def test_a_file_name_or_url_is_shown_whole_up_to_what_no_real_one_reaches() -> None:
    """A file's name of 90 characters (a test's under pytest-xdist) was cut at ``EXCERPT`` (80), the file's own
    name lost (``cannot read '/tmp/.../none.j'...``); a value's excerpt stays short."""
    path = "/tmp/" + "d" * 100 + "/results.json"
    assert shown(path) == path and shown("x" * SHOWN) == "x" * SHOWN
    assert shown("x" * (SHOWN + 1)) == repr("x" * SHOWN) + "..."
    assert excerpt(path) == repr(path[:EXCERPT]) + "..."
