"""loadgen.RunOptions, what a type checker reads ``run()``'s keywords against, names every keyword ``run()`` takes
and no other (tests/typed_calls.py, checked by the gate's mypy, holds the calls); and each form it admits runs."""

from __future__ import annotations

import dataclasses

import pytest

import loadgen
from loadgen.api import _Call

from .typed_calls import wrapped


def test_run_options_name_every_keyword_of_run() -> None:
    """A field added to Settings (or a control to run) without its entry here would be refused by a user's type
    checker although run() takes it."""
    keywords = {field.name for field in dataclasses.fields(_Call)} - {"url"}
    assert loadgen.RunOptions.__required_keys__ | loadgen.RunOptions.__optional_keys__ == keywords


def test_the_forms_it_admits_run(server) -> None:
    """Text for counts and durations, a dict of headers, a text body: as the type checker lets
    them through, run() takes them."""
    result = wrapped(
        server.url("/"),
        threads="1",
        connections=2,
        requests="20",
        duration="5s",
        headers={"X-Id": 7},
        method="POST",
        body="text",
        timeout="1s",
    )
    assert result.requests == 20 and result.runs[0].headers == (("X-Id", "7"),) and result.runs[0].body == b"text"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: loadgen.check_open_files("x"), "per_worker must be an int, not 'x'"),
        (lambda: loadgen.check_open_files(10, 5), "threads_flag must be str, not 5"),
        (lambda: loadgen.check_dask("local:2", "x"), "threads must be an int, not 'x'"),
        (lambda: loadgen.format_time_us("x"), "n must be a number of microseconds, not 'x'"),
    ],
)
def test_the_public_checks_name_an_argument_of_the_wrong_type(call, message: str) -> None:
    """As run()'s arguments are named: these raised Python's own TypeError from inside (check_open_files('x'): `can
    only concatenate str (not "int") to str`; format_time_us('x'): `'>=' not supported between ... 'str' and 'int'`)."""
    with pytest.raises(loadgen.UsageError) as raised:
        call()
    assert str(raised.value) == message
