"""The flags every command shares with wrk's command line, from their text to Settings: a bad
value is a usage error that names its option."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from .. import units
from ..api import settings_for
from ..errors import SetupError, UsageError
from ..request import parse_header
from ..settings import Settings

__all__ = ["parsed", "request_settings"]

T = TypeVar("T")


def parsed(option: str, text: str, parse: Callable[[str], T]) -> T:
    """A unit-bearing argument, or a usage error that names the option."""
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


def request_settings(url: str, *, threads: str, connections: str, duration: str, timeout: str,
                     headers: Sequence[str], method: str, body: str | None, body_file: str | None,
                     rate: float | None = None, requests: str | None = None, script: str | None = None,
                     script_args: Sequence[str] = (), unix_socket: str | None = None) -> Settings:
    """Settings from the flags' text (``rate`` already a number: each command reads its own)."""
    return settings_for(
        url, threads=parsed("-t", threads, units.parse_count),
        connections=parsed("-c", connections, units.parse_count),
        duration=parsed("-d", duration, units.parse_duration),
        timeout=parsed("--timeout", timeout, units.parse_duration),
        headers=[parse_header(h) for h in headers], method=method, body=_body(body, body_file),
        rate=rate, requests=None if requests is None else parsed("-n", requests, units.parse_count),
        script=script, script_args=script_args, unix_socket=unix_socket,
    )
