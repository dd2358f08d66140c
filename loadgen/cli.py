"""The ``loadgen`` command: wrk's command line and report, plus loadgen's additions.

A thin layer over the API: parse the flags (with wrk's defaults, units and messages), run, then
print. Usage errors print one line on stderr and the usage text on stdout, and exit 1, as wrk.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional, TypeVar

import typer

from . import units
from .api import settings_for
from .diagnosis import EXIT_USAGE, diagnose
from .engine import execute
from .errors import LoadgenError, SetupError, UsageError
from .progress import ProgressLine
from .request import parse_header
from .result import Result
from .script import run_done
from .settings import prepare
from .usage import usage_text, version_line
from .wrkformat import header_lines

T = TypeVar("T")

app = typer.Typer(add_completion=False, context_settings={"help_option_names": []})


def _parsed(option: str, text: str | None, parse: Callable[[str], T]) -> T | None:
    """A unit-bearing argument, or a usage error that names the option."""
    if text is None:
        return None
    try:
        return parse(text)
    except units.UnitError as exc:
        raise UsageError(f"invalid {option}: {exc}") from None


def _body(body: str | None, body_file: str | None) -> bytes | None:
    if body is not None and body_file is not None:
        raise UsageError("use either --body or --body-file, not both")
    if body_file is None:
        return body.encode() if body is not None else None
    try:
        return Path(body_file).read_bytes()
    except OSError as exc:
        raise SetupError(f"cannot read body file {body_file}: {exc.strerror or exc}") from None


def _check_writable(path: str) -> None:
    """Fail before the run, not after it, when the JSON cannot be written: try to open it."""
    target = Path(path)
    existed = target.exists()
    try:
        with open(target, "a"):
            pass
    except OSError as exc:
        raise SetupError(f"cannot write JSON to {path}: {exc.strerror or exc}") from None
    if not existed:
        target.unlink()


def _status_lines(result: Result) -> str:
    lines = ["  Status codes:"] + [f"    {status}: {count}" for status, count in sorted(result.status_counts.items())]
    return "\n".join(lines) + "\n"


@app.command()
def command(
    url: Annotated[Optional[str], typer.Argument()] = None,
    script_args: Annotated[Optional[list[str]], typer.Argument()] = None,
    connections: Annotated[str, typer.Option("-c", "--connections")] = "10",
    duration: Annotated[str, typer.Option("-d", "--duration")] = "10s",
    threads: Annotated[str, typer.Option("-t", "--threads")] = "2",
    script: Annotated[Optional[str], typer.Option("-s", "--script")] = None,
    header: Annotated[Optional[list[str]], typer.Option("-H", "--header")] = None,
    latency: Annotated[bool, typer.Option("-L", "--latency")] = False,
    timeout: Annotated[str, typer.Option("-T", "--timeout")] = "2s",
    version: Annotated[bool, typer.Option("-v", "--version")] = False,
    help_: Annotated[bool, typer.Option("-h", "--help")] = False,
    method: Annotated[str, typer.Option("-m", "--method")] = "GET",
    body: Annotated[Optional[str], typer.Option("-b", "--body")] = None,
    body_file: Annotated[Optional[str], typer.Option("--body-file")] = None,
    requests: Annotated[Optional[str], typer.Option("-n", "--requests")] = None,
    rate: Annotated[Optional[str], typer.Option("-R", "--rate")] = None,
    json_path: Annotated[Optional[str], typer.Option("--json")] = None,
    status_codes: Annotated[bool, typer.Option("--status-codes")] = False,
    progress: Annotated[Optional[bool], typer.Option("--progress/--no-progress")] = None,
    unix_socket: Annotated[Optional[str], typer.Option("--unix-socket")] = None,
) -> None:
    if version:
        from .worker import new_event_loop
        loop, loop_name = new_event_loop()
        loop.close()
        print(version_line(loop_name))
    if help_ or url is None:
        raise UsageError("")
    settings = settings_for(
        url, threads=_parsed("-t", threads, units.parse_count),
        connections=_parsed("-c", connections, units.parse_count),
        duration=_parsed("-d", duration, units.parse_duration),
        timeout=_parsed("--timeout", timeout, units.parse_duration), headers=[parse_header(h) for h in header or []],
        method=method, body=_body(body, body_file), rate=_parsed("-R", rate, units.parse_count),
        requests=_parsed("-n", requests, units.parse_count), script=script, script_args=script_args or (), unix_socket=unix_socket,
    )
    if json_path is not None and json_path != "-":
        _check_writable(json_path)
    out = sys.stderr if json_path == "-" else sys.stdout
    show_progress = progress if progress is not None else sys.stderr.isatty() and json_path != "-"
    progress_line = ProgressLine(sys.stderr) if show_progress else None
    plan = prepare(settings, progress_interval_s=0.5 if progress_line else None)
    if settings.connections % settings.threads:
        print(f"loadgen: warning: {settings.connections} connections do not divide among {settings.threads} "
              f"threads; {settings.connections_per_worker * settings.threads} will be opened (as wrk)", file=sys.stderr)

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())

    def on_start() -> None:
        out.write("\n".join(header_lines(url, settings.duration or 0, settings.threads, settings.connections)) + "\n")
        out.flush()

    try:
        result = execute(plan, stop=stop, on_start=on_start, on_progress=progress_line.update if progress_line else None)
    finally:
        signal.signal(signal.SIGINT, previous)
        if progress_line:
            progress_line.clear()
    if result.script_error:
        raise SetupError(result.script_error)
    out.write(result.wrk_report(latency=latency, header=False))
    if plan.script_module is not None:
        out.flush()
        run_done(plan, result)
    if status_codes:
        out.write(_status_lines(result))
    out.flush()
    if json_path is not None:
        _write_json(result, json_path)
    diagnosis = diagnose(result)
    for line in diagnosis.lines:
        print(line, file=sys.stderr)
    raise typer.Exit(diagnosis.exit_code)


def _write_json(result: Result, path: str) -> None:
    text = result.to_json()
    if path == "-":
        sys.stdout.write(text + "\n")
        return
    try:
        Path(path).write_text(text + "\n")
    except OSError as exc:
        raise SetupError(f"cannot write JSON to {path}: {exc.strerror or exc}") from None


def _is_click_usage_error(exc: BaseException) -> bool:
    """typer may bundle its own copy of click, so match the class by name, not identity."""
    return any(cls.__name__ == "UsageError" for cls in type(exc).__mro__)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command and turn every expected failure into one line and a code."""
    args = sys.argv[1:] if argv is None else argv
    cli = typer.main.get_command(app)
    try:
        code = cli.main(args=args, prog_name="loadgen", standalone_mode=False)
    except UsageError as exc:
        if str(exc):
            print(str(exc) if exc.wrk_message else f"loadgen: {exc}", file=sys.stderr)
        sys.stdout.write(usage_text())
        return EXIT_USAGE
    except LoadgenError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("loadgen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:
        if not _is_click_usage_error(exc):
            raise
        print(f"loadgen: {exc.format_message()}", file=sys.stderr)
        sys.stdout.write(usage_text())
        return EXIT_USAGE
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
